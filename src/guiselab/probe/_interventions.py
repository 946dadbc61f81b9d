"""Causal interventions: the probed model answers every prompt again with its residual stream
edited at one layer, and the change in its misaligned rate is measured.

At each of ``probe.steer_layers`` (default: the middle layer) the edits are: the source
language's guise direction ablated, the same direction added ``probe.steer_scale`` times, and
``probe.sampled_controls`` control directions ablated. The guise direction is cross-fitted: an
item's prompts are edited along the direction fitted on the other half of the items, so no
answer is steered by a direction its own prompts made. The controls are the first of the exact
check's for the source direction: each ablated by the share of the way to its typical
projection that disturbs the target language's answers as much as the guise ablation does
(matched in damage, :mod:`guiselab.probe._steer_damage`). Every prompt is answered with
the seed of its first sample, the new answers are judged, and per language and
guise the item-paired change in the misaligned rate (and in the incoherent rate, which an edit
that breaks the answers raises) against the unsteered first samples is estimated with a
bootstrap interval and a sign-flip p-value. Each sampled edit costs a generation and a judging
of every prompt, so the controlled test of an ablation is the exact teacher-forced one of
:mod:`guiselab.probe._steer_exact`; these answers show what the edit does to sampled text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import torch
from jaxtyping import Float

from guiselab.analysis import estimate_paired, rng_for
from guiselab.generate import GenerationTask, plan_generations, record, sample_batch
from guiselab.judge import judge_stage
from guiselab.pairs import GUISES
from guiselab.probe._activations import Hidden, n_layers, residual_hooks
from guiselab.probe._context import ItemFlags, ProbeContext, item_flags, judged_frame
from guiselab.probe._directions import Direction, GuisePairs
from guiselab.probe._steer_table import (
    DirectionSet,
    Matched,
    control_draws,
    direction_set,
    displacement_moment,
    guise_displacement,
    matched_directions,
)
from guiselab.store import Generation, content_key

__all__ = ["Intervention", "edit_of", "intervention_edits", "interventions"]

GUISE_KINDS = ("ablate", "add")


@dataclass(frozen=True)
class Intervention:
    """The effect of one edit (``kind`` at ``layer``) on one language and guise's answers."""

    kind: str
    """``ablate`` or ``add`` (the guise direction), or ``control`` (a control ablated)."""
    layer: int
    lang: str
    guise: str
    delta_misaligned: float
    ci_low: float
    ci_high: float
    p_value: float
    n_items: int
    delta_incoherent: float
    """An edit that breaks the answers lowers the misaligned count too (misaligned needs
    coherence): read the two together."""
    control: int | None = None
    """For a control: its index among the layer's damage-matched controls (those of the exact
    check for the source direction that matched, in the same order)."""
    model: str = "probed"
    """``probed``, or ``base`` (the base model steered along its own guise direction)."""
    share: float | None = None
    """For a control: the share of its full ablation it was ablated by."""
    damage_matched: bool | None = None
    """For a control: True where its share was matched in damage by the exact check; False
    for a control drawn without one (moved as far as the guise ablation, ablated in full)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Run:
    """The steered answers of one edit."""

    kind: str
    layer: int
    answers: list[Generation]
    control: int | None = None
    model: str = "probed"
    share: float | None = None
    damage_matched: bool | None = None


def intervention_edits(n_controls: int) -> int:
    """Edits per steered layer: the guise direction ablated and added, and the controls."""
    return len(GUISE_KINDS) + n_controls


def interventions(
    ctx: ProbeContext,
    sets: Mapping[str, GuisePairs],
    halves: Mapping[str, int],
    exact_controls: Mapping[tuple[int, str], Matched],
    model: str = "probed",
) -> list[Intervention]:
    """Every edit at every steered layer, answered, judged and compared with the unsteered
    first samples; the controls are the first of ``exact_controls`` (the exact check's kept
    ones, by layer and direction; see :func:`_controls`). ``model`` names the rows (``ctx``
    holds that model, its prompts' activations and its role's answers). The keys of the
    steered answers are kept in the store (``probe-steered:ROLE``), so a finished probe is
    reused only while they all are there."""
    source_lang, target_lang = ctx.langs
    cfg, seed = ctx.cfg, ctx.config.analysis.seed
    tasks = [
        t
        for t in plan_generations(ctx.config, ctx.pairs, [ctx.source])
        if (t.role, t.replicate) == (ctx.source.role, ctx.source.replicate)
        and t.sample == t.replicate * ctx.config.generation.samples_of(t.pair)
        and t.pair.lang in ctx.langs
        and str(t.pair.item) in halves
    ]
    baseline = ctx.store.generations(t.key for t in tasks)
    encoded = {t.key: ctx.encode(ctx.lm.tokenizer, t.pair.text(t.guise), t.pair) for t in tasks}
    by_half = {h: [t for t in tasks if halves[str(t.pair.item)] == h] for h in (0, 1)}
    runs: list[_Run] = []
    for layer in cfg.steer_layers or [n_layers(ctx.lm.model) // 2]:
        ds = direction_set(
            sets,
            ctx.x[:, layer],
            halves,
            layer,
            control_draws(len(ctx.x), cfg.n_controls, seed, layer),
            [item for item, _, _ in ctx.meta],
        )
        if not all((source_lang, h) in ds.columns for h, part in by_half.items() if part):
            continue
        matched = _controls(ctx, ds, layer, exact_controls.get((layer, source_lang)))
        k = matched.units.shape[1]
        total = (len(GUISE_KINDS) + k) * len(tasks)
        with ctx.progress.task(f"probe: steered answers at layer {layer}", total) as advance:
            for kind in GUISE_KINDS:
                answers: list[Generation] = []
                for h, part in by_half.items():
                    if part:
                        col = ds.columns[(source_lang, h)]
                        vector = ds.units[:, col] * ds.norms[(source_lang, h)]
                        along = (vector, float(ds.typical[col]))
                        answers += _steer(ctx, part, encoded, (kind, kind), layer, along, advance)
                runs.append(_Run(kind, layer, answers, model=model))
            damage_matched = matched.share is not None
            shares = matched.share if matched.share is not None else np.ones(k)
            drawn = matched.drawn if matched.drawn is not None else np.arange(k)
            for j in range(k):
                edit = (matched.units[:, j], float(matched.typical[j]))
                # which drawn control, how it was matched and its share (3 digits: what made
                # the edit, robust to the last bits of another machine's arithmetic)
                how = "damage" if damage_matched else "full"
                name = ("control", f"control-{drawn[j]}-{how}-{shares[j]:.3g}")
                share = float(shares[j])
                answers = _steer(ctx, tasks, encoded, name, layer, edit, advance, share)
                runs.append(_Run("control", layer, answers, j, model, share, damage_matched))
    ctx.store.put_artifact(
        f"probe-steered:{ctx.source.role}",
        {"inputs": ctx.inputs, "keys": sorted(g.key for run in runs for g in run.answers)},
    )
    judge_stage(ctx.store, ctx.config, ctx.judge, ctx.progress)  # the new answers, none twice
    before = item_flags(ctx, judged_frame(ctx, baseline))
    out = []
    for run in runs:
        after = item_flags(ctx, judged_frame(ctx, run.answers))
        for lang in (source_lang, target_lang):
            for guise in GUISES:
                row = _compare(ctx, run, lang, guise, before, after)
                if row is not None:
                    out.append(row)
    return out


def _controls(ctx: ProbeContext, ds: DirectionSet, layer: int, exact: Matched | None) -> Matched:
    """The first ``probe.sampled_controls`` of the exact check's controls for the source
    direction that matched the guise ablation's damage, each with its share (fewer where fewer
    matched); where none did, or the layer had no exact check, as many drawn the same way with
    the displacement measured on the prompts' pooled activations instead of the answers'
    tokens, ablated in full."""
    n = ctx.cfg.sampled_controls
    if exact is not None and exact.units.shape[1] > 0:
        return exact.take(np.arange(min(n, exact.units.shape[1])))
    x = ctx.x[:, layer]
    moment = displacement_moment(x, x.mean(axis=0))
    target = guise_displacement(ds, ctx.langs[0], moment, None, x.mean(axis=0)) or 0.0
    rng = rng_for(ctx.config.analysis.seed, "exact-controls", str(layer), ctx.langs[0])
    return matched_directions(moment, x.mean(axis=0), target, n, rng)


def _steer(
    ctx: ProbeContext,
    tasks: Sequence[GenerationTask],
    encoded: dict[str, list[int]],
    name: tuple[str, str],
    layer: int,
    along: tuple[Direction, float],
    advance: Callable[[int], None],
    share: float = 1.0,
) -> list[Generation]:
    """The answers to ``tasks`` with one edit at ``layer`` along ``along`` (the vector and its
    typical projection; an ablation by ``share`` of the way), sampled where the store lacks
    them. ``name``: the edit's kind and which edit of that kind it is (``control-j``)."""
    lm, cfg = ctx.lm, ctx.cfg
    (kind, which), (vector, typical) = name, along
    edit = edit_of(kind, vector, typical, cfg.steer_scale, lm.device, share)
    label = f"{ctx.source.role}:{kind}@{layer}"
    # Keyed by what made the edit (the stage's inputs), not by the vector's bytes: another
    # machine's arithmetic moves the last bits of the vector, and a resumed run on it must
    # still find the answers it already sampled.
    planned = [
        (t, content_key("intervention", ctx.inputs, label, which, cfg.steer_scale, t.key))
        for t in tasks
    ]
    done = ctx.store.existing_keys("generations", (k for _, k in planned))
    size = ctx.config.generation.batch_size
    # Batches cut from the whole plan (as in the generate stage): a resumed run samples each
    # answer in the batch an uninterrupted run did, so its text is the same.
    for chunk in (planned[i : i + size] for i in range(0, len(planned), size)):
        if all(k in done for _, k in chunk):
            advance(len(chunk))
            continue
        with residual_hooks(lm.model, edits={layer: edit}):
            completions = sample_batch(
                lm,
                [encoded[t.key] for t, _ in chunk],
                [t.seed for t, _ in chunk],
                ctx.config.generation,
            )
        ctx.store.add_generations(
            replace(record(t, label, c.text, len(c.token_ids), c.finish_reason), key=k, model=label)
            for (t, k), c in zip(chunk, completions, strict=True)
        )
        advance(len(chunk))
    return ctx.store.generations(k for _, k in planned)


