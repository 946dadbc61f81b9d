"""``guiselab plan``: an experiment's size, cost and power, before anything runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from guiselab.cli._common import ConfigArg, PresetOpt, experiment_config

__all__ = ["plan"]


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
    from guiselab.analysis import pilot_advice
    from guiselab.plan import design_text, estimate, outcome_power, samples_per_item

    cfg = experiment_config(config, preset)
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
        rows.update(pilot_advice(cfg, pilot, samples_per_item(cfg), design_text(cfg)))
    width = max(len(key) for key in rows)
    for key, value in rows.items():
        typer.echo(f"{key:<{width}}  {value}")
