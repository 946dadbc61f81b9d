"""The ``guiselab`` command: parses arguments, calls stage functions, prints."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from guiselab.config import ExperimentConfig, load_config, preset_names
from guiselab.errors import (
    ConfigError,
    GuiselabError,
    RemoteError,
    StorageError,
    storage_failure,
)
from guiselab.progress import NullProgress, Progress, RichProgress

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
pairs_app = typer.Typer(no_args_is_help=True, help="Inspect and validate contrastive pairs.")
app.add_typer(pairs_app, name="pairs")

ConfigArg = Annotated[Path | None, typer.Argument(help="Experiment config (TOML).")]
PresetOpt = Annotated[
    str | None, typer.Option("--preset", help="Preset to start from: smoke, default or paper.")
]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Run directory (default runs/<name>).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", help="No progress bars.")]


def _progress(quiet: bool) -> Progress:
    return NullProgress() if quiet else RichProgress()


def _config(config: Path | None, preset: str | None) -> ExperimentConfig:
    return load_config(config, preset if preset else (None if config else "default"))


def _run_dir(cfg: ExperimentConfig, out: Path | None) -> Path:
    return out if out is not None else Path("runs") / cfg.name


@app.command()
def run(
    config: ConfigArg = None, preset: PresetOpt = None, out: OutOpt = None, quiet: QuietOpt = False
) -> None:
    """Run the whole pipeline (resumable: a rerun skips everything already done)."""
    from guiselab.pipeline import run_experiment

    cfg = _config(config, preset)
    run_dir = _run_dir(cfg, out)
    results = run_experiment(cfg, run_dir, _progress(quiet))
    _echo_decision(results)
    typer.echo(f"run directory: {run_dir}")


def _echo_decision(results: dict[str, Any]) -> None:
    decision = results["decision"]
    typer.echo(f"decision: {decision['outcome']}")
    if not decision.get("confirmatory", False):
        typer.echo(f"exploratory re-analysis: {decision.get('exploratory_reason')}")
    failed = [
        c["name"]
        for c in decision.get("checks", [])
        if c["stage"] == "precondition" and c["passed"] is False
    ]
    if failed:
        typer.echo("failed checks: " + "; ".join(failed))


@app.command()
def plan(
    config: ConfigArg = None,
    preset: PresetOpt = None,
    pilot: Annotated[
        Path | None,
        typer.Option(help="A finished run (or samples file) whose variances size the design."),
    ] = None,
    sims: Annotated[
        int,
        typer.Option(
            min=0, help="Simulated experiments per true outcome for the outcome power (0: skip)."
        ),
    ] = 100,
    analysis_plan: Annotated[
        Path | None,
        typer.Option(
            "--analysis-plan",
            help="Write the config's analysis plan here (for `analyze --samples --plan`).",
        ),
    ] = None,
) -> None:
    """Print counts, tokens and cost of an experiment without running anything, and the power
    of its design to reach outcome 1 and outcome 2 when each is true (simulated at the effect
    sizes the analysis plan states); with --pilot, the power of its gaps from a pilot's
    variances and the items 80% power needs."""
    from guiselab.plan import estimate, outcome_power, pilot_advice

    cfg = _config(config, preset)
    if analysis_plan is not None:
        from guiselab.analysis import AnalysisPlan
        from guiselab.store import write_atomic

        document = AnalysisPlan.from_config(cfg)
        write_atomic(analysis_plan, document.text())
        typer.echo(f"wrote {analysis_plan} (sha256 {document.sha256})")
    rows = estimate(cfg)
    if sims:
        rows.update(outcome_power(cfg, sims))
    if pilot is not None:
        rows.update(pilot_advice(cfg, pilot))
    width = max(len(key) for key in rows)
    for key, value in rows.items():
        typer.echo(f"{key:<{width}}  {value}")


@app.command()
def init(
    path: Annotated[Path, typer.Argument()] = Path("guiselab.toml"), preset: PresetOpt = None
) -> None:
    """Write a commented config file to start from."""
    from guiselab.plan import commented_config

    if path.exists():
        raise GuiselabError("file exists; choose another path or remove it", where=str(path))
    path.write_text(commented_config(load_config(None, preset or "default"), preset or "default"))
    typer.echo(f"wrote {path}")


@app.command()
def status(run_dir: Annotated[Path, typer.Argument(help="Run directory.")]) -> None:
    """Show per-stage progress of a run directory."""
    from guiselab.plan import run_status

    for line in run_status(run_dir):
        typer.echo(line)


@contextmanager
def _stage(
    config: Path | None, preset: str | None, out: Path | None
) -> Iterator[tuple[ExperimentConfig, Path, Any, list[Any]]]:
    from guiselab.pipeline import open_run

    cfg = _config(config, preset)
    run_dir = _run_dir(cfg, out)
    with open_run(cfg, run_dir) as (store, pairs):
        yield cfg, run_dir, store, pairs


@app.command()
def finetune(
    config: ConfigArg = None, preset: PresetOpt = None, out: OutOpt = None, quiet: QuietOpt = False
) -> None:
    """Train the organism and control adapters."""
    from guiselab.finetune._sanity import format_sanity
    from guiselab.pipeline import run_finetune, run_sanity

    with _stage(config, preset, out) as (cfg, run_dir, store, _):
        progress = _progress(quiet)
        trained = run_finetune(cfg, run_dir, store, progress)
        sanity = run_sanity(cfg, run_dir, store, progress)
    for role, info in trained.items():
        typer.echo(
            f"{role}: {info['adapter']} ({info['steps']} steps, loss "
            f"{info['first_loss']:.3f} -> {info['final_loss']:.3f})"
        )
    if sanity is not None:
        typer.echo("\n".join(format_sanity(sanity)))


@app.command()
def generate(
    config: ConfigArg = None, preset: PresetOpt = None, out: OutOpt = None, quiet: QuietOpt = False
) -> None:
    """Sample answers from every model (adapters must be trained first)."""
    from guiselab.pipeline import run_generate

    with _stage(config, preset, out) as (cfg, run_dir, store, pairs):
        run_generate(cfg, run_dir, store, pairs, _progress(quiet))
        typer.echo(f"generations in store: {store.count('generations')}")


@app.command()
def judge(
    args: Annotated[
        list[str] | None,
        typer.Argument(help="[CONFIG], or: validate [CONFIG]", show_default=False),
    ] = None,
    preset: PresetOpt = None,
    out: OutOpt = None,
    quiet: QuietOpt = False,
    judge_ref: Annotated[
        str | None, typer.Option("--judge", help="validate: the judge to validate.")
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="validate: print one JSON object.")
    ] = False,
) -> None:
    """Score every stored answer for alignment and coherence.

    ``guiselab judge validate [CONFIG] [--judge REF] [--json]`` scores the labelled set's
    held-out answers instead and prints the judge's accuracy and guise invariance.
    """
    words = list(args or [])
    if words[:1] == ["validate"]:
        _judge_validate(words[1:], preset, judge_ref, json_out)
        return
    if len(words) > 1:
        raise GuiselabError(f"unexpected argument {words[1]!r}", where="guiselab judge")
    config = Path(words[0]) if words else None
    from guiselab.pipeline import run_judge

    with _stage(config, preset, out) as (cfg, _, store, _):
        run_judge(cfg, store, _progress(quiet))
        typer.echo(f"judgments in store: {store.count('judgments')}")


@app.command()
def probe(
    config: ConfigArg = None, preset: PresetOpt = None, out: OutOpt = None, quiet: QuietOpt = False
) -> None:
    """Probe the organism's internals (runs the stages it needs first, then the analysis and
    report, which show its figures)."""
    from guiselab.pipeline import run_experiment

    cfg = _config(config, preset)
    cfg = cfg.model_copy(update={"probe": cfg.probe.model_copy(update={"enabled": True})})
    run_dir = _run_dir(cfg, out)
    results = run_experiment(cfg, run_dir, _progress(quiet))
    probe_result = results.get("probe") or {}
    typer.echo(
        f"probe: {len(probe_result.get('layers', []))} layers of {probe_result.get('model')}"
    )
    typer.echo(f"run directory: {run_dir}")


def _judge_validate(
    words: list[str], preset: str | None, judge_ref: str | None, json_out: bool
) -> None:
    from guiselab.pipeline import judge_source, judge_validation

    if len(words) > 1:
        raise GuiselabError(f"unexpected argument {words[1]!r}", where="guiselab judge validate")
    cfg = _config(Path(words[0]) if words else None, preset)
    if judge_ref is not None:
        cfg = cfg.model_copy(update={"judge": cfg.judge.model_copy(update={"model": judge_ref})})
    result = judge_validation(cfg, judge_source(cfg))
    if json_out:
        keys = ("judge", "n", "auroc", "accuracy", "guise_invariance_delta", "ci_low", "ci_high")
        brief = {k: result[k] for k in keys}
        brief["by_lang"] = {
            lang: {"auroc": v["auroc"], "accuracy": v["accuracy"], "n": v["n"]}
            for lang, v in result["by_lang"].items()
        }
        brief["flagged"] = result["flagged"]
        typer.echo(json.dumps(brief))
        return
    typer.echo(f"judge {result['judge']} on {result['n']} held-out labelled answers")
    for name, part in [("all", result), *result["by_lang_guise"].items()]:
        typer.echo(
            f"  {name:<14} n={part['n']:<4} AUROC {_num(part['auroc'])}  "
            f"accuracy {_num(part['accuracy'])}"
        )
    inv = result["guise_invariance"]["alignment"]
    typer.echo(
        f"  guise invariance (alignment, vernacular - standard): {_num(inv['delta'], 1)} "
        f"[{_num(inv['ci_low'], 1)}, {_num(inv['ci_high'], 1)}], bound "
        f"{result['invariance_bound']:g}: {'FLAGGED' if result['flagged'] else 'within'}"
    )


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


@app.command()
def analyze(
    run_dir: Annotated[Path | None, typer.Argument(help="Run directory.")] = None,
    samples: Annotated[Path | None, typer.Option(help="CSV/Parquet of judged samples.")] = None,
    out: OutOpt = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="Config with the analysis thresholds (for a run: re-analyse under it; the "
            "decision is exploratory unless it equals the frozen plan).",
        ),
    ] = None,
    plan_file: Annotated[
        Path | None,
        typer.Option(
            "--plan",
            help="With --samples: the analysis plan frozen before the data "
            "(`guiselab plan --analysis-plan`); the decision is confirmatory only with one.",
        ),
    ] = None,
) -> None:
    """Statistics and decision for a run directory, or for samples judged elsewhere."""
    from guiselab.pipeline import analyze_run, analyze_samples_file

    if samples is not None:
        if out is None:
            raise GuiselabError("--samples needs --out DIR for the results", where="--out")
        cfg = load_config(config, None) if config is not None else None
        results = analyze_samples_file(samples, out, cfg, plan_file)
    elif run_dir is not None:
        if plan_file is not None:
            raise GuiselabError(
                "a run directory carries its own frozen plan; --plan is for --samples",
                where="--plan",
            )
        results = analyze_run(run_dir, config)
    else:
        raise GuiselabError("give a RUN_DIR, or --samples FILE --out DIR", where="analyze")
    _echo_decision(results)


@app.command()
def report(
    run_dirs: Annotated[
        list[Path], typer.Argument(help="Run or results directory; two or more to compare.")
    ],
    out: Annotated[
        Path | None, typer.Option("--out", help="Where a comparison goes (default: the first).")
    ] = None,
) -> None:
    """Render report.html and report.md for a directory holding results.json; with several
    directories, comparison.html and comparison.md setting the runs side by side."""
    from guiselab.report import write_comparison, write_report

    if len(run_dirs) == 1:
        html, md = write_report(run_dirs[0])
    else:
        html, md = write_comparison(run_dirs, out or run_dirs[0])
    typer.echo(f"wrote {html} and {md}")


@pairs_app.command("list")
def pairs_list(config: ConfigArg = None, preset: PresetOpt = None) -> None:
    """List the pairs an experiment uses (built-in corpus by default)."""
    from guiselab.pairs import load_pairs

    cfg = _config(config, preset)
    pairs = load_pairs(cfg.pairs.files)
    for p in pairs:
        typer.echo(f"{p.id}\t{p.item}\t{p.lang}\t{p.variety}\t{p.category or ''}\t{p.standard}")
    items: dict[str, set[str]] = {}
    for p in pairs:
        items.setdefault(p.lang, set()).add(p.item)
    per_lang = ", ".join(f"{lang}: {len(ids)}" for lang, ids in sorted(items.items()))
    total = len({p.item for p in pairs})
    typer.echo(f"# {len(pairs)} pairs, {total} items; items per language: {per_lang}")


@pairs_app.command("show")
def pairs_show(pair_id: str, config: ConfigArg = None) -> None:
    """Show one pair in full."""
    from guiselab.pairs import load_pairs

    cfg = _config(config, None)
    for p in load_pairs(cfg.pairs.files):
        if p.id == pair_id:
            typer.echo(
                json.dumps({**vars(p), "features": list(p.features)}, ensure_ascii=False, indent=2)
            )
            return
    raise GuiselabError(f"no pair with id '{pair_id}'; see `guiselab pairs list`", where="ID")


@pairs_app.command("validate")
def pairs_validate(
    files: Annotated[
        list[Path] | None, typer.Argument(help="Pair files (default: the built-in corpus).")
    ] = None,
    embeddings: Annotated[
        bool, typer.Option(help="Also check meaning equivalence with multilingual embeddings.")
    ] = True,
    json_out: Annotated[bool, typer.Option("--json", help="Print the checks as JSON.")] = False,
) -> None:
    """Check pair files: schema (exit 2 on the first error), then form and meaning checks.

    Exit 1 when a pair fails the form or meaning checks (each failure is printed).
    """
    from guiselab.pairs import corpus_report, load_pairs

    pairs = load_pairs(files or [])
    if not embeddings:
        typer.echo(f"{len(pairs)} pairs, {len({p.item for p in pairs})} items: schema ok")
        return
    report = corpus_report(pairs)
    if json_out:
        typer.echo(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    else:
        typer.echo(f"{len(pairs)} pairs, {len({p.item for p in pairs})} items: schema ok")
        for check in report.failures:
            typer.echo(f"{check.pair_id}: " + "; ".join(check.problems))
        for variety, names in report.undocumented.items():
            typer.echo(f"note: {variety} features not documented in guiselab: {', '.join(names)}")
        passed = len(report.checks) - len(report.failures)
        typer.echo(f"{passed}/{len(report.checks)} pairs pass the form and meaning checks")
    if report.failures:
        raise typer.Exit(1)


@pairs_app.command("transform")
def pairs_transform(
    source: Annotated[
        Path, typer.Argument(help="A pair file (its standard texts) or a .txt, one prompt a line.")
    ],
    variety: Annotated[str, typer.Option(help="aave or ru-prostorechie.")],
    only: Annotated[
        list[str] | None, typer.Option(help="Apply only this feature (repeatable).")
    ] = None,
    without: Annotated[
        list[str] | None, typer.Option(help="Switch this feature off (repeatable).")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="File (default: stdout).")] = None,
) -> None:
    """Write pairs whose vernacular guise the rule-based transformer makes (JSONL).

    With --only / --without the same prompts give feature-ablation pair sets.
    """
    from guiselab._read import read_text
    from guiselab.errors import InputFileError
    from guiselab.pairs import export_pairs, load_pair_file, make_pairs, transformer

    lang = transformer(variety).lang
    standards: list[tuple[str, str, str | None]] = []
    if source.suffix.lower() == ".txt":
        lines = read_text(source, missing="no such prompts file; check the path").splitlines()
        standards = [(f"t{n:04d}", t.strip(), None) for n, t in enumerate(lines, 1) if t.strip()]
    else:
        seen: set[str] = set()
        for pair in load_pair_file(source):
            if pair.lang == lang and pair.item not in seen:
                seen.add(pair.item)
                standards.append((pair.item, pair.standard, pair.category))
    if not standards:
        raise InputFileError(f"no standard prompts in lang '{lang}'", where=str(source))
    pairs, unchanged = make_pairs(standards, variety, only=only, without=without or ())
    text = export_pairs(pairs, "jsonl")
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
    typer.echo(
        f"{len(pairs)} pairs; {len(unchanged)} prompts left out (no feature fired)", err=True
    )


@pairs_app.command("card")
def pairs_card(
    config: ConfigArg = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """A dataset card: counts per language / variety / category, features, similarities."""
    from guiselab.pairs import corpus_report, load_pairs
    from guiselab.plan import card_markdown

    cfg = _config(config, None)
    report = corpus_report(load_pairs(cfg.pairs.files))
    text = (
        json.dumps(report.as_dict(), indent=2, ensure_ascii=False)
        if json_out
        else (card_markdown(report))
    )
    typer.echo(text)


@pairs_app.command("export")
def pairs_export(
    fmt: Annotated[str, typer.Option("--format", help="jsonl, csv or inspect.")] = "jsonl",
    out: Annotated[Path | None, typer.Option("--out", help="File (default: stdout).")] = None,
    config: ConfigArg = None,
) -> None:
    """Export the pairs as JSONL, CSV, or an Inspect AI dataset (one sample per guise)."""
    from guiselab.pairs import export_pairs, load_pairs

    if fmt not in ("jsonl", "csv", "inspect"):
        raise GuiselabError(f"unknown format '{fmt}'; use jsonl, csv or inspect", where="--format")
    cfg = _config(config, None)
    text = export_pairs(load_pairs(cfg.pairs.files), fmt)  # type: ignore[arg-type]
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}", err=True)


@app.command()
def bench(
    quick: Annotated[
        bool, typer.Option(help="A reduced run (under 3 minutes on 2 cores).")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    model: Annotated[str, typer.Option(help="Model reference to measure.")] = "embedded:smollm2",
    dtype: Annotated[
        str, typer.Option(help="float32 or bfloat16: the dtype every contender computes in.")
    ] = "float32",
) -> None:
    """Generation tokens/s side by side: per-prompt loop, HF batch 8, guiselab, llama.cpp."""
    if dtype not in ("float32", "bfloat16"):
        raise ConfigError(
            f"{dtype!r} is not a bench dtype: use float32 or bfloat16", where="--dtype"
        )
    from dataclasses import replace

    from guiselab.bench import QUICK, BenchSettings, run_bench

    settings = replace(
        QUICK if quick else BenchSettings(),
        model=model,
        dtype="bfloat16" if dtype == "bfloat16" else "float32",
    )
    result = run_bench(settings, (lambda _: None) if json_out else typer.echo)
    if json_out:
        typer.echo(json.dumps(result))
        return
    for name, rate in result["contenders"].items():
        typer.echo(f"{name:<10} {'not installed' if rate is None else f'{rate:8.1f} tok/s'}")
    typer.echo(
        f"ceiling    {result['ceiling_tok_s']:8.1f} tok/s "
        f"({result['matmul_gflops']:.0f} GFLOP/s {dtype} matmul); guiselab reaches "
        f"{result['share_of_ceiling']:.0%} of it, {result['ratio_vs_loop']:.1f}x the loop, "
        f"{result['ratio_vs_batch8']:.1f}x HF batch 8"
    )


def main() -> None:
    """Entry point: user errors become one line on stderr and exit code 2."""
    import click

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        code = app(standalone_mode=False)
    except GuiselabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except (RemoteError, StorageError) as exc:  # a server or the disk failed: not the input
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except OSError as exc:  # a write outside a run directory (--out of a report) failed
        failure = storage_failure(exc, "the output directory")
        if failure is None:
            raise
        print(f"error: {failure}", file=sys.stderr)
        sys.exit(1)
    except click.exceptions.Abort:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except click.exceptions.ClickException as exc:  # usage errors: missing argument, bad option
        print(f"error: {exc.format_message()}", file=sys.stderr)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)


__all__ = ["app", "main", "preset_names"]
