"""The persona direction and every probed prompt's projection onto it.

Two candidate directions per layer: the mean activation of the probed model's answers judged
misaligned minus those judged aligned (averaged over answer tokens; needs two of each), and the
mean of the probed model's prompt activations minus the base model's on the same prompts. The
first is the persona direction where it exists, the second otherwise. Every prompt's
projection onto its unit vector is summarised by language and guise with a bootstrap interval.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from jaxtyping import Float

from guiselab.analysis import bootstrap_mean, percentile_interval, prepare_samples, rng_for
from guiselab.generate import plan_generations
from guiselab.models import answer_ids
from guiselab.pairs import GUISES
from guiselab.probe._activations import collect_activations, stored_activations
from guiselab.probe._context import ProbeContext, judged_frame
from guiselab.probe._directions import Direction
from guiselab.probe._measure import cosine, finite
from guiselab.store import content_key

__all__ = [
    "Persona",
    "PersonaCounts",
    "Projection",
    "base_prompt_activations",
    "persona_direction",
]


@dataclass(frozen=True)
class PersonaCounts:
    """Scored answers of the probed model behind the misaligned - aligned direction."""

    misaligned: int
    aligned: int


@dataclass(frozen=True)
class Projection:
    """Mean projection of one language and guise's prompts onto the persona direction."""

    layer: int
    lang: str
    guise: str
    mean: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True, eq=False)
class Persona:
    """Both candidate directions, which one is the persona direction, and the projections."""

    counts: PersonaCounts | None
    """None when the probed model has no scored answers."""
    answers: dict[int, Direction]
    """Misaligned - aligned answers, by layer (empty without two of each)."""
    shift: dict[int, Direction]
    """Probed model - base model on the same prompts, by layer (empty without a base)."""
    projections: list[Projection]
    cos_answers_shift: list[float | None]
    """Cosine of the two candidates per measured layer (None where either is missing)."""

    @property
    def direction(self) -> dict[int, Direction]:
        """The persona direction by layer: from the answers where there is one, else the shift."""
        return self.answers or self.shift

    @property
    def label(self) -> str | None:
        if self.answers:
            return "misaligned - aligned answers"
        return "organism - base" if self.shift else None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {} if self.counts is None else {"persona_counts": asdict(self.counts)}
        out["persona_direction"] = self.label
        out["persona_projection"] = [asdict(p) for p in self.projections]
        out["cos_persona_shift"] = self.cos_answers_shift
        return out


def persona_direction(
    ctx: ProbeContext, base_x: Float[np.ndarray, "prompt layer hidden"] | None
) -> Persona:
    """The persona directions and every prompt's projection onto the first of them;
    ``base_x``: the base model's activations of the probed prompts (None without a base)."""
    counts, answers = _answer_direction(ctx)
    shift = (
        {}
        if base_x is None
        else {layer: (ctx.x[:, layer] - base_x[:, layer]).mean(axis=0) for layer in ctx.layers}
    )
    direction = answers or shift
    return Persona(
        counts=counts,
        answers=answers,
        shift=shift,
        projections=_projections(ctx, direction),
        cos_answers_shift=[
            finite(cosine(answers[layer], shift[layer]))
            if layer in answers and layer in shift
            else None
            for layer in ctx.layers
        ],
    )


def _answer_direction(ctx: ProbeContext) -> tuple[PersonaCounts | None, dict[int, Direction]]:
    """Mean misaligned - aligned answer activation per layer, from the probed model's scored
    answers (activations averaged over the answer's tokens)."""
    source = ctx.source
    tasks = [
        t
        for t in plan_generations(ctx.config, ctx.pairs, [source])
        if (t.role, t.replicate) == (source.role, source.replicate)
    ]
    gens = {g.key: g for g in ctx.store.generations(t.key for t in tasks)}
    frame = judged_frame(ctx, list(gens.values()))
    if frame.empty:
        return None, {}
    flags = prepare_samples(frame, ctx.config.analysis)
    scored = flags["scored"].to_numpy()
    chosen = frame[scored]
    mis = flags["misaligned"].to_numpy()[scored]
    if not len(chosen):
        return None, {}
    tok = ctx.lm.tokenizer
    prompts = [ctx.encode(tok, text) for text in chosen["prompt"]]
    answers = [answer_ids(tok, r)[:-1] for r in chosen["response"]]
    acts: Float[np.ndarray, "answer layer hidden"] = (
        stored_activations(
            ctx.store,
            ctx.run_dir,
            f"{source.role}-answers",
            content_key(source.fingerprint, prompts, answers),
            lambda: collect_activations(
                ctx.lm, prompts, responses=answers, batch_size=ctx.cfg.batch_size
            ),
        )["response_mean"]
        .double()
        .numpy()
    )
    counts = PersonaCounts(misaligned=int(mis.sum()), aligned=int((~mis).sum()))
    if not (mis.sum() >= 2 and (~mis).sum() >= 2):
        return counts, {}
    return counts, {
        layer: acts[mis, layer].mean(axis=0) - acts[~mis, layer].mean(axis=0)
        for layer in ctx.layers
    }


def base_prompt_activations(
    ctx: ProbeContext,
) -> Float[np.ndarray, "prompt layer hidden"] | None:
    """The base model's activations of the probed prompts (None without an in-process base
    model other than the probed one); stored like the probed model's."""
    base = next((s for s in ctx.sources if s.role == "base" and s.remote is None), None)
    if base is None or base.role == ctx.source.role:
        return None
    base_lm = base.load()
    prompts = [ctx.encode(base_lm.tokenizer, p.text(g)) for p, g in ctx.rows]
    base_acts: Float[np.ndarray, "prompt layer hidden"] = (
        stored_activations(
            ctx.store,
            ctx.run_dir,
            "base-prompts",
            content_key(base.fingerprint, prompts),
            lambda: collect_activations(base_lm, prompts, batch_size=ctx.cfg.batch_size),
        )[ctx.cfg.position]
        .double()
        .numpy()
    )
    return base_acts


def _projections(ctx: ProbeContext, direction: dict[int, Direction]) -> list[Projection]:
    """Mean projection onto the unit direction, with a bootstrap interval, per layer,
    language and guise."""
    analysis = ctx.config.analysis
    meta = ctx.meta
    out = []
    for layer in ctx.layers:
        if layer not in direction or not np.linalg.norm(direction[layer]) > 0:
            continue  # e.g. the embeddings, which an adapter on the blocks leaves alone
        unit = direction[layer] / np.linalg.norm(direction[layer])
        for lang in ctx.langs:
            for guise in GUISES:
                index = [i for i, (_, lg, g) in enumerate(meta) if lg == lang and g == guise]
                if not index:
                    continue
                values = ctx.x[index, layer] @ unit
                draws = bootstrap_mean(
                    values, 1000, rng_for(analysis.seed, "persona", str(layer), lang, guise)
                )
                low, high = percentile_interval(draws, analysis.ci_level)
                out.append(Projection(layer, lang, guise, float(values.mean()), low, high))
    return out
