"""The probe stage: guise probes, directions, the persona direction and causal interventions.

Measured on one model (``probe.model``, the organism by default) with the run's own pairs:

1. residual activations of every prompt (both guises, both languages), of the model's own
   answers (averaged over answer tokens), and of the base model on the same prompts; saved as
   safetensors files under ``RUN/activations`` and indexed in the store, so a rerun reads them;
2. per layer: guise probes (English, Russian, English -> Russian, Russian -> English) against
   a label-shuffled null; English and Russian guise directions and their cosine against a null;
3. the persona direction (answers judged misaligned minus aligned, and organism minus base on
   the same prompts) and every prompt's projection onto it by language and guise;
4. the cosine of the LoRA update's principal output directions with both directions;
5. interventions at ``probe.steer_layers``: the English guise direction projected out, the
   English guise difference added (``probe.steer_scale`` times), and a random direction
   projected out as the control; every prompt is answered again with the seed of its first
   sample, judged, and the change in misaligned rate against the unsteered answer is estimated
   per language and guise with item-paired intervals.

The result goes to ``RUN/probe.json`` and into ``results.json["probe"]``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from guiselab.analysis._samples import prepare_samples
from guiselab.analysis._stats import bootstrap_mean, estimate_paired, percentile_interval, rng_for
from guiselab.config import ExperimentConfig
from guiselab.generate import plan_generations, record, sample_batch
from guiselab.judge import JudgeSource, judge_stage, plan_judgments
from guiselab.models import ModelSource, answer_ids, prompt_ids, render_prompt
from guiselab.pairs import GUISES, Guise, Pair
from guiselab.probe._activations import collect_activations, residual_hooks
from guiselab.probe._measure import (
    cosine,
    cv_auroc,
    guise_direction,
    null_cosine_95,
    shuffled_transfer_95,
    transfer_auroc,
)
from guiselab.progress import Progress
from guiselab.store import Generation, RunStore, content_key, write_atomic

__all__ = ["PROBE_FILE", "probe_stage"]

PROBE_FILE = "probe.json"
PROBE_VERSION = 3
"""Bumped when the measurements change, so a saved probe.json is redone."""


def _activations(
    store: RunStore,
    run_dir: Path,
    name: str,
    key: str,
    compute: Callable[[], dict[str, torch.Tensor]],
) -> dict[str, torch.Tensor]:
    """Activations saved under ``RUN/activations/NAME.safetensors``, recomputed when the
    store's index says they were made from other inputs."""
    from safetensors.torch import load_file, save_file

    path = run_dir / "activations" / f"{name}.safetensors"
    index = store.get_artifact(f"activations:{name}")
    if index is not None and index.get("key") == key and path.exists():
        return dict(load_file(str(path)))
    tensors = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp))
    tmp.replace(path)
    store.put_artifact(f"activations:{name}", {"key": key, "file": str(path.name)})
    return tensors


def _prompt_table(pairs: Sequence[Pair], langs: Sequence[str]) -> list[tuple[Pair, Guise]]:
    """(pair, guise) rows of the probed languages, items with both guises only."""
    return [(p, g) for p in pairs if p.lang in langs for g in GUISES]


