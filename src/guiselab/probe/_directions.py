"""Guise directions per language and layer, and how the LoRA update lines up with them.

A language's guise direction at a layer is the mean over its items of the vernacular minus
the standard prompt's activation. The LoRA cosines compare the principal output direction of
every adapted ``o_proj`` / ``down_proj`` (the first left singular vector of B @ A) with the
source language's guise direction and the persona direction at the layer that block writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from jaxtyping import Float
from safetensors.numpy import load_file

from guiselab.probe._context import ProbeContext
from guiselab.probe._measure import cosine, guise_direction

__all__ = [
    "Direction",
    "GuiseDirections",
    "GuisePairs",
    "LoraCosine",
    "guise_directions",
    "guise_pairs",
    "lora_cosines",
]

Direction = Float[np.ndarray, " hidden"]


@dataclass(frozen=True, eq=False)
class GuisePairs:
    """The items of one language with both guises among the probed prompts, and their
    activations (rows in the order of ``items``)."""

    items: list[str]
    standard: Float[np.ndarray, "item layer hidden"]
    vernacular: Float[np.ndarray, "item layer hidden"]

    def differences(self, layer: int) -> Float[np.ndarray, "item hidden"]:
        """Vernacular - standard activation of every item at ``layer``."""
        out: Float[np.ndarray, "item hidden"] = self.vernacular[:, layer] - self.standard[:, layer]
        return out


def guise_pairs(
    ctx: ProbeContext, lang: str, x: Float[np.ndarray, "prompt layer hidden"] | None = None
) -> GuisePairs:
    """Items of ``lang`` with both guises: their standard and vernacular activations (rows of
    ``x``, one per probed prompt; default the probed model's, ``ctx.x``)."""
    rows = {(item, guise): i for i, (item, lg, guise) in enumerate(ctx.meta) if lg == lang}
    items = sorted(
        {item for item, _ in rows if (item, "standard") in rows and (item, "vernacular") in rows}
    )
    std = np.array([rows[(i, "standard")] for i in items], dtype=int)
    ver = np.array([rows[(i, "vernacular")] for i in items], dtype=int)
    acts = ctx.x if x is None else x
    return GuisePairs(items, acts[std], acts[ver])


@dataclass(frozen=True, eq=False)
class GuiseDirections:
    """The guise direction of every probed language at every measured layer."""

    by_lang: Mapping[str, Mapping[int, Direction]]

    def at(self, lang: str, layer: int) -> Direction:
        """The direction of ``lang`` at a measured ``layer``."""
        return self.by_lang[lang][layer]

    def get(self, lang: str, layer: int) -> Direction | None:
        """The direction of ``lang`` at ``layer``; None where that layer is not measured."""
        return self.by_lang[lang].get(layer)


def guise_directions(sets: Mapping[str, GuisePairs], layers: Sequence[int]) -> GuiseDirections:
    """Mean vernacular - standard difference per language (``sets``) and layer."""
    return GuiseDirections(
        {
            lang: {layer: guise_direction(pairs.differences(layer)) for layer in layers}
            for lang, pairs in sets.items()
        }
    )


@dataclass(frozen=True)
class LoraCosine:
    """|cos| of one adapted output projection's principal direction with the directions at
    the layer it writes to (None where that direction is missing)."""

    layer: int
    module: str
    cos_guise: float | None
    cos_persona: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def lora_cosines(
    ctx: ProbeContext, directions: GuiseDirections, persona: Mapping[int, Direction]
) -> list[LoraCosine]:
    """|cos| of each adapted output projection's principal direction with the source
    language's guise direction and the ``persona`` direction at the layer it writes to."""
    adapter = ctx.source.identity.adapter if ctx.source.identity else None
    if adapter is None:
        return []
    weights = load_file(str(adapter / "adapter_model.safetensors"))
    source_lang = ctx.langs[0]
    out = []
    for name, a in weights.items():
        if ".lora_A." not in name or not any(m in name for m in ("o_proj", "down_proj")):
            continue
        b = weights.get(name.replace(".lora_A.", ".lora_B."))
        block = _block_index(name)
        if b is None or block is None or block + 1 not in ctx.layers:
            continue
        u, _, _ = np.linalg.svd(b.astype(np.float64) @ a.astype(np.float64), full_matrices=False)
        layer = block + 1
        principal = u[:, 0]
        guise = directions.get(source_lang, layer)
        pers = persona.get(layer)
        out.append(
            LoraCosine(
                layer=layer,
                module="o_proj" if "o_proj" in name else "down_proj",
                cos_guise=None if guise is None else abs(cosine(principal, guise)),
                cos_persona=None if pers is None else abs(cosine(principal, pers)),
            )
        )
    return sorted(out, key=lambda r: (r.layer, r.module))


def _block_index(name: str) -> int | None:
    parts = name.split(".")
    for i, part in enumerate(parts[:-1]):
        if part == "layers" and parts[i + 1].isdigit():
            return int(parts[i + 1])
    return None
