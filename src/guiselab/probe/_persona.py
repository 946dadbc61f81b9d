"""The persona direction and every probed prompt's projection onto it, cross-fitted.

Two candidate directions per layer: the mean activation of the probed model's answers judged
misaligned minus those judged aligned (averaged over answer tokens; the contrast taken within
each guise and averaged, so a guise the organism misbehaves in more does not put its own
direction into it), and the mean of the probed model's prompt activations minus the base
model's on the same prompts. The first is the persona direction where it can be formed, the
second otherwise.

Projections are cross-fitted (``_crossfit.item_halves``): an item's prompts are projected on
the direction fitted on the other half of the items (its answers, or its prompts' shift from
the base), so no prompt is measured on a direction its own item helped make; the answer
direction needs two misaligned and two aligned answers in each guise of each half's other
half. Every prompt's projection is summarised by language and guise with a per-layer bootstrap
interval, and the vernacular minus standard projection of the same item (``persona_gap``) per
language with a band simultaneous over the layers (directions not refitted). The full-data
directions are kept for the LoRA cosines and the cosine between the two candidates.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from jaxtyping import Float

from guiselab.analysis import bootstrap_mean, percentile_interval, prepare_samples, rng_for
from guiselab.generate import plan_generations
from guiselab.models import answer_ids
from guiselab.pairs import GUISES
from guiselab.probe._activations import collect_activations, stored_activations
from guiselab.probe._bands import ROUNDS, simultaneous_band
from guiselab.probe._context import ProbeContext, judged_frame
from guiselab.probe._directions import Direction
from guiselab.probe._measure import cosine, finite
from guiselab.store import content_key

__all__ = [
    "Persona",
    "PersonaCounts",
    "Projection",
    "base_persona",
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
    """Cross-fitted: each prompt on the direction fitted on the other half of the items."""
    gaps: dict[str, list[dict[str, float | None]]]
    """Per language and layer: the mean vernacular - standard projection of an item, with an
    interval simultaneous over the layers (cross-fitted like ``projections``)."""
    gaps_by_direction: dict[str, dict[str, list[dict[str, float | None]]]]
    """The same gaps on the direction fitted on one language's answers alone, by that
    language and then by the prompts' language (cross-fitted; a language whose halves lack
    two misaligned and two aligned answers in each guise is absent)."""
    cos_answers_shift: list[float | None]
    """Cosine of the two candidates per measured layer (None where either is missing)."""
    projected: str | None
    """Which direction the cross-fitted projections use (None: no projection)."""

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
        out["persona_gap"] = self.gaps
        out["persona_gap_by_direction"] = self.gaps_by_direction
        out["persona_projection_direction"] = self.projected
        out["cos_persona_shift"] = self.cos_answers_shift
        return out


def persona_direction(
    ctx: ProbeContext,
    base_x: Float[np.ndarray, "prompt layer hidden"] | None,
    halves: dict[str, int],
) -> Persona:
    """The persona directions and every prompt's projection onto the first of them;
    ``base_x``: the base model's activations of the probed prompts (None without a base);
    ``halves``: every probed item's half (``_crossfit.item_halves``)."""
    counts, answers, answers_by_half, by_lang = _answer_direction(ctx, halves)
    shift: dict[int, Direction] = {}
    shift_by_half: dict[int, dict[int, Direction]] = {}
    if base_x is not None:
        delta = ctx.x - base_x
        shift = {layer: delta[:, layer].mean(axis=0) for layer in ctx.layers}
        half_of_row = np.array([halves[item] for item, _, _ in ctx.meta])
        shift_by_half = {
            h: {layer: delta[half_of_row != h, layer].mean(axis=0) for layer in ctx.layers}
            for h in (0, 1)
            if (half_of_row != h).any()
        }
    by_half = answers_by_half if answers_by_half else shift_by_half
    crossfit = (
        "misaligned - aligned answers"
        if answers_by_half
        else ("organism - base" if shift_by_half else None)
    )
    projections, gaps = _projections(ctx, by_half, halves)
    return Persona(
        counts=counts,
        answers=answers,
        shift=shift,
        projections=projections,
        gaps=gaps,
        gaps_by_direction={lg: _projections(ctx, d, halves)[1] for lg, d in by_lang.items()},
        projected=crossfit,
        cos_answers_shift=[
            finite(cosine(answers[layer], shift[layer]))
            if layer in answers and layer in shift
            else None
            for layer in ctx.layers
        ],
    )


