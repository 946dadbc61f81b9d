"""Mechanistic probing: guise probes and directions, the persona direction, interventions.

The stage (:func:`probe_stage`) runs its steps in order on one :class:`ProbeContext`:
activations (``_activations``), guise directions (``_directions``), probes (``_probes``), the
persona direction (``_persona``), the LoRA cosines and the interventions (``_interventions``);
each step returns a typed result, and :class:`ProbeResult` writes them as ``probe.json``.
"""

from guiselab.probe._activations import (
    collect_activations,
    decoder_blocks,
    n_layers,
    residual_hooks,
)
from guiselab.probe._context import ProbeContext
from guiselab.probe._interventions import intervention_edits
from guiselab.probe._stage import PROBE_FILE, ProbeResult, probe_stage

__all__ = [
    "PROBE_FILE",
    "ProbeContext",
    "ProbeResult",
    "collect_activations",
    "decoder_blocks",
    "intervention_edits",
    "n_layers",
    "probe_stage",
    "residual_hooks",
]
