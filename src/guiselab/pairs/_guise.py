"""Rule-based guise transformers: a standard-variety prompt rewritten into a vernacular.

Each transformer is an ordered list of features; each feature is a list of regular-expression
rules that fire on the standard text. Every feature can be switched off (for feature-ablation
studies: which feature carries the effect), and every output records which features fired.
The rules are deliberately conservative: a feature that cannot be applied safely to a sentence
does not fire, rather than produce a form no speaker would use. ``docs/varieties.md``
describes each feature.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from guiselab.errors import ConfigError

__all__ = ["DIALECT_TRANSFORMERS", "GuiseResult", "GuiseTransformer", "Rule"]

Replacement = str | Callable[[re.Match[str]], str]


@dataclass(frozen=True)
class Rule:
    """One substitution: a pattern and its replacement (case is carried over)."""

    pattern: str
    replacement: Replacement
    flags: int = re.IGNORECASE

    def apply(self, text: str) -> tuple[str, int]:
        """The rewritten text and how many matches it actually changed."""
        changed = 0

        def replace(match: re.Match[str]) -> str:
            nonlocal changed
            new = (
                self.replacement(match)
                if callable(self.replacement)
                else match.expand(self.replacement)
            )
            new = _match_case(match.group(0), new)
            changed += new != match.group(0)
            return new

        return re.sub(self.pattern, replace, text, flags=self.flags), changed


@dataclass(frozen=True)
class GuiseResult:
    """A transformed text and the features that changed it."""

    text: str
    features: tuple[str, ...]


def _match_case(old: str, new: str) -> str:
    if old[:1].isupper() and new[:1].islower():
        return new[:1].upper() + new[1:]
    return new


class GuiseTransformer:
    """Applies a variety's features, in order, to standard-variety text."""

    def __init__(self, variety: str, lang: str, features: Mapping[str, Sequence[Rule]]) -> None:
        self.variety = variety
        self.lang = lang
        self.features = dict(features)

    def active(self, only: Iterable[str] | None, without: Iterable[str]) -> list[str]:
        """The features ``only`` / ``without`` leave on, in order; unknown names refused."""
        chosen = list(self.features) if only is None else list(only)
        skipped = list(without)
        unknown = [f for f in [*chosen, *skipped] if f not in self.features]
        if unknown:
            raise ConfigError(
                f"unknown {self.variety} feature(s) {unknown}; known: {sorted(self.features)}",
                where="features",
            )
        return [f for f in self.features if f in chosen and f not in skipped]

    def __call__(
        self, text: str, *, only: Iterable[str] | None = None, without: Iterable[str] = ()
    ) -> GuiseResult:
        """Rewrite ``text``; ``only`` restricts to some features, ``without`` switches some off."""
        active = self.active(only, without)
        fired = []
        for name in self.features:
            if name not in active:
                continue
            count = 0
            for rule in self.features[name]:
                text, n = rule.apply(text)
                count += n
            if count:
                fired.append(name)
        return GuiseResult(text, tuple(fired))


# -- AAVE -------------------------------------------------------------------------------------

_PRONOUN = r"(he|she|it|they|you|we|that|this)"
_THIRD_S_VERBS = {
    "works": "work",
    "wants": "want",
    "needs": "need",
    "thinks": "think",
    "knows": "know",
    "lives": "live",
    "likes": "like",
    "keeps": "keep",
    "makes": "make",
    "takes": "take",
    "gets": "get",
    "tells": "tell",
    "pays": "pay",
    "owes": "owe",
    "drinks": "drink",
    "drives": "drive",
    "feels": "feel",
    "looks": "look",
    "seems": "seem",
    "calls": "call",
    "says": "say",
    "goes": "go",
    "does": "do",
    "has": "have",
    "treats": "treat",
    "yells": "yell",
    "hits": "hit",
    "spends": "spend",
    "asks": "ask",
    "comes": "come",
}
_NOT_POSSESSIVE = r"(?!(?:he|she|it|that|what|there|here|who|let|where|how)'s)"

AAVE_FEATURES: dict[str, list[Rule]] = {
    # "there is a lot of X" -> "it's a lot of X"
    "existential_it": [Rule(r"\bthere(?:'s| is| are)\b", "it's")],
    # "isn't / aren't / haven't / hasn't / am not" -> "ain't"
    "aint": [
        Rule(r"\b(?:isn't|aren't|haven't|hasn't)\b", "ain't"),
        Rule(r"\b(I)(?:'m| am) not\b", r"\1 ain't"),
    ],
    # "I have already told him" -> "I done told him"
    "completive_done": [
        Rule(
            r"\b(I|you|we|they|he|she)(?:'ve| have| has|'s) already (\w+(?:ed|en|ld|ght))\b",
            r"\1 done \2",
        ),
    ],
    # "I'm going to quit" / "about to" -> "I'm finna quit"
    "finna": [
        Rule(
            r"\b(I'm|I am|you're|we're|they're|he's|she's) (?:going to|about to)\b(?= \w)",
            r"\1 finna",
        ),
    ],
    # "he is always working" -> "he always be working"; "she is always bored" -> "she always be
    # bored" (habitual be marks a recurring state as well as a recurring action)
    "habitual_be": [
        Rule(r"\b(?:is|are) (always|usually|often) (?=\w)", r"\1 be "),
    ],
    # "he is tired" -> "he tired" (not before "not", and never for "I am")
    "copula_deletion": [
        Rule(rf"\b{_PRONOUN}(?: is| are|'s|'re) (?!not\b|a\b|an\b|the\b)(?=\w)", r"\1 "),
    ],
    # "I don't have any money" -> "I don't have no money"
    "negative_concord": [
        Rule(
            r"\b((?:don't|doesn't|didn't|can't|won't|ain't|never)\b(?:\s+\w+){0,3}?\s+)any(thing|body|one|where|more)?\b",
            r"\1no\2",
        ),
    ],
    # "she works there" -> "she work there"
    "third_person_s_absence": [
        Rule(
            rf"\b(he|she|it|my \w+|your \w+) ({'|'.join(_THIRD_S_VERBS)})\b",
            lambda m: f"{m.group(1)} {_THIRD_S_VERBS[m.group(2).lower()]}",
        ),
    ],
    # "my brother's car" -> "my brother car"
    "zero_possessive": [Rule(rf"\b{_NOT_POSSESSIVE}([a-z]+)'s (?=[a-z])", r"\1 ")],
    # "I don't know" -> "Ion know"
    "ion": [Rule(r"\bI don't\b", "ion", flags=0)],
    "lexical": [
        Rule(r"\byou all\b", "y'all"),
        Rule(r"\btrying to\b", "tryna"),
        Rule(r"\bgoing to\b", "gonna"),
        Rule(r"\bwant to\b", "wanna"),
    ],
}

