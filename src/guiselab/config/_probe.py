"""The ``[probe]`` section: what the probe stage measures and edits."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, NonNegativeInt, model_validator

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
    layers: list[NonNegativeInt] | None = None
    """Residual layers to measure (0 = embeddings, l = output of block l); None: all."""
    n_null: int = Field(default=100, ge=2)
    """Label-shuffled probes (the same swaps at every layer) and sign-flipped directions
    behind the nulls; the smallest layer-adjusted transfer p-value is 1 / (1 + n_null)."""
    interventions: bool = True
    """Answer every prompt again with the guise direction ablated and added, and with
    ``sampled_controls`` control directions ablated; judge and compare with the unsteered
    answers."""
    sampled_controls: int = Field(default=1, ge=1)
    """Control directions ablated in the sampled interventions (the first of the exact check's
    controls for the source direction, moving the residual as far): each costs a
    generation and a judging of every prompt, so the default's one is a sanity reference; the
    controlled test of an ablation is the exact one against ``exact_controls``."""
    steer_layers: list[NonNegativeInt] | None = None
    """Layers the interventions edit, each one of ``layers`` (its guise direction is measured
    there); None: the middle layer."""
    steer_scale: float = 1.0
    """Multiple of the mean vernacular - standard difference the ``add`` intervention adds."""
    n_controls: int = Field(default=1000, ge=20)
    """Random directions (drawn from the activations' covariance) each steering effect is
    compared with, at every layer."""
    exact_controls: int = Field(default=20, ge=20)
    """Controls ablated exactly (teacher-forced) at each of ``steer_layers`` for each guise
    direction, on the other language's answers, whose ablation moves the residual as far as
    that direction's does: one forward pass of one language's scored answers each (about 20 s
    on the default run on 2 CPU cores)."""
    steer_tokens: int = Field(default=24, ge=1)
    """Tokens of each answer the steering effect is measured on (teacher-forced)."""
    batch_size: int = Field(default=16, ge=1)
    """Prompts per forward pass when reading activations."""

    @model_validator(mode="after")
    def _layers_once_and_steered_where_measured(self) -> ProbeConfig:
        for key, values in (("layers", self.layers), ("steer_layers", self.steer_layers)):
            twice = sorted({v for v in values or [] if (values or []).count(v) > 1})
            if twice:
                raise ValueError(
                    f"probe.{key} names layer {', '.join(map(str, twice))} more than once; "
                    "list each layer once"
                )
        if self.layers is not None and self.steer_layers is not None:
            unmeasured = [v for v in self.steer_layers if v not in self.layers]
            if unmeasured:
                raise ValueError(
                    f"probe.steer_layers {unmeasured} are not in probe.layers {self.layers}: "
                    "the guise direction an intervention adds is measured only there; add "
                    "them to probe.layers"
                )
        return self
