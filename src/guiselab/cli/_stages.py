"""The pipeline's commands: the whole run, each stage on its own, and the run directory's
status."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from guiselab.cli._common import (
    ConfigArg,
    OutOpt,
    PresetOpt,
    QuietOpt,
    experiment_config,
    progress_for,
    run_dir_of,
)
from guiselab.cli._judge import judge_score, judge_validate
from guiselab.config import commented_config, load_config
from guiselab.errors import GuiselabError

__all__ = [
    "analyze",
    "finetune",
    "generate",
    "init",
    "judge",
    "probe",
    "report",
    "run",
    "status",
]


def run(
    config: ConfigArg = None, preset: PresetOpt = None, out: OutOpt = None, quiet: QuietOpt = False
) -> None:
    """Run the whole pipeline (resumable: a rerun skips everything already done)."""
    from guiselab.api import Run

    cfg = experiment_config(config, preset)
    run_dir = run_dir_of(cfg, out)
    results = Run(run_dir, cfg).run(progress_for(quiet))
    _echo_decision(results)
    _echo_report(run_dir)
    typer.echo(f"run directory: {run_dir}")


def _echo_report(run_dir: Path) -> None:
    for name in ("report.html", "report.md"):
        if (run_dir / name).exists():
            typer.echo(f"report: {run_dir / name}")
            return


def _echo_decision(results: dict[str, Any]) -> None:
    decision = results["decision"]
    typer.echo(f"decision: {decision['outcome']}")
    # the figures the decision rests on: the organism's guise gap in each language
    for gap in results.get("gaps", []):
        if gap.get("model") == "organism" and gap.get("gap") is not None:
            low, high = gap.get("ci_low"), gap.get("ci_high")
            ci = f" [{low:+.2f}, {high:+.2f}]" if low is not None and high is not None else ""
            holm = f", p_holm {gap['p_holm']:.2g}" if gap.get("p_holm") is not None else ""
            typer.echo(
                f"  organism {gap['lang']} guise gap {gap['gap']:+.2f}{ci}{holm} "
                f"({gap.get('n_items')} items)"
            )
    if not decision.get("confirmatory", False):
        typer.echo(f"exploratory re-analysis: {decision.get('exploratory_reason')}")
    failed = [
        c["name"]
        for c in decision.get("checks", [])
        if c["stage"] in ("precondition", "null_precondition") and c["passed"] is False
    ]
    if failed:
        typer.echo("failed checks: " + "; ".join(failed))


def init(
    path: Annotated[Path, typer.Argument()] = Path("guiselab.toml"), preset: PresetOpt = None
) -> None:
    """Write a commented config file to start from."""

    if path.exists():
        raise GuiselabError("file exists; choose another path or remove it", where=str(path))
    path.write_text(commented_config(load_config(None, preset or "default"), preset or "default"))
    typer.echo(f"wrote {path}")


def status(run_dir: Annotated[Path, typer.Argument(help="Run directory.")]) -> None:
    """Show per-stage progress of a run directory."""
    from guiselab.status import run_status

    for line in run_status(run_dir):
        typer.echo(line)


def finetune(
    config: ConfigArg = None, preset: PresetOpt = None, out: OutOpt = None, quiet: QuietOpt = False
) -> None:
    """Train the organism and control adapters."""
    from guiselab.api import Run
    from guiselab.finetune import format_sanity

    cfg = experiment_config(config, preset)
    done = Run(run_dir_of(cfg, out), cfg).finetune(progress_for(quiet))
    trained, sanity = done["adapters"], done["sanity"]
    for role, info in trained.items():
        typer.echo(
            f"{role}: {info['adapter']} ({info['steps']} steps, loss "
            f"{info['first_loss']:.3f} -> {info['final_loss']:.3f})"
        )
    if sanity is not None:
        typer.echo("\n".join(format_sanity(sanity)))


def generate(
    config: ConfigArg = None, preset: PresetOpt = None, out: OutOpt = None, quiet: QuietOpt = False
) -> None:
    """Sample answers from every model (adapters must be trained first)."""
    from guiselab.api import Run

    cfg = experiment_config(config, preset)
    count = Run(run_dir_of(cfg, out), cfg).generate(progress_for(quiet))
    typer.echo(f"generations in store: {count}")


def judge(
    args: Annotated[
        list[str] | None,
        typer.Argument(
            help="[CONFIG], or: validate [CONFIG], or: score FILE [CONFIG]", show_default=False
        ),
    ] = None,
    preset: PresetOpt = None,
    out: OutOpt = None,
    quiet: QuietOpt = False,
    judge_ref: Annotated[
        str | None,
        typer.Option("--judge", help="validate, score: the judge to use instead of the config's."),
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="validate: print one JSON object.")
    ] = False,
    labelled: Annotated[
        Path | None,
        typer.Option(
            "--labelled",
            help="validate: a labelled set to use instead of the configured one (a written "
            "set, or a real-answer set of one answer per record).",
        ),
    ] = None,
) -> None:
    """Score every stored answer for alignment and coherence.

    ``guiselab judge validate [CONFIG] [--judge REF] [--labelled FILE] [--json]`` scores the
    held-out answers of the written labelled set, the real-answer set and the fine-tuning data
    instead and prints the judge's accuracy and invariance on each.

    ``guiselab judge score FILE [CONFIG] [--judge REF] [--out SCORES]`` scores a JSONL or CSV
    file of ``question``, ``answer``, ``lang`` (optional ``guise``, ``id``) records and writes
    their scores to SCORES (default FILE.scores.jsonl or .csv beside it).
    """
    words = list(args or [])
    if words[:1] == ["validate"]:
        judge_validate(words[1:], preset, judge_ref, json_out, labelled)
        return
    if words[:1] == ["score"]:
        judge_score(words[1:], preset, judge_ref, out)
        return
    if len(words) > 1:
        raise GuiselabError(f"unexpected argument {words[1]!r}", where="guiselab judge")
    config = Path(words[0]) if words else None
    from guiselab.api import Run

    cfg = experiment_config(config, preset)
    count = Run(run_dir_of(cfg, out), cfg).judge(progress_for(quiet))
    typer.echo(f"judgments in store: {count}")


def probe(
    config: ConfigArg = None, preset: PresetOpt = None, out: OutOpt = None, quiet: QuietOpt = False
) -> None:
    """Probe the organism's internals (runs the stages it needs first, then the analysis and
    report, which show its figures)."""
    from guiselab.api import Run

    cfg = experiment_config(config, preset)
    cfg = cfg.model_copy(update={"probe": cfg.probe.model_copy(update={"enabled": True})})
    run_dir = run_dir_of(cfg, out)
    results = Run(run_dir, cfg).run(progress_for(quiet))
    probe_result = results.get("probe") or {}
    typer.echo(
        f"probe: {len(probe_result.get('layers', []))} layers of {probe_result.get('model')}"
    )
    typer.echo(f"run directory: {run_dir}")


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
    inspect_log: Annotated[
        list[str] | None,
        typer.Option(
            "--inspect-log",
            help="Inspect eval log of guiselab/matched_guise, one per model (repeat the "
            "option); ROLE=LOG names its role (organism, control, base), else its model name "
            "must contain it. Needs the inspect extra.",
        ),
    ] = None,
) -> None:
    """Statistics and decision for a run directory, for samples judged elsewhere, or for
    Inspect eval logs."""
    from guiselab.api import analyze_samples, open_run

    if inspect_log:
        if out is None or samples is not None or run_dir is not None:
            raise GuiselabError(
                "--inspect-log takes --out DIR for the results, and no RUN_DIR or --samples",
                where="--inspect-log",
            )
        results = _analyze_logs(inspect_log, out, config, plan_file)
    elif samples is not None:
        if out is None:
            raise GuiselabError("--samples needs --out DIR for the results", where="--out")
        results = analyze_samples(samples, out, config, plan_file)
    elif run_dir is not None:
        if plan_file is not None:
            raise GuiselabError(
                "a run directory carries its own frozen plan; --plan is for --samples",
                where="--plan",
            )
        results = open_run(run_dir, config).analyze(config)
    else:
        raise GuiselabError("give a RUN_DIR, or --samples FILE --out DIR", where="analyze")
    _echo_decision(results)


def _analyze_logs(
    logs: list[str], out: Path, config: Path | None, plan_file: Path | None
) -> dict[str, Any]:
    """The statistics, decision and report of Inspect logs: their samples are written to
    ``out/inspect-samples.parquet`` and analysed as ``--samples`` would be."""
    from guiselab.api import analyze_samples
    from guiselab.report import write_report

    try:
        from guiselab.inspect import parse_role, samples_from_logs
    except ImportError as exc:
        raise GuiselabError(
            f"reading Inspect logs needs inspect-ai ({exc.name} is not installed); "
            "pip install 'guiselab[inspect]'",
            where="--inspect-log",
        ) from None
    roles, paths = {}, []
    for given in logs:
        role, sep, path = given.partition("=")
        if sep and not Path(given).exists() and "/" not in role and "." not in role:
            parse_role(role)  # a role it does not know is refused here, not as a file
            roles[path] = role
            paths.append(path)
        else:
            paths.append(given)
    frame = samples_from_logs(paths, roles)
    out.mkdir(parents=True, exist_ok=True)
    table = out / "inspect-samples.parquet"
    frame.to_parquet(table, index=False)
    results = analyze_samples(table, out, config, plan_file)
    write_report(out)
    typer.echo(f"report: {out / 'report.html'}")
    return results


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
