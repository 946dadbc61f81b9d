"""Mechanistic probing: guise probes and directions, the persona direction, interventions."""

from guiselab.probe._activations import (
    collect_activations,
    decoder_blocks,
    n_layers,
    residual_hooks,
)
from guiselab.probe._stage import PROBE_FILE, probe_stage

__all__ = [
    "PROBE_FILE",
    "collect_activations",
    "decoder_blocks",
    "n_layers",
    "probe_stage",
    "residual_hooks",
]