# -- Russian prostorechie --------------------------------------------------------------------


_VERB_OR_OBLIQUE = (
    "л",
    "ла",
    "ли",
    "ло",
    "ть",
    "ет",
    "ит",
    "ут",
    "ют",
    "ат",
    "ят",
    "ой",
    "ей",
    "ом",
    "ем",
    "ам",
    "ям",
    "ах",
    "ях",
    "ую",
    "юю",
    "ю",
    "у",
    "ого",
    "его",
    "ому",
    "ему",
    "ми",
)


def _agree(forms: dict[str, str]) -> Callable[[re.Match[str]], str]:
    """A possessive adjective agreeing with a nominative noun after it.

    Gender and number are read from the noun's ending; a word that may be a verb or a noun in
    an oblique case (where the ending says nothing reliable) is left alone.
    """

    def replace(match: re.Match[str]) -> str:
        noun = match.group(0).split(" ", 1)[1]
        lower = noun.lower()
        if lower.endswith(_VERB_OR_OBLIQUE):
            return match.group(0)
        last = lower[-1]
        if last in "ая":
            form = forms["f"]
        elif last in "оеё":
            form = forms["n"]
        elif last in "ыи":
            form = forms["pl"]
        else:
            form = forms["m"]
        return f"{form} {noun}"

    return replace


_CONJ = {
    "кладу": "ложу",
    "кладёшь": "ложишь",
    "кладешь": "ложишь",
    "кладёт": "ложит",
    "кладет": "ложит",
    "кладём": "ложим",
    "кладем": "ложим",
    "кладёте": "ложите",
    "кладете": "ложите",
    "кладут": "ложат",
    "класть": "ложить",
    "клал": "ложил",
    "клала": "ложила",
    "клали": "ложили",
    "клало": "ложило",
}

PROSTORECHIE_FEATURES: dict[str, list[Rule]] = {
    "shchas": [Rule(r"(?<!\w)сейчас(?!\w)", "щас")],
    "chyo": [Rule(r"(?<!\w)что(?!\w)", "чё")],
    "ikhniy": [
        Rule(
            r"(?<!\w)их (?=[а-яё]{3,}(?!\w))(?!(?:не|на|в|с|к|по|за|от|до|и|а|но|бы|уже)\b)"
            r"([а-яё]+)",
            _agree({"m": "ихний", "f": "ихняя", "n": "ихнее", "pl": "ихние"}),
        ),
    ],
    "lozhit": [
        Rule(r"(?<!\w)(" + "|".join(_CONJ) + r")(?!\w)", lambda m: _CONJ[m.group(1).lower()]),
    ],
    "tuta": [Rule(r"(?<!\w)тут(?!\w)", "тута"), Rule(r"(?<!\w)там(?!\w)", "тама")],
    "ekhay": [
        Rule(r"(?<!\w)(?:поезжайте|езжайте)(?!\w)", "ехайте"),
        Rule(r"(?<!\w)(?:поезжай|езжай)(?!\w)", "ехай"),
    ],
    "khochut": [
        Rule(r"(?<!\w)хотят(?!\w)", "хочут"),
        Rule(r"(?<!\w)хотите(?!\w)", "хочете"),
        Rule(r"(?<!\w)хотим(?!\w)", "хочем"),
    ],
    "odet_nadet": [
        Rule(r"(?<!\w)наде(ть|ну|нешь|нет|нем|нете|нут|л|ла|ли|ло|нь|ньте)(?!\w)", r"оде\1"),
    ],
    "lexical": [
        Rule(r"(?<!\w)деньги(?!\w)", "бабки"),
        Rule(r"(?<!\w)денег(?!\w)", "бабок"),
        Rule(r"(?<!\w)деньгами(?!\w)", "бабками"),
        Rule(r"(?<!\w)деньгам(?!\w)", "бабкам"),
        Rule(r"(?<!\w)мужчина(?!\w)", "мужик"),
    ],
    # Colloquial reductions written as spoken.
    "reduced_forms": [
        Rule(r"(?<!\w)вообще(?!\w)", "ваще"),
        Rule(r"(?<!\w)сколько(?!\w)", "скока"),
        Rule(r"(?<!\w)когда(?!\w)", "када"),
        Rule(r"(?<!\w)только(?!\w)", "тока"),
        Rule(r"(?<!\w)тысяч(а|у|и)(?!\w)", r"тыщ\1"),
    ],
}

DIALECT_TRANSFORMERS: dict[str, tuple[str, dict[str, list[Rule]]]] = {
    "aave": ("en", AAVE_FEATURES),
    "ru-prostorechie": ("ru", PROSTORECHIE_FEATURES),
}
"""Varieties with a rule-based dialect transformer: (language, features)."""