def _compare(
    ctx: ProbeContext, run: _Run, lang: str, guise: str, before: ItemFlags, after: ItemFlags
) -> Intervention | None:
    """The paired change of one edit on one language and guise (None without shared items)."""
    diffs, incoherent = [], []
    for item, (mis, inc) in after.get((lang, guise), {}).items():
        was = before.get((lang, guise), {}).get(item)
        if was is not None:
            diffs.append(mis - was[0])
            incoherent.append(inc - was[1])
    if not diffs:
        return None
    analysis = ctx.config.analysis
    est = estimate_paired(
        np.array(diffs, dtype=np.float64),
        n_bootstrap=analysis.n_bootstrap,
        n_permutations=analysis.n_permutations,
        ci_level=analysis.ci_level,
        alpha=analysis.alpha,
        rng=rng_for(
            analysis.seed,
            "intervention",
            run.kind,
            str(run.layer),
            lang,
            guise,
            *(() if run.control is None else (str(run.control),)),
            *(() if run.model == "probed" else (run.model,)),
        ),
    )
    return Intervention(
        kind=run.kind,
        layer=run.layer,
        lang=lang,
        guise=guise,
        delta_misaligned=est.estimate,
        ci_low=est.ci_low,
        ci_high=est.ci_high,
        p_value=est.p_value,
        n_items=est.n_items,
        delta_incoherent=float(np.mean(incoherent)),
        control=run.control,
        model=run.model,
        share=run.share,
        damage_matched=run.damage_matched,
    )


def edit_of(
    kind: str,
    vector: Direction,
    typical: float,
    scale: float,
    device: torch.device,
    share: float = 1.0,
) -> Callable[[Hidden], Hidden]:
    """The residual edit of an intervention: ``add`` adds ``scale`` x the vector; the others
    set the component along the vector to ``typical``, its mean over the probed prompts
    (projecting to zero instead would throw a large-norm direction off the model's range and
    break every answer, whatever the direction means), or move it only ``share`` of the way
    there (a control matched in damage)."""
    direction: Float[torch.Tensor, " hidden"] = torch.tensor(
        vector, dtype=torch.float32, device=device
    )
    unit = direction / direction.norm()

    def ablate(hidden: Hidden) -> Hidden:
        # in float32: a small share's change would round away in a bfloat16 product
        h = hidden.float()
        edited: Hidden = (h - share * ((h @ unit) - typical)[..., None] * unit).to(hidden.dtype)
        return edited

    def add(hidden: Hidden) -> Hidden:
        return hidden + scale * direction.to(hidden.dtype)

    return add if kind == "add" else ablate
