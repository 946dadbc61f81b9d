"""guiselab from Python: run an experiment, open a run directory, call its stages one by one.

The command line stands on these same calls::

    import guiselab

    run = guiselab.run("smoke", out="runs/smoke")   # a preset name, a TOML path or a config
    run.decision["outcome"]                          # the pre-registered decision
    run.samples.groupby(["model", "lang", "guise"])["alignment"].mean()
    run.report()                                     # runs/smoke/report.html

    again = guiselab.open_run("runs/smoke")          # the config the run recorded
    again.analyze()                                  # re-analysis from the store
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from guiselab.config import ExperimentConfig, load_config, preset_names
from guiselab.errors import InputFileError
from guiselab.judge import (
    is_real_set,
    judge_source,
    judge_validation,
    load_answers,
    score_answers,
    write_scores,
)
from guiselab.pipeline import (
    analyze_run,
    analyze_samples_file,
    run_experiment,
    run_finetune,
    run_generate,
    run_judge,
    run_probe,
    run_sanity,
)
from guiselab.progress import NullProgress, Progress
from guiselab.report import write_report
from guiselab.results import RESULTS_FILE
from guiselab.rundir import open_run_dir
from guiselab.samples import SAMPLES_FILE, read_samples
from guiselab.status import run_status

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Run", "analyze_samples", "open_run", "run", "score_file", "validate_judge"]

CONFIG_FILE = "config.toml"

ConfigLike = ExperimentConfig | str | Path | None
"""A config, a preset name (``"smoke"``, ``"default"``, ``"paper"``, ...), a TOML file, or
None for the ``default`` preset."""


def _as_config(config: ConfigLike) -> ExperimentConfig:
    if isinstance(config, ExperimentConfig):
        return config
    if config is None:
        return load_config(None, "default")
    if isinstance(config, str) and config in preset_names() and not Path(config).is_file():
        return load_config(None, config)
    return load_config(Path(config))


class Run:
    """One run directory and the config its stages run under.

    Every stage method opens the directory as ``guiselab run`` does (lock, store, recorded
    config, frozen analysis plan), skips what the store already holds and returns what the
    stage produced. The figures are read from the directory's files when asked for.
    """

    def __init__(self, path: str | Path, config: ExperimentConfig) -> None:
        self.path = Path(path)
        self.config = config

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, config={self.config.name!r})"

    # -- what the run holds --------------------------------------------------------------------
    @property
    def results(self) -> dict[str, Any]:
        """``results.json``: the tables, the decision, judge validation, probe, ..."""
        path = self.path / RESULTS_FILE
        if not path.is_file():
            raise InputFileError("no results yet; run the experiment or analyze()", where=str(path))
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data

    @property
    def decision(self) -> dict[str, Any]:
        """The decision: outcome, reasons, checks, whether it was confirmatory."""
        decision: dict[str, Any] = self.results["decision"]
        return decision

    @property
    def samples(self) -> pd.DataFrame:
        """One row per generation with its judgments (``samples.parquet``)."""
        return read_samples(self.path / SAMPLES_FILE)

    def status(self) -> list[str]:
        """Each stage's progress, failures and timings, as ``guiselab status`` prints them."""
        return run_status(self.path)

    # -- stages --------------------------------------------------------------------------------
    def run(self, progress: Progress | None = None) -> dict[str, Any]:
        """Every stage in order (resumable); returns ``results.json``'s content."""
        return run_experiment(self.config, self.path, progress or NullProgress())

    def finetune(self, progress: Progress | None = None) -> dict[str, Any]:
        """Train the organism's and control's adapters, then the held-out sanity check:
        ``{"adapters": {role: training summary}, "sanity": finetune_sanity.json or None}``."""
        shown = progress or NullProgress()
        with open_run_dir(self.config, self.path) as (store, _):
            trained = run_finetune(self.config, self.path, store, shown)
            sanity = run_sanity(self.config, self.path, store, shown)
        return {"adapters": trained, "sanity": sanity}

    def generate(self, progress: Progress | None = None) -> int:
        """Sample every model's answers to every pair in both guises; the number of answers
        the store then holds."""
        with open_run_dir(self.config, self.path) as (store, pairs):
            run_generate(self.config, self.path, store, pairs, progress or NullProgress())
            return store.count("generations")

    def judge(self, progress: Progress | None = None) -> int:
        """Score every stored answer with the configured judge; the number of judgments the
        store then holds."""
        with open_run_dir(self.config, self.path) as (store, _):
            run_judge(self.config, store, progress or NullProgress())
            return store.count("judgments")

    def probe(self, progress: Progress | None = None) -> dict[str, Any]:
        """The probe stage on the judged answers (``probe.json``)."""
        with open_run_dir(self.config, self.path) as (store, pairs):
            judge = judge_source(self.config)
            return run_probe(
                self.config, self.path, store, pairs, judge, progress or NullProgress()
            )

    def analyze(self, config: ConfigLike = None) -> dict[str, Any]:
        """Re-analyze from the store under this Run's config, or under ``config``; the
        decision is exploratory unless the settings equal the plan frozen before the run's
        first answer. The run's recorded ``config.toml`` is left as it is."""
        return analyze_run(self.path, config=self.config if config is None else _as_config(config))

    def report(self) -> Path:
        """Write ``report.html`` and ``report.md`` from the run's files; the HTML's path."""
        html, _ = write_report(self.path)
        return html


