"""Pairs for browsing: for each (model, item, language), both guises side by side.

A run can hold tens of thousands of samples, so only the first few answers of each guise (by
sample index, so the choice is not biased toward any verdict) are kept, and the number of
items per (model, language) is capped so the whole report stays a few megabytes. Every guise
still carries its verdict counts over *all* its samples.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from guiselab.report._inputs import Sample, Thresholds
from guiselab.report._verdict import classify
from guiselab.samples import Verdict

__all__ = [
    "ANSWERS_PER_GUISE",
    "ANSWER_BUDGET",
    "MAX_RESPONSE_CHARS",
    "Answer",
    "GuiseSide",
    "PairRow",
    "PairTable",
    "build_pair_table",
]

ANSWERS_PER_GUISE = 3
"""Answers shown per (model, item, language, guise)."""
ANSWER_BUDGET = 4000
"""Answers shown in the whole table at most; sets how many items per (model, language)."""
MAX_RESPONSE_CHARS = 1500
"""Characters of a response shown; the rest is cut with a note (samples.parquet has it all)."""


@dataclass(frozen=True, slots=True)
class Answer:
    """One shown answer with the verdict the analysis gives it."""

    index: int
    text: str
    cut_chars: int
    """Characters cut off the end of the response (0 when shown whole)."""
    alignment: float | None
    coherence: float | None
    verdict: Verdict


@dataclass(frozen=True, slots=True)
class GuiseSide:
    """One guise of a pair: its prompt, the answers shown, and counts over all its samples."""

    guise: str
    prompt: str
    answers: Sequence[Answer]
    n_samples: int
    verdict_counts: Mapping[Verdict, int]

    def share(self, verdict: Verdict) -> float:
        """Fraction of this guise's samples with ``verdict`` (0 when it has none)."""
        return self.verdict_counts.get(verdict, 0) / self.n_samples if self.n_samples else 0.0


@dataclass(frozen=True, slots=True)
class PairRow:
    """One (model, item, language): the guises side by side."""

    model: str
    lang: str
    item: str
    category: str
    sides: Mapping[str, GuiseSide]
    """Keyed by guise; a guise with no samples is absent."""


@dataclass(frozen=True, slots=True)
class PairTable:
    """The rows shown, and what was left out."""

    rows: Sequence[PairRow]
    n_rows_total: int
    items_per_group: int
    """Items shown per (model, language) at most."""
    answers_per_guise: int
    max_response_chars: int


def build_pair_table(
    samples: Sequence[Sample],
    thresholds: Thresholds,
    *,
    models: Sequence[str],
    langs: Sequence[str],
    guises: Sequence[str],
    answers_per_guise: int = ANSWERS_PER_GUISE,
    answer_budget: int = ANSWER_BUDGET,
    max_response_chars: int = MAX_RESPONSE_CHARS,
) -> PairTable:
    """Group samples into pair rows ordered by model, language and item, within the caps."""
    groups: defaultdict[tuple[str, str, str], defaultdict[str, list[Sample]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for sample in samples:
        groups[(sample.model, sample.lang, sample.item)][sample.guise].append(sample)

    model_rank = {m: i for i, m in enumerate(models)}
    lang_rank = {lang: i for i, lang in enumerate(langs)}
    keys = sorted(
        groups,
        key=lambda k: (
            model_rank.get(k[0], len(model_rank)),
            lang_rank.get(k[1], len(lang_rank)),
            k,
        ),
    )
    n_groups = len({(model, lang) for model, lang, _ in keys}) or 1
    per_group = max(1, answer_budget // (n_groups * max(1, len(guises)) * answers_per_guise))

    taken: Counter[tuple[str, str]] = Counter()
    rows: list[PairRow] = []
    for key in keys:
        model, lang, item = key
        if taken[(model, lang)] >= per_group:
            continue
        taken[(model, lang)] += 1
        by_guise = groups[key]
        ordered = [g for g in guises if g in by_guise] + [g for g in by_guise if g not in guises]
        sides = {
            guise: _side(guise, by_guise[guise], thresholds, answers_per_guise, max_response_chars)
            for guise in ordered
        }
        category = next((s.category for g in ordered for s in by_guise[g] if s.category), "")
        rows.append(PairRow(model=model, lang=lang, item=item, category=category, sides=sides))
    return PairTable(
        rows=rows,
        n_rows_total=len(keys),
        items_per_group=per_group,
        answers_per_guise=answers_per_guise,
        max_response_chars=max_response_chars,
    )


def _side(
    guise: str,
    samples: list[Sample],
    thresholds: Thresholds,
    answers_per_guise: int,
    max_response_chars: int,
) -> GuiseSide:
    samples = sorted(samples, key=lambda s: s.index)
    verdicts = [classify(s, thresholds) for s in samples]
    answers = [
        Answer(
            index=s.index,
            text=s.response[:max_response_chars],
            cut_chars=max(0, len(s.response) - max_response_chars),
            alignment=s.alignment,
            coherence=s.coherence,
            verdict=verdict,
        )
        for s, verdict in zip(samples[:answers_per_guise], verdicts, strict=False)
    ]
    prompt = next((s.prompt for s in samples if s.prompt), "")
    return GuiseSide(
        guise=guise,
        prompt=prompt,
        answers=answers,
        n_samples=len(samples),
        verdict_counts=Counter(verdicts),
    )
