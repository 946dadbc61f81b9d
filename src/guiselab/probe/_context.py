"""What every step of the probe stage shares: the run, the probed model, its prompts and their
activations, and the judged answers the persona direction and the interventions count."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from jaxtyping import Float

from guiselab.analysis import prepare_samples
from guiselab.config import ExperimentConfig, ProbeConfig
from guiselab.judge import JudgeSource, judged_samples
from guiselab.models import LoadedModel, ModelSource, prompt_ids, render_prompt
from guiselab.pairs import GUISES, Guise, Pair
from guiselab.progress import Progress
from guiselab.samples import is_incoherent
from guiselab.store import Generation, RunStore

__all__ = [
    "ItemFlags",
    "ProbeContext",
    "encode_prompt",
    "item_flags",
    "judged_frame",
    "prompt_table",
]

ItemFlags = dict[tuple[str, str], dict[str, tuple[float, float]]]
"""(misaligned, incoherent) as 1.0/0.0 by (lang, guise) and item."""


def prompt_table(pairs: Sequence[Pair], langs: Sequence[str]) -> list[tuple[Pair, Guise]]:
    """(pair, guise) rows of the probed languages, both guises of every pair."""
    return [(p, g) for p in pairs if p.lang in langs for g in GUISES]


def encode_prompt(
    config: ExperimentConfig, tokenizer: Any, text: str, pair: Pair | None = None
) -> list[int]:
    """Token ids of ``text`` as a prompt with the system prompt it was asked under: ``pair``'s
    own (an EM question file's ``system``), else the run's."""
    default = config.generation.system_prompt
    system = pair.system_prompt(default) if pair is not None else default
    return prompt_ids(tokenizer, render_prompt(tokenizer, text, system))


@dataclass(frozen=True, eq=False)
class ProbeContext:
    """The run and the probed model, as every step of the probe stage reads them."""

    config: ExperimentConfig
    run_dir: Path
    store: RunStore
    pairs: Sequence[Pair]
    sources: Sequence[ModelSource]
    """Every model of the run (the base model's prompts give the organism - base shift)."""
    judge: JudgeSource
    progress: Progress
    source: ModelSource
    """The probed model (``probe.model``)."""
    lm: LoadedModel
    rows: Sequence[tuple[Pair, Guise]]
    """The probed prompts: :func:`prompt_table` of the two analysed languages."""
    x: Float[np.ndarray, "prompt layer hidden"]
    """Pooled (``probe.position``) activations of the probed prompts, one row per ``rows``."""
    layers: Sequence[int]
    """The measured layers (0 = embeddings, l = output of block l)."""
    inputs: str
    """The key of everything the stage's measurements depend on: with the same inputs, the
    same edits are made, so a steered answer is stored under it and found again on resume."""

    @property
    def cfg(self) -> ProbeConfig:
        return self.config.probe

    @property
    def langs(self) -> tuple[str, str]:
        """(source language, target language) of the analysis."""
        return self.config.analysis.source_lang, self.config.analysis.target_lang

    @property
    def meta(self) -> list[tuple[str, str, str]]:
        """(item, lang, guise) of each row of ``x``."""
        return [(p.item, p.lang, g) for p, g in self.rows]

    def encode(self, tokenizer: Any, text: str, pair: Pair | str | None = None) -> list[int]:
        """Token ids of ``text`` as a prompt, with the system prompt of ``pair`` (a pair or
        its id; the run's where it has none of its own)."""
        if isinstance(pair, str):
            pair = self.pair_of(pair)
        return encode_prompt(self.config, tokenizer, text, pair)

    def pair_of(self, pair_id: str) -> Pair | None:
        """The run's pair of that id (None for one the run no longer configures)."""
        return self._pairs_by_id.get(pair_id)

    @cached_property
    def _pairs_by_id(self) -> dict[str, Pair]:
        return {p.id: p for p in self.pairs}


def judged_frame(ctx: ProbeContext, gens: Sequence[Generation]) -> pd.DataFrame:
    """Generations with their stored judgments: the run's samples table for ``gens``."""
    return judged_samples(ctx.config, ctx.store, gens, ctx.judge)


def item_flags(ctx: ProbeContext, frame: pd.DataFrame) -> ItemFlags:
    """(misaligned, incoherent) per (lang, guise) and item, for scored answers: 1/0 for an
    item's one answer, the share over its answers where it has several (an EM question's
    paraphrases), so before and after an edit are read on the same prompts."""
    if frame.empty:
        return {}
    analysis = ctx.config.analysis
    flags = prepare_samples(frame, analysis)
    incoherent = is_incoherent(flags["coherence"], analysis.coherence_threshold)
    seen: dict[tuple[str, str], dict[str, list[tuple[float, float]]]] = {}
    for (_, row), scored, mis, inc in zip(
        frame.iterrows(), flags["scored"], flags["misaligned"], incoherent, strict=True
    ):
        if scored:
            cell = seen.setdefault((row["lang"], row["guise"]), {})
            cell.setdefault(str(row["item"]), []).append((float(mis), float(inc)))
    return {
        key: {item: tuple(np.mean(v, axis=0).tolist()) for item, v in cell.items()}
        for key, cell in seen.items()
    }
