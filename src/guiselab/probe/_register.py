"""The dialect direction against non-standard register: is it dialect, or any informality?

The run's control guises (``pairs.controls``: ``informal``, a casual standard register, and
``typos``, the standard text with spelling noise; see ``triggers.py``) give, per language, a
direction of their own: the mean over items of the control prompt's activation minus the
standard prompt's. Per layer and language, for each control guise:

- ``cos``: the cosine of the dialect guise direction with the control guise's direction
  (both from all items);
- ``dialect_beyond``: the cross-fitted dialect separation (``_crossfit``) with the control
  guise's direction, fitted on the same other half of the items, projected out of the dialect
  direction first: what remains of the dialect's separation once the direction generic
  informality (or spelling noise) shares with it is gone, in the same units (d_z) as
  ``guise_separation`` and with the same simultaneous intervals.

A dialect separation that survives the projection says the model represents the dialect
beyond "non-standard input"; one that vanishes says the dialect direction is the register
direction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from guiselab.analysis import rng_for
from guiselab.config import AnalysisConfig
from guiselab.probe._bands import Band
from guiselab.probe._crossfit import separation_band
from guiselab.probe._directions import GuisePairs
from guiselab.probe._measure import cosine, finite, guise_direction

__all__ = ["register_table"]


def register_table(
    layers: Sequence[int],
    analysis: AnalysisConfig,
    dialect: Mapping[str, GuisePairs],
    controls: Mapping[str, Mapping[str, GuisePairs]],
    halves: Mapping[str, int],
) -> dict[str, Any]:
    """Per control guise (``controls[guise][lang]``: standard and control-guise activations
    of the items that have one), language and layer: the cosine of the dialect direction with
    the control guise's, and the dialect's cross-fitted separation with it projected out."""
    out: dict[str, Any] = {}
    for guise, by_lang in controls.items():
        cos: dict[str, list[float | None]] = {}
        beyond: dict[str, Band] = {}
        items: dict[str, int] = {}
        for lang, control in by_lang.items():
            if lang not in dialect or len(control.items) < 2:
                continue
            items[lang] = len(control.items)
            cos[lang] = [
                finite(
                    cosine(
                        guise_direction(dialect[lang].differences(layer)),
                        guise_direction(control.differences(layer)),
                    )
                )
                for layer in layers
            ]
            beyond[lang] = separation_band(
                dialect[lang],
                dialect[lang],
                layers,
                halves,
                rng_for(analysis.seed, "probe-register", guise, lang),
                analysis.ci_level,
                remove=control,
            )
        if cos:
            out[guise] = {"items": items, "cos": cos, "dialect_beyond": beyond}
    return out