ByHalf = dict[int, dict[int, Direction]]
"""A direction per half of the items (fitted on the other half), by layer."""


def _answer_direction(
    ctx: ProbeContext, halves: dict[str, int]
) -> tuple[PersonaCounts | None, dict[int, Direction], ByHalf, dict[str, ByHalf]]:
    """Mean misaligned - aligned answer activation per layer, from the probed model's scored
    answers (activations averaged over the answer's tokens, the misaligned - aligned contrast
    taken within each guise and averaged): from all of them (empty without two misaligned and
    two aligned answers in each guise), and for each half of the items from the other half's
    answers (empty unless each half's other half has as many; the full direction is kept
    either way); and the cross-fitted directions from each language's answers alone."""
    source = ctx.source
    tasks = [
        t
        for t in plan_generations(ctx.config, ctx.pairs, [source])
        if (t.role, t.replicate) == (source.role, source.replicate)
    ]
    gens = {g.key: g for g in ctx.store.generations(t.key for t in tasks)}
    frame = judged_frame(ctx, list(gens.values()))
    if frame.empty:
        return None, {}, {}, {}
    flags = prepare_samples(frame, ctx.config.analysis)
    scored = flags["scored"].to_numpy()
    chosen = frame[scored]
    mis = flags["misaligned"].to_numpy()[scored]
    if not len(chosen):
        return None, {}, {}, {}
    tok = ctx.lm.tokenizer
    asked = zip(chosen["prompt"], chosen["pair_id"], strict=True)
    prompts = [ctx.encode(tok, text, str(pair_id)) for text, pair_id in asked]
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
    half = np.array([halves.get(str(item), -1) for item in chosen["item"]])
    guise = chosen["guise"].to_numpy()
    lang = chosen["lang"].to_numpy()

    def direction(rows: np.ndarray) -> dict[int, Direction] | None:
        # Within each guise, then averaged: an organism misaligned more often in one guise
        # would otherwise put that guise's own direction into the persona direction.
        parts = []
        for g in GUISES:
            bad, good = rows & mis & (guise == g), rows & ~mis & (guise == g)
            if not (bad.sum() >= 2 and good.sum() >= 2):
                return None
            parts.append((bad, good))
        return {
            layer: np.mean(
                [
                    acts[bad, layer].mean(axis=0) - acts[good, layer].mean(axis=0)
                    for bad, good in parts
                ],
                axis=0,
            )
            for layer in ctx.layers
        }

    def crossfit(rows: np.ndarray) -> ByHalf:
        fitted = {h: d for h in (0, 1) if (d := direction(rows & (half != h))) is not None}
        return fitted if len(fitted) == 2 else {}  # both halves, or no cross-fitted projection

    everything = direction(np.ones(len(mis), dtype=bool))
    if everything is None:
        return counts, {}, {}, {}
    by_lang = {lg: crossfit(lang == lg) for lg in ctx.langs}
    # the full direction is kept for the LoRA cosines even without a cross-fitted projection
    return (
        counts,
        everything,
        crossfit(np.ones(len(mis), dtype=bool)),
        {lg: d for lg, d in by_lang.items() if d},
    )


def base_persona(
    ctx: ProbeContext,
    base_x: Float[np.ndarray, "prompt layer hidden"] | None,
    halves: dict[str, int],
) -> Persona | None:
    """The base model's own persona direction, from its own judged answers, and the base
    model's prompts projected on it, cross-fitted like the probed model's (None without an
    in-process base model other than the probed one)."""
    base = next((s for s in ctx.sources if s.role == "base" and s.remote is None), None)
    if base is None or base_x is None or base.role == ctx.source.role:
        return None
    ctx.progress.log("probe: the base model's persona direction")
    return persona_direction(replace(ctx, source=base, lm=base.load(), x=base_x), None, halves)


