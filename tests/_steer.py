"""Answers for the steering tests: alternating aligned and misaligned, guises in pairs."""

from __future__ import annotations

import numpy as np

from guiselab.probe._steering import SteerAnswers


def steer_answers_of(items: list[str], halves: dict[str, int]) -> SteerAnswers:
    """English answers to ``items`` in their ``halves``: every second one misaligned, the
    guises alternating in pairs, so each guise has both kinds."""
    n = len(items)
    return SteerAnswers(
        items=items,
        langs=np.array(["en"] * n),
        guises=np.array(["standard" if (i // 2) % 2 else "vernacular" for i in range(n)]),
        misaligned=np.array([i % 2 == 1 for i in range(n)]),
        half=np.array([halves[i] for i in items]),
        prompts=[""] * n,
        responses=[""] * n,
    )
