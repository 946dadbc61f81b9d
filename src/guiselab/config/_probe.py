"""The ``[probe]`` section: what the probe stage measures and edits."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from guiselab.config._section import ModelRole, Section

__all__ = ["ProbeConfig"]


class ProbeConfig(Section):
    """The probe stage: guise probes and directions, the persona direction, interventions."""

    enabled: bool = True
    """Run it as part of ``guiselab run`` (``guiselab probe`` runs it regardless)."""
    model: ModelRole = "organism"
    """Which model's internals to measure."""
    position: Literal["mean", "last"] = "mean"
    """Prompt activations averaged over the prompt's tokens, or at its last token."""
    layers: list[int] | None = None
    """Residual layers to measure (0 = embeddings, l = output of block l); None: all."""
    n_null: int = Field(default=20, ge=2)
    """Label-shuffled probes and sign-flipped directions behind each layer's null."""
    interventions: bool = True
    """Answer every prompt again with the guise direction ablated, added, and a random
    direction ablated; judge and compare with the unsteered answers."""
    steer_layers: list[int] | None = None
    """Layers the interventions edit; None: the middle layer."""
    steer_scale: float = 1.0
    """Multiple of the mean vernacular - standard difference the ``add`` intervention adds."""
    batch_size: int = Field(default=16, ge=1)
    """Prompts per forward pass when reading activations."""