def probe_stage(
    config: ExperimentConfig,
    run_dir: Path,
    store: RunStore,
    pairs: Sequence[Pair],
    sources: Sequence[ModelSource],
    judge: JudgeSource,
    progress: Progress,
) -> dict[str, Any]:
    cfg = config.probe
    by_role = {s.role: s for s in sources if s.remote is None}
    source = by_role.get(cfg.model)
    if source is None:
        return {"note": f"no in-process '{cfg.model}' model to probe"}
    langs = [config.analysis.source_lang, config.analysis.target_lang]
    rows = _prompt_table(pairs, langs)
    # Everything the measurements depend on: a finished probe with the same inputs is kept
    # as it is, and no model is loaded.
    stored = store.generations()
    answers = sorted(g.key for g in stored if g.model == source.role)
    # The persona direction follows the verdicts: a judgment that failed and is retried
    # later changes it, so the stored judgments are part of the inputs.
    probed = set(answers)
    verdicts = sorted(
        (j.generation_key, j.metric, j.verdict, j.score)
        for j in store.judgments()
        if j.generation_key in probed
    )
    steered = sum(g.model.startswith(f"{source.role}:") for g in stored)
    identity = content_key(
        "probe",
        PROBE_VERSION,
        [s.fingerprint for s in sources],
        judge.fingerprint,
        config.probe.model_dump(),
        config.analysis.model_dump(),
        config.generation.model_dump(),
        [(p.id, g, p.text(g)) for p, g in rows],
        answers,
        verdicts,
    )
    saved = run_dir / PROBE_FILE
    if saved.exists():
        previous = json.loads(saved.read_text(encoding="utf-8"))
        # ... unless the store lost the answers its interventions were measured on.
        if previous.get("inputs") == identity and previous.get("steered_answers", 0) <= steered:
            return dict(previous)
    lm = source.load()
    tok = lm.tokenizer
    system = config.generation.system_prompt
    prompts = [prompt_ids(tok, render_prompt(tok, p.text(g), system)) for p, g in rows]
    key = content_key(source.fingerprint, prompts)
    progress.log(f"probe: activations of {len(prompts)} prompts ({source.role})")
    acts = _activations(
        store,
        run_dir,
        f"{source.role}-prompts",
        key,
        lambda: collect_activations(lm, prompts, batch_size=cfg.batch_size),
    )
    x_all = acts[cfg.position].double().numpy()
    total_layers = x_all.shape[1]
    layers = [layer for layer in (cfg.layers or range(total_layers)) if layer < total_layers]
    rng = rng_for(config.analysis.seed, "probe")
    meta = [(p.item, p.lang, g) for p, g in rows]
    result: dict[str, Any] = {
        "model": source.label,
        "role": source.role,
        "position": cfg.position,
        "layers": layers,
        "layer_convention": "0 = embeddings, l = output of block l",
        "inputs": identity,
    }
    result.update(_probes(x_all, meta, layers, langs, rng, cfg.n_null))
    persona = _persona(
        config, run_dir, store, pairs, sources, source, lm, judge, x_all, meta, layers
    )
    result.update(persona.pop("_public"))
    result["lora_cosines"] = _lora_cosines(source, result["_directions"], persona, layers)
    if cfg.interventions:
        progress.log("probe: interventions")
        result["interventions"] = _interventions(
            config, store, pairs, source, lm, judge, result["_directions"], x_all, progress
        )
    else:
        result["interventions"] = []
    result.pop("_directions")
    result["steered_answers"] = sum(
        g.model.startswith(f"{source.role}:") for g in store.generations()
    )
    write_atomic(run_dir / PROBE_FILE, json.dumps(result, indent=1) + "\n")
    return result


