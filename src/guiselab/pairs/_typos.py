"""The ``typos`` control guise: standard text with keyboard spelling noise.

A control for the trigger, not a dialect: the vernacular guise changes grammar and words, and
so does any informal text; a model that reacts to typos as much as to the dialect has learned
"non-standard input", not the dialect. Each word of four or more letters is changed with
probability ``RATE`` (at least one word per text), by one of four edits a typist makes:
a neighbouring key on the language's keyboard, a dropped letter, a doubled letter, or two
adjacent letters swapped. The edits are drawn from a generator seeded by the text itself, so
the same text always gets the same typos, and every edit kind can be switched off
(``without=``) like a dialect feature.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

import numpy as np

from guiselab.pairs._guise import GuiseResult, GuiseTransformer

__all__ = ["RATE", "TYPO_FEATURES", "TypoTransformer"]

RATE = 0.25
"""Share of eligible words (four or more letters) that get one edit."""

TYPO_FEATURES: dict[str, str] = {
    "typo_neighbour": "a letter replaced by a neighbouring key ('monry' for 'money')",
    "typo_drop": "a letter dropped ('mony')",
    "typo_double": "a letter doubled ('monney')",
    "typo_swap": "two adjacent letters swapped ('mnoey')",
}

_ROWS = {
    "en": ("qwertyuiop", "asdfghjkl", "zxcvbnm"),
    "ru": ("йцукенгшщзхъ", "фывапролджэ", "ячсмитьбю"),
}
_WORD = re.compile(r"[^\W\d_]{4,}")


def _neighbours(rows: tuple[str, ...]) -> dict[str, str]:
    """Each key's horizontal and vertical neighbours on a staggered keyboard."""
    out: dict[str, str] = {}
    for r, row in enumerate(rows):
        for c, key in enumerate(row):
            near = [row[i] for i in (c - 1, c + 1) if 0 <= i < len(row)]
            for other in (r - 1, r + 1):
                if 0 <= other < len(rows):
                    near += [rows[other][i] for i in (c - 1, c, c + 1) if 0 <= i < len(rows[other])]
            out[key] = "".join(near)
    return out


def _case(old: str, new: str) -> str:
    return new.upper() if old.isupper() else new


class TypoTransformer(GuiseTransformer):
    """Spelling noise in one language, with the interface of a dialect transformer."""

    def __init__(self, variety: str, lang: str) -> None:
        super().__init__(variety, lang, {name: () for name in TYPO_FEATURES})
        self._near = _neighbours(_ROWS[lang])

    def _edit(self, word: str, kind: str, rng: np.random.Generator) -> str:
        # Edits leave the first letter alone: a typist rarely misses it, and readers rely on it.
        i = int(rng.integers(1, len(word) - 1))
        if kind == "typo_neighbour":
            near = self._near.get(word[i].lower(), "")
            if not near:
                return word
            return word[:i] + _case(word[i], near[int(rng.integers(len(near)))]) + word[i + 1 :]
        if kind == "typo_drop":
            return word[:i] + word[i + 1 :]
        if kind == "typo_double":
            return word[: i + 1] + word[i] + word[i + 1 :]
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]  # typo_swap

    def __call__(
        self, text: str, *, only: Iterable[str] | None = None, without: Iterable[str] = ()
    ) -> GuiseResult:
        """``text`` with typos; ``only`` / ``without`` choose the edit kinds."""
        kinds = self.active(only, without)
        words = list(_WORD.finditer(text))
        if not kinds or not words:
            return GuiseResult(text, ())
        seed = int.from_bytes(hashlib.sha256(f"{self.variety}\0{text}".encode()).digest()[:8])
        rng = np.random.default_rng(seed)
        hit = rng.random(len(words)) < RATE
        if not hit.any():
            hit[int(rng.integers(len(words)))] = True
        fired: list[str] = []
        pieces, last = [], 0
        for match, edit in zip(words, hit, strict=True):
            word = match.group(0)
            if edit:
                kind = kinds[int(rng.integers(len(kinds)))]
                new = self._edit(word, kind, rng)
                if new != word:
                    fired.append(kind)
                    word = new
            pieces += [text[last : match.start()], word]
            last = match.end()
        pieces.append(text[last:])
        return GuiseResult("".join(pieces), tuple(k for k in self.features if k in fired))