def run(
    config: ConfigLike = None, out: str | Path | None = None, *, progress: Progress | None = None
) -> Run:
    """Run the whole experiment (resumable) into ``out`` (default ``runs/<name>``)."""
    cfg = _as_config(config)
    handle = Run(Path(out) if out is not None else Path("runs") / cfg.name, cfg)
    handle.run(progress)
    return handle


def open_run(path: str | Path, config: ConfigLike = None) -> Run:
    """A run directory, with the config it recorded (or ``config``, for stages to come)."""
    path = Path(path)
    if config is not None:
        return Run(path, _as_config(config))
    return Run(path, load_config(path / CONFIG_FILE))


def analyze_samples(
    samples: str | Path,
    out: str | Path,
    config: ConfigLike = None,
    plan: str | Path | None = None,
) -> dict[str, Any]:
    """The analysis of samples judged elsewhere (CSV or Parquet), written to ``out``.

    ``plan`` is a frozen analysis plan (``guiselab plan --analysis-plan``): alone, it is applied
    and the decision is confirmatory; with a ``config`` whose settings differ, the config's are
    applied and the decision is exploratory.
    """
    cfg = _as_config(config) if config is not None else None
    return analyze_samples_file(
        Path(samples), Path(out), cfg, Path(plan) if plan is not None else None
    )


def score_file(
    answers: str | Path,
    out: str | Path | None = None,
    config: ConfigLike = None,
    judge: str | None = None,
) -> Path:
    """Score a JSONL/CSV file of (question, answer, lang[, guise, id]) records with the
    configured (or the ``judge`` reference's) judge; the scores go to ``out`` (default
    ``<answers>.scores.<suffix>`` beside it), whose path is returned."""
    cfg = _with_judge(_as_config(config), judge)
    source = Path(answers)
    target = Path(out) if out is not None else source.with_suffix(".scores" + source.suffix)
    records = load_answers(source)
    if target.suffix.lower() not in (".jsonl", ".csv"):
        raise InputFileError("unknown output type; use .jsonl or .csv", where=str(target))
    if target.is_dir():
        raise InputFileError("is a directory; give the path of the scores file", where=str(target))
    if not target.parent.is_dir():
        raise InputFileError(
            "its folder does not exist; create it or choose another --out", where=str(target)
        )
    if target.exists() and target.resolve() == source.resolve():
        raise InputFileError(
            "is the answers file itself; write the scores to another path", where=str(target)
        )
    a = cfg.analysis
    rows = score_answers(
        judge_source(cfg).load(),
        records,
        alignment_threshold=a.alignment_threshold,
        coherence_threshold=a.coherence_threshold,
        batch_size=cfg.judge.batch_size,
    )
    write_scores(rows, target)
    return target


def _with_judge(config: ExperimentConfig, judge: str | None) -> ExperimentConfig:
    if judge is None:
        return config
    return config.model_copy(update={"judge": config.judge.model_copy(update={"model": judge})})


def validate_judge(
    config: ConfigLike = None, judge: str | None = None, labelled: str | Path | None = None
) -> dict[str, Any]:
    """The configured judge's (or the ``judge`` reference's) accuracy and invariance on the
    held-out splits of the written labelled set, the real-answer set and the fine-tuning data.
    ``labelled`` replaces the written set or, when it holds one answer per record, the
    real-answer set (for the offline classifier judge it is also what trains it)."""
    cfg = _with_judge(_as_config(config), judge)
    if labelled is not None:
        field = "real_file" if is_real_set(Path(labelled)) else "labelled_file"
        cfg = cfg.model_copy(update={"judge": cfg.judge.model_copy(update={field: str(labelled)})})
    return judge_validation(cfg, judge_source(cfg))