def base_prompt_activations(
    ctx: ProbeContext,
) -> Float[np.ndarray, "prompt layer hidden"] | None:
    """The base model's activations of the probed prompts (None without an in-process base
    model other than the probed one); stored like the probed model's."""
    base = next((s for s in ctx.sources if s.role == "base" and s.remote is None), None)
    if base is None or base.role == ctx.source.role:
        return None
    base_lm = base.load()
    prompts = [ctx.encode(base_lm.tokenizer, p.text(g), p) for p, g in ctx.rows]
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


def _projections(
    ctx: ProbeContext, by_half: dict[int, dict[int, Direction]], halves: dict[str, int]
) -> tuple[list[Projection], dict[str, list[dict[str, float | None]]]]:
    """Cross-fitted projections: each prompt on the unit direction of the other half
    (``by_half[h]`` is the direction for half h's prompts); their mean with a bootstrap
    interval per layer, language and guise, and per language the item-paired vernacular -
    standard gap with a band simultaneous over the layers (the same resampled items at every
    layer; the directions are not refitted)."""
    analysis = ctx.config.analysis
    meta = ctx.meta
    out: list[Projection] = []
    if len(by_half) < 2:
        return out, {}
    half_of_row = np.array([halves[item] for item, _, _ in meta])
    rows = {(item, lang, guise): i for i, (item, lang, guise) in enumerate(meta)}
    paired_items = {
        lang: sorted(
            item
            for item, lg, g in meta
            if lg == lang and g == "standard" and (item, lang, "vernacular") in rows
        )
        for lang in ctx.langs
    }
    paired = {
        lang: np.full((len(ctx.layers), len(items)), np.nan) for lang, items in paired_items.items()
    }
    cells = {
        (lang, guise): [i for i, (_, lg, g) in enumerate(meta) if lg == lang and g == guise]
        for lang in ctx.langs
        for guise in GUISES
    }
    for j, layer in enumerate(ctx.layers):
        units = {}
        for h, directions in by_half.items():
            norm = float(np.linalg.norm(directions[layer]))
            if norm > 0:
                units[h] = directions[layer] / norm
        if len(units) < 2:
            continue  # e.g. the embeddings, which an adapter leaves alone
        values = np.array([ctx.x[i, layer] @ units[int(half_of_row[i])] for i in range(len(meta))])
        for lang in ctx.langs:
            for guise in GUISES:
                index = cells[(lang, guise)]
                if not index:
                    continue
                draws = bootstrap_mean(
                    values[index], 1000, rng_for(analysis.seed, "persona", str(layer), lang, guise)
                )
                low, high = percentile_interval(draws, analysis.ci_level)
                out.append(Projection(layer, lang, guise, float(values[index].mean()), low, high))
            paired[lang][j] = [
                values[rows[(item, lang, "vernacular")]] - values[rows[(item, lang, "standard")]]
                for item in paired_items[lang]
            ]
    gaps: dict[str, list[dict[str, float | None]]] = {}
    for lang, matrix in paired.items():
        n = matrix.shape[1]
        rng = rng_for(analysis.seed, "persona-gap", lang)
        picks = rng.integers(0, n, (ROUNDS, n)) if n >= 2 else np.empty((0, n), dtype=int)
        draws = np.array([matrix[:, pick].mean(axis=1) for pick in picks]).reshape(
            -1, len(ctx.layers)
        )
        estimates = matrix.mean(axis=1) if n >= 2 else np.full(len(ctx.layers), np.nan)
        band = simultaneous_band(list(estimates), draws, analysis.ci_level, name="gap")
        gaps[lang] = [{"layer": layer, **row} for layer, row in zip(ctx.layers, band, strict=True)]
    return out, gaps