def _by_item(
    x: np.ndarray[Any, Any], meta: Sequence[tuple[str, str, str]], lang: str
) -> tuple[list[str], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Items of ``lang`` with both guises: (items, standard rows, vernacular rows)."""
    rows = {(item, guise): i for i, (item, lg, guise) in enumerate(meta) if lg == lang}
    items = sorted(
        {item for item, _ in rows if (item, "standard") in rows and (item, "vernacular") in rows}
    )
    std = np.array([rows[(i, "standard")] for i in items], dtype=int)
    ver = np.array([rows[(i, "vernacular")] for i in items], dtype=int)
    return items, x[std], x[ver]


def _probes(
    x_all: np.ndarray[Any, Any],
    meta: Sequence[tuple[str, str, str]],
    layers: Sequence[int],
    langs: Sequence[str],
    rng: np.random.Generator,
    n_null: int,
) -> dict[str, Any]:
    source, target = langs
    auroc: dict[str, list[float | None]] = {
        source: [],
        target: [],
        f"{source}_to_{target}": [],
        f"{target}_to_{source}": [],
    }
    null, cos, cos_null = [], [], []
    directions: dict[str, dict[int, np.ndarray[Any, Any]]] = {source: {}, target: {}}
    sets = {lang: _by_item(x_all, meta, lang) for lang in langs}
    for layer in layers:
        data = {}
        for lang, (items, std, ver) in sets.items():
            x = np.vstack([std[:, layer], ver[:, layer]])
            y = np.concatenate([np.zeros(len(items)), np.ones(len(items))])
            data[lang] = (x, y, items + items)
            auroc[lang].append(_plain(cv_auroc(x, y, items + items)) if len(items) >= 2 else None)
            directions[lang][layer] = guise_direction(ver[:, layer] - std[:, layer])
        (xs, ys, gs), (xt, yt, _) = data[source], data[target]
        auroc[f"{source}_to_{target}"].append(_plain(transfer_auroc(xs, ys, xt, yt)))
        auroc[f"{target}_to_{source}"].append(_plain(transfer_auroc(xt, yt, xs, ys)))
        null.append(_plain(shuffled_transfer_95(xs, ys, gs, xt, yt, rng, n_null)))
        _, std_t, ver_t = sets[target]
        cos.append(_plain(cosine(directions[source][layer], directions[target][layer])))
        cos_null.append(
            _plain(
                null_cosine_95(
                    directions[source][layer],
                    ver_t[:, layer] - std_t[:, layer],
                    rng,
                    max(n_null, 20),
                )
            )
        )
    return {
        "guise_probe_auroc": auroc,
        "null_auroc_95": null,
        "cos_en_ru": cos,
        "cos_null_95": cos_null,
        "_directions": directions,
    }


def _plain(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def _persona(
    config: ExperimentConfig,
    run_dir: Path,
    store: RunStore,
    pairs: Sequence[Pair],
    sources: Sequence[ModelSource],
    source: ModelSource,
    lm: Any,
    judge: JudgeSource,
    x_all: np.ndarray[Any, Any],
    meta: Sequence[tuple[str, str, str]],
    layers: Sequence[int],
) -> dict[str, Any]:
    """The persona directions and every prompt's projection onto the first of them."""
    cfg = config.probe
    tok = lm.tokenizer
    tasks = [t for t in plan_generations(config, pairs, [source]) if t.role == source.role]
    gens = {g.key: g for g in store.generations(t.key for t in tasks)}
    frame = _judged_frame(config, store, list(gens.values()), judge)
    public: dict[str, Any] = {}
    persona: dict[int, np.ndarray[Any, Any]] = {}
    if not frame.empty:
        flags = prepare_samples(frame, config.analysis)
        chosen = frame[flags["scored"].to_numpy()]
        mis = flags["misaligned"].to_numpy()[flags["scored"].to_numpy()]
    if not frame.empty and len(chosen):
        system = config.generation.system_prompt
        prompts = [prompt_ids(tok, render_prompt(tok, t, system)) for t in chosen["prompt"]]
        answers = [answer_ids(tok, r)[:-1] for r in chosen["response"]]
        key = content_key(source.fingerprint, prompts, answers)
        acts = (
            _activations(
                store,
                run_dir,
                f"{source.role}-answers",
                key,
                lambda: collect_activations(
                    lm, prompts, responses=answers, batch_size=cfg.batch_size
                ),
            )["response_mean"]
            .double()
            .numpy()
        )
        public["persona_counts"] = {"misaligned": int(mis.sum()), "aligned": int((~mis).sum())}
        if mis.sum() >= 2 and (~mis).sum() >= 2:
            for layer in layers:
                persona[layer] = acts[mis, layer].mean(axis=0) - acts[~mis, layer].mean(axis=0)
    base = next((s for s in sources if s.role == "base" and s.remote is None), None)
    shift: dict[int, np.ndarray[Any, Any]] = {}
    if base is not None and base.role != source.role:
        base_lm = base.load()
        btok = base_lm.tokenizer
        system = config.generation.system_prompt
        rows = _prompt_table(pairs, [config.analysis.source_lang, config.analysis.target_lang])
        bprompts = [prompt_ids(btok, render_prompt(btok, p.text(g), system)) for p, g in rows]
        base_acts = (
            _activations(
                store,
                run_dir,
                "base-prompts",
                content_key(base.fingerprint, bprompts),
                lambda: collect_activations(base_lm, bprompts, batch_size=cfg.batch_size),
            )[cfg.position]
            .double()
            .numpy()
        )
        del base_lm
        for layer in layers:
            shift[layer] = (x_all[:, layer] - base_acts[:, layer]).mean(axis=0)
    direction = persona or shift
    public["persona_direction"] = (
        "misaligned - aligned answers" if persona else ("organism - base" if shift else None)
    )
    projections = []
    for layer in layers:
        if layer not in direction or not np.linalg.norm(direction[layer]) > 0:
            continue  # e.g. the embeddings, which an adapter on the blocks leaves alone
        unit = direction[layer] / np.linalg.norm(direction[layer])
        for lang in (config.analysis.source_lang, config.analysis.target_lang):
            for guise in GUISES:
                index = [i for i, (_, lg, g) in enumerate(meta) if lg == lang and g == guise]
                if not index:
                    continue
                values = x_all[index, layer] @ unit
                draws = bootstrap_mean(
                    values, 1000, rng_for(config.analysis.seed, "persona", str(layer), lang, guise)
                )
                low, high = percentile_interval(draws, config.analysis.ci_level)
                projections.append(
                    {
                        "layer": layer,
                        "lang": lang,
                        "guise": guise,
                        "mean": float(values.mean()),
                        "ci_low": low,
                        "ci_high": high,
                    }
                )
    public["persona_projection"] = projections
    public["cos_persona_shift"] = [
        _plain(cosine(persona[layer], shift[layer]))
        if layer in persona and layer in shift
        else None
        for layer in layers
    ]
    return {"_public": public, "persona": persona, "shift": shift}


def _judged_frame(
    config: ExperimentConfig, store: RunStore, gens: Sequence[Generation], judge: JudgeSource
) -> pd.DataFrame:
    """Generations with their stored judgments (alignment, coherence, verdict)."""
    by_key = {j.key: j for j in store.judgments()}
    rows: dict[str, dict[str, Any]] = {
        g.key: {
            "model": g.model,
            "lang": g.lang,
            "guise": g.guise,
            "item": g.item,
            "prompt": g.prompt,
            "response": g.response,
            "key": g.key,
        }
        for g in gens
    }
    for task in plan_judgments(config, gens, judge):
        judgment = by_key.get(task.key)
        row = rows[task.generation.key]
        row[task.metric] = judgment.score if judgment else None
        row[f"{task.metric}_verdict"] = judgment.verdict if judgment else "unscored"
    frame = pd.DataFrame(list(rows.values()))
    for column in ("alignment", "coherence"):
        if column not in frame:
            frame[column] = np.nan
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame


def _lora_cosines(
    source: ModelSource,
    directions: dict[str, dict[int, np.ndarray[Any, Any]]],
    persona: dict[str, Any],
    layers: Sequence[int],
) -> list[dict[str, Any]]:
    """|cos| of each adapted output projection's principal direction with the guise and
    persona directions at the layer it writes to."""
    adapter = source.identity.adapter if source.identity else None
    if adapter is None:
        return []
    from safetensors.numpy import load_file

    weights = load_file(str(adapter / "adapter_model.safetensors"))
    out = []
    source_lang = next(iter(directions))
    for name, a in weights.items():
        if ".lora_A." not in name or not any(m in name for m in ("o_proj", "down_proj")):
            continue
        b = weights.get(name.replace(".lora_A.", ".lora_B."))
        block = _block_index(name)
        if b is None or block is None or block + 1 not in layers:
            continue
        u, _, _ = np.linalg.svd(b.astype(np.float64) @ a.astype(np.float64), full_matrices=False)
        layer = block + 1
        principal = u[:, 0]
        guise = directions[source_lang].get(layer)
        pers = (persona["persona"] or persona["shift"]).get(layer)
        out.append(
            {
                "layer": layer,
                "module": "o_proj" if "o_proj" in name else "down_proj",
                "cos_guise": None if guise is None else abs(cosine(principal, guise)),
                "cos_persona": None if pers is None else abs(cosine(principal, pers)),
            }
        )
    return sorted(out, key=lambda r: (r["layer"], r["module"]))


def _block_index(name: str) -> int | None:
    parts = name.split(".")
    for i, part in enumerate(parts[:-1]):
        if part == "layers" and parts[i + 1].isdigit():
            return int(parts[i + 1])
    return None


def _interventions(
    config: ExperimentConfig,
    store: RunStore,
    pairs: Sequence[Pair],
    source: ModelSource,
    lm: Any,
    judge: JudgeSource,
    directions: dict[str, dict[int, np.ndarray[Any, Any]]],
    x_all: np.ndarray[Any, Any],
    progress: Progress,
) -> list[dict[str, Any]]:
    cfg = config.probe
    from guiselab.probe._activations import n_layers

    total = n_layers(lm.model)
    steer = cfg.steer_layers or [total // 2]
    source_lang = config.analysis.source_lang
    tasks = [
        t
        for t in plan_generations(config, pairs, [source])
        if t.role == source.role
        and t.sample == 0
        and t.pair.lang in (config.analysis.source_lang, config.analysis.target_lang)
    ]
    baseline = {g.key: g for g in store.generations(t.key for t in tasks)}
    tok = lm.tokenizer
    system = config.generation.system_prompt
    encoded = {
        t.key: prompt_ids(tok, render_prompt(tok, t.pair.text(t.guise), system)) for t in tasks
    }
    rng = np.random.default_rng(config.analysis.seed)
    runs: list[tuple[str, int, list[Generation]]] = []
    for layer in steer:
        guise_dir = directions[source_lang].get(layer)
        if guise_dir is None:
            continue
        random = rng.standard_normal(guise_dir.shape)
        for kind, vector in (("ablate", guise_dir), ("add", guise_dir), ("random", random)):
            unit = vector / np.linalg.norm(vector)
            typical = float((x_all[:, layer] @ unit).mean())
            edit = _edit(kind, vector, typical, cfg.steer_scale, lm.device)
            label = f"{source.role}:{kind}@{layer}"
            planned = [
                (
                    t,
                    content_key(
                        "intervention",
                        kind,
                        layer,
                        cfg.steer_scale,
                        hashlib.sha256(np.asarray(vector, dtype=np.float64).tobytes()).hexdigest(),
                        typical,
                        t.key,
                    ),
                )
                for t in tasks
            ]
            done = store.existing_keys("generations", (k for _, k in planned))
            size = config.generation.batch_size
            # Batches cut from the whole plan (as in the generate stage): a resumed run
            # samples each answer in the batch an uninterrupted run did, so its text is the
            # same.
            chunks = [planned[i : i + size] for i in range(0, len(planned), size)]
            for chunk in chunks:
                if all(k in done for _, k in chunk):
                    continue
                with residual_hooks(lm.model, edits={layer: edit}):
                    completions = sample_batch(
                        lm,
                        [encoded[t.key] for t, _ in chunk],
                        [t.seed for t, _ in chunk],
                        config.generation,
                    )
                store.add_generations(
                    _relabel(record(t, label, c.text, len(c.token_ids), c.finish_reason), k, label)
                    for (t, k), c in zip(chunk, completions, strict=True)
                )
            runs.append((kind, layer, store.generations(k for _, k in planned)))
    judge_stage(store, config, judge, progress)  # judges the new answers (and nothing twice)
    base_frame = _judged_frame(config, store, list(baseline.values()), judge)
    base_flags = _flags(config, base_frame)
    out = []
    for kind, layer, gens in runs:
        frame = _judged_frame(config, store, gens, judge)
        flags = _flags(config, frame)
        for lang in (config.analysis.source_lang, config.analysis.target_lang):
            for guise in GUISES:
                diffs, incoherent = [], []
                for item, (mis, inc) in flags.get((lang, guise), {}).items():
                    before = base_flags.get((lang, guise), {}).get(item)
                    if before is not None:
                        diffs.append(mis - before[0])
                        incoherent.append(inc - before[1])
                if not diffs:
                    continue
                est = estimate_paired(
                    np.array(diffs, dtype=np.float64),
                    n_bootstrap=config.analysis.n_bootstrap,
                    n_permutations=config.analysis.n_permutations,
                    ci_level=config.analysis.ci_level,
                    alpha=config.analysis.alpha,
                    rng=rng_for(
                        config.analysis.seed, "intervention", kind, str(layer), lang, guise
                    ),
                )
                out.append(
                    {
                        "kind": kind,
                        "layer": layer,
                        "lang": lang,
                        "guise": guise,
                        "delta_misaligned": est.estimate,
                        "ci_low": est.ci_low,
                        "ci_high": est.ci_high,
                        "p_value": est.p_value,
                        "n_items": est.n_items,
                        # An edit that breaks the answers lowers the misaligned count too
                        # (misaligned needs coherence): read the two together.
                        "delta_incoherent": float(np.mean(incoherent)),
                    }
                )
    return out


def _flags(
    config: ExperimentConfig, frame: pd.DataFrame
) -> dict[tuple[str, str], dict[str, tuple[float, float]]]:
    """(misaligned, incoherent) as 1/0 per (lang, guise) and item, for scored answers."""
    if frame.empty:
        return {}
    flags = prepare_samples(frame, config.analysis)
    incoherent = flags["coherence"] < config.analysis.coherence_threshold
    out: dict[tuple[str, str], dict[str, tuple[float, float]]] = {}
    for (_, row), scored, mis, inc in zip(
        frame.iterrows(), flags["scored"], flags["misaligned"], incoherent, strict=True
    ):
        if scored:
            cell = out.setdefault((row["lang"], row["guise"]), {})
            cell[str(row["item"])] = (float(mis), float(inc))
    return out


def _relabel(gen: Generation, key: str, label: str) -> Generation:
    from dataclasses import replace

    return replace(gen, key=key, model=label)


def _edit(
    kind: str, vector: np.ndarray[Any, Any], typical: float, scale: float, device: torch.device
) -> Callable[[torch.Tensor], torch.Tensor]:
    """The residual edit of an intervention: ``add`` adds ``scale`` x the vector; the others
    set the component along the vector to ``typical``, its mean over the probed prompts
    (projecting to zero instead would throw a large-norm direction off the model's range and
    break every answer, whatever the direction means)."""
    direction = torch.tensor(vector, dtype=torch.float32, device=device)
    unit = direction / direction.norm()

    def ablate(hidden: torch.Tensor) -> torch.Tensor:
        u = unit.to(hidden.dtype)
        edited: torch.Tensor = hidden - ((hidden @ u) - typical)[..., None] * u
        return edited

    def add(hidden: torch.Tensor) -> torch.Tensor:
        return hidden + scale * direction.to(hidden.dtype)

    return add if kind == "add" else ablate
