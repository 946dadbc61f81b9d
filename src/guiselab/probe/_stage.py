"""The probe stage: guise probes, directions, the persona direction and causal interventions.

Measured on one model (``probe.model``, the organism by default) with the run's own pairs:

1. residual activations of every prompt (both guises, both languages), of the model's own
   answers (averaged over answer tokens), and of the base model on the same prompts; saved as
   safetensors files under ``RUN/activations`` and indexed in the store, so a rerun reads them;
2. per layer: guise probes (English, Russian, English -> Russian, Russian -> English) against
   a label-shuffled null; English and Russian guise directions and their cosine against a null;
   the same for the base model on the same prompts; a lexical baseline (the probes on the
   prompts' bags of tokens); and every layer's AUROC minus the baseline's and minus the base
   model's, with intervals simultaneous over the layers; the cross-fitted guise separation
   (each item's guise difference on the direction fitted on the other half of the items) of
   both models and its difference; and the dialect direction against the control guises'
   (informal, typos): their cosine, and the dialect's separation with theirs projected out;
3. the persona direction (answers judged misaligned minus aligned, and organism minus base on
   the same prompts) and every prompt's projection onto it by language and guise, each item's
   prompts on the direction fitted on the other half of the items;
4. the cosine of the LoRA update's principal output directions with both directions;
5. steering against matched controls at every measured layer (first order, teacher-forced on
   the probed model's scored answers; :mod:`guiselab.probe._steer_table`), for the probed
   model and the base, with an exact check at ``probe.steer_layers`` of each (the guise
   ablations against controls matched in damage; :mod:`guiselab.probe._steer_exact`);
6. interventions at ``probe.steer_layers``, on the probed model and on the base (each along
   its own guise direction, on its own answers): the English guise direction (cross-fitted:
   each item's prompts edited along the direction fitted on the other half) projected out and
   added (``probe.steer_scale`` times), and up to ``probe.sampled_controls`` of the exact
   check's damage-matched controls projected out by their share; every prompt is answered
   again with the seed of its first sample, judged, and the change in misaligned rate against
   the unsteered answer is estimated per language and guise with item-paired intervals.

The result goes to ``RUN/probe.json`` and into ``results.json["probe"]``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from guiselab.analysis import rng_for
from guiselab.config import ExperimentConfig
from guiselab.errors import ConfigError
from guiselab.judge import JudgeSource
from guiselab.models import ModelSource
from guiselab.pairs import Guise, Pair
from guiselab.probe._activations import collect_activations, n_layers, stored_activations
from guiselab.probe._context import ProbeContext, encode_prompt, prompt_table
from guiselab.probe._crossfit import item_halves, separation_table
from guiselab.probe._directions import (
    GuisePairs,
    LoraCosine,
    guise_directions,
    guise_pairs,
    lora_cosines,
)
from guiselab.probe._interventions import Intervention, interventions
from guiselab.probe._measure import cosine, finite
from guiselab.probe._persona import (
    Persona,
    base_persona,
    base_prompt_activations,
    persona_direction,
)
from guiselab.probe._probes import (
    GuiseProbes,
    all_layer_scores,
    bag_of_tokens,
    guise_probes,
    layer_comparisons,
    layer_scores,
)
from guiselab.probe._register import register_table
from guiselab.probe._steer_models import steering
from guiselab.progress import Progress
from guiselab.store import RunStore, content_key, write_atomic
from guiselab.triggers import control_pairs

__all__ = ["PROBE_FILE", "ProbeResult", "probe_stage"]

PROBE_FILE = "probe.json"
PROBE_VERSION = 17
"""Bumped when the measurements change, so a saved probe.json is redone."""
LAYER_CONVENTION = "0 = embeddings, l = output of block l"


@dataclass(frozen=True)
class ProbeResult:
    """Everything the probe stage measured, as ``probe.json`` holds it."""

    model: str
    role: str
    position: str
    layers: list[int]
    inputs: str
    """Key of everything the measurements depend on (a rerun with the same key reuses them)."""
    probes: GuiseProbes
    base_probes: GuiseProbes | None
    """The same probes on the base model's activations of the same prompts."""
    comparisons: dict[str, Any]
    """The lexical baseline, and each layer's AUROC minus the baseline's and minus the base
    model's (``layer_comparisons``); the cross-fitted guise separation of both models and
    their difference (``separation_table``)."""
    persona: Persona
    lora_cosines: list[LoraCosine]
    interventions: list[Intervention]
    steered_answers: int
    """Steered answers in the store when the probe finished."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "role": self.role,
            "position": self.position,
            "layers": self.layers,
            "layer_convention": LAYER_CONVENTION,
            "inputs": self.inputs,
            **self.probes.to_dict(),
            "base": None if self.base_probes is None else self.base_probes.to_dict(),
            **self.comparisons,
            **self.persona.to_dict(),
            "lora_cosines": [r.to_dict() for r in self.lora_cosines],
            "interventions": [r.to_dict() for r in self.interventions],
            "steered_answers": self.steered_answers,
        }

    def as_json(self) -> str:
        """The text of ``probe.json``."""
        return json.dumps(self.to_dict(), indent=1) + "\n"


def check_layers(config: ExperimentConfig, total: int) -> None:
    """A probed layer the model lacks, or an intervention at a layer the probe does not
    measure (where no guise direction exists), is an error rather than skipped: the
    measurement asked for would be missing from probe.json without a word."""
    cfg = config.probe
    for key, listed, what in (
        ("layers", cfg.layers, "list layers"),
        ("steer_layers", cfg.steer_layers if cfg.interventions else None, "steer at layers"),
    ):
        beyond = [layer for layer in listed or [] if layer >= total]
        if beyond:
            raise ConfigError(
                f"layers {beyond} are beyond the probed model's residual layers "
                f"0-{total - 1} (0 = embeddings); {what} below its depth",
                where=f"probe.{key}",
            )
    if cfg.interventions and cfg.layers is not None:
        steered = cfg.steer_layers or [total // 2]
        unmeasured = [layer for layer in steered if layer not in cfg.layers]
        if unmeasured:
            raise ConfigError(
                f"interventions at layer {unmeasured} (the middle layer when "
                "probe.steer_layers is unset) need it among probe.layers; add it there or "
                "set probe.steer_layers",
                where="probe.layers",
            )


def probe_stage(
    config: ExperimentConfig,
    run_dir: Path,
    store: RunStore,
    pairs: Sequence[Pair],
    sources: Sequence[ModelSource],
    judge: JudgeSource,
    progress: Progress,
) -> dict[str, Any]:
    """Measure the probed model (or keep a finished ``probe.json`` with the same inputs);
    returns what ``probe.json`` holds, or a note when there is no model to probe."""
    cfg = config.probe
    # The first training replicate of a role stands for it (one model's internals).
    source = {s.role: s for s in sources if s.remote is None and s.replicate == 0}.get(cfg.model)
    if source is None:
        return {"note": f"no in-process '{cfg.model}' model to probe"}
    langs = [config.analysis.source_lang, config.analysis.target_lang]
    rows = prompt_table(pairs, langs)
    control = control_pairs(config, [p for p in pairs if p.lang in langs])
    identity = _inputs(config, store, sources, judge, source, rows, control)
    saved = run_dir / PROBE_FILE
    if saved.exists():
        previous = json.loads(saved.read_text(encoding="utf-8"))
        # ... unless the store lost the answers its interventions were measured on.
        if previous.get("inputs") == identity and _steered_intact(
            store, identity, [s.role for s in sources]
        ):
            return dict(previous)
    lm = source.load()
    check_layers(config, n_layers(lm.model))
    prompts = [encode_prompt(config, lm.tokenizer, p.text(g), p) for p, g in rows]
    progress.log(f"probe: activations of {len(prompts)} prompts ({source.role})")
    acts = stored_activations(
        store,
        run_dir,
        f"{source.role}-prompts",
        content_key(source.fingerprint, prompts),
        lambda: collect_activations(lm, prompts, batch_size=cfg.batch_size),
    )
    x = acts[cfg.position].double().numpy()
    layers = list(cfg.layers or range(x.shape[1]))
    ctx = ProbeContext(
        config=config,
        run_dir=run_dir,
        store=store,
        pairs=pairs,
        sources=sources,
        judge=judge,
        progress=progress,
        source=source,
        lm=lm,
        rows=rows,
        x=x,
        layers=layers,
        inputs=identity,
    )
    sets = {lang: guise_pairs(ctx, lang) for lang in ctx.langs}
    directions = guise_directions(sets, layers)
    scores = all_layer_scores(sets, layers, ctx.langs)
    halves = item_halves((item for item, _, _ in ctx.meta), config.analysis.seed)
    probes = guise_probes(
        ctx, sets, directions, rng_for(config.analysis.seed, "probe"), scores, halves
    )
    base_x = base_prompt_activations(ctx)
    base_sets = (
        None if base_x is None else {lang: guise_pairs(ctx, lang, base_x) for lang in ctx.langs}
    )
    base_scores = None if base_sets is None else all_layer_scores(base_sets, layers, ctx.langs)
    base_probes = (
        None
        if base_sets is None or base_scores is None
        else guise_probes(
            ctx,
            base_sets,
            guise_directions(base_sets, layers),
            rng_for(config.analysis.seed, "probe-base-null"),
            base_scores,
            halves,
        )
    )
    bag = bag_of_tokens(prompts)[:, None, :]
    lexical = layer_scores({lang: guise_pairs(ctx, lang, bag) for lang in ctx.langs}, 0, ctx.langs)
    comparisons = layer_comparisons(
        layers, ctx.langs, config.analysis, scores, lexical, base_scores
    )
    comparisons["alpha"] = config.analysis.alpha  # the level the report reads p-values at
    comparisons |= separation_table(layers, ctx.langs, config.analysis, sets, base_sets, halves)
    controls = _control_sets(ctx, control)
    if controls:
        comparisons["register"] = register_table(layers, config.analysis, sets, controls, halves)
    persona = persona_direction(ctx, base_x, halves)
    comparisons["cos_persona_guise"] = [
        finite(cosine(persona.direction[layer], directions.at(ctx.langs[0], layer)))
        if layer in persona.direction
        else None
        for layer in layers
    ]
    base_own = base_persona(ctx, base_x, halves)
    if base_own is not None:
        comparisons["base_persona"] = base_own.to_dict()
    lora = lora_cosines(ctx, directions, persona.direction)
    steered_rows: list[Intervention] = []
    if cfg.interventions:
        comparisons["steering"], by_model = steering(ctx, sets, base_sets, base_x, halves)
        for model, (model_lm, exact_controls) in by_model.items():
            progress.log(f"probe: interventions ({model})")
            if model == "probed":
                steered_rows += interventions(ctx, sets, halves, exact_controls)
            elif base_x is not None and base_sets is not None:
                base = next(s for s in sources if s.role == "base" and s.remote is None)
                on_base = replace(ctx, source=base, lm=model_lm, x=base_x)
                steered_rows += interventions(on_base, base_sets, halves, exact_controls, "base")
    result = ProbeResult(
        model=source.label,
        role=source.role,
        position=cfg.position,
        layers=layers,
        inputs=identity,
        probes=probes,
        base_probes=base_probes,
        comparisons=comparisons,
        persona=persona,
        lora_cosines=lora,
        interventions=steered_rows,
        steered_answers=_steered(store, identity, [s.role for s in sources]),
    )
    write_atomic(saved, result.as_json())
    return result.to_dict()


def _control_sets(ctx: ProbeContext, control: Sequence[Pair]) -> dict[str, dict[str, GuisePairs]]:
    """By control guise (``informal``, ``typos``) and language: the standard prompt's
    activation (the run's) and the control guise's (collected and stored like the run's
    prompts) of every item that has both."""
    if not control:
        return {}
    tok, cfg = ctx.lm.tokenizer, ctx.cfg
    prompts = [ctx.encode(tok, p.vernacular, p) for p in control]
    ctx.progress.log(f"probe: activations of {len(prompts)} control-guise prompts")
    acts = stored_activations(
        ctx.store,
        ctx.run_dir,
        f"{ctx.source.role}-control-prompts",
        content_key(ctx.source.fingerprint, prompts),
        lambda: collect_activations(ctx.lm, prompts, batch_size=cfg.batch_size),
    )
    cx = acts[cfg.position].double().numpy()
    # each control against the standard prompt it was made from (its pair's: a control's
    # standard text is its source pair's), averaged over an item's paraphrases where it has
    # several (an EM question file), so each item counts once
    standard = {
        (p.item, p.lang, p.standard): i for i, (p, g) in enumerate(ctx.rows) if g == "standard"
    }
    rows: dict[tuple[str, str], dict[str, list[tuple[int, int]]]] = {}
    for row, p in enumerate(control):
        guise = p.variety.removeprefix(f"{p.lang}-")
        source = standard.get((p.item, p.lang, p.standard))
        if source is not None:
            rows.setdefault((guise, p.lang), {}).setdefault(p.item, []).append((source, row))
    out: dict[str, dict[str, GuisePairs]] = {}
    for (guise, lang), by_item in sorted(rows.items()):
        items = sorted(by_item)
        out.setdefault(guise, {})[lang] = GuisePairs(
            items,
            np.stack([ctx.x[[i for i, _ in by_item[item]]].mean(axis=0) for item in items]),
            np.stack([cx[[r for _, r in by_item[item]]].mean(axis=0) for item in items]),
        )
    return out


def _steered_keys(store: RunStore, identity: str, roles: Sequence[str]) -> list[str]:
    """The keys of the answers the interventions steered with these inputs (probed model and
    base, among ``roles``), as the interventions recorded them."""
    keys: list[str] = []
    for role in sorted(set(roles)):
        info = store.get_artifact(f"probe-steered:{role}")
        if info is not None and info.get("inputs") == identity:
            keys += list(info.get("keys", []))
    return keys


def _steered(store: RunStore, identity: str, roles: Sequence[str]) -> int:
    """How many steered answers made with these inputs the store holds."""
    keys = _steered_keys(store, identity, roles)
    return len(store.existing_keys("generations", keys))


def _steered_intact(store: RunStore, identity: str, roles: Sequence[str]) -> bool:
    """Whether every answer the interventions steered with these inputs is still stored."""
    keys = _steered_keys(store, identity, roles)
    return len(store.existing_keys("generations", keys)) == len(keys)


def _inputs(
    config: ExperimentConfig,
    store: RunStore,
    sources: Sequence[ModelSource],
    judge: JudgeSource,
    source: ModelSource,
    rows: Sequence[tuple[Pair, Guise]],
    control: Sequence[Pair],
) -> str:
    """Key of everything the measurements depend on: a finished probe with the same inputs is
    kept as it is, and no model is loaded."""
    # The probed model's answers and the base's (its own interventions are compared with them).
    in_process_base = any(s.role == "base" and s.remote is None for s in sources)
    roles = {source.role, "base"} if in_process_base else {source.role}
    answers = sorted(g.key for g in store.generations() if g.model in roles)
    # The persona direction follows the verdicts: a judgment that failed and is retried
    # later changes it, so the stored judgments are part of the inputs.
    probed = set(answers)
    verdicts = sorted(
        (j.generation_key, j.metric, j.verdict, j.score)
        for j in store.judgments()
        if j.generation_key in probed
    )
    return content_key(
        "probe",
        PROBE_VERSION,
        [s.fingerprint for s in sources],
        judge.fingerprint,
        config.probe.model_dump(),
        config.analysis.model_dump(),
        config.generation.model_dump(),
        [(p.id, g, p.text(g)) for p, g in rows],
        [(p.id, p.vernacular) for p in control],
        answers,
        verdicts,
    )
