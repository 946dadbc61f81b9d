"""Standalone SVG files of the report's figures, for report.md (papers, notes, issues).

The page's figures are inline SVG styled by the page's stylesheet; a file carries its own
copy of the figure rules, the SVG namespace, and nothing that runs.
"""

from __future__ import annotations

from pathlib import Path

from guiselab.report._assets import STYLESHEET
from guiselab.report._figures import cells_figure, gaps_figure
from guiselab.report._inputs import RunInputs, rows_of
from guiselab.report._probe import probe_figures
from guiselab.report._scatter import scatter_figure
from guiselab.store import write_atomic

__all__ = ["FIGURE_DIR", "write_figures"]

FIGURE_DIR = "figures"
_FIGURE_RULES = "\n".join(line for line in STYLESHEET.splitlines() if line.startswith(".fig"))


def _standalone(svg: str) -> str:
    # Plain text from here on: Markup would escape the strings added to it.
    head, rest = str(svg).split(">", 1)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        + head.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1)
        + f"><style>{_FIGURE_RULES}\ntext {{ font-family: sans-serif; }}</style>"
        + rest
        + "\n"
    )


def write_figures(inputs: RunInputs, folder: Path) -> list[tuple[str, str]]:
    """Write every figure the run has into ``folder``; returns (title, file name) pairs."""
    figures = [
        (
            "Misaligned rate per cell",
            "cells.svg",
            cells_figure(
                rows_of(inputs.results, "cells"),
                models=inputs.models,
                langs=inputs.langs,
                guises=inputs.guises,
            ),
        ),
        (
            "Guise gaps",
            "gaps.svg",
            gaps_figure(rows_of(inputs.results, "gaps"), models=inputs.models, langs=inputs.langs),
        ),
    ]
    if inputs.samples:
        figures.append(
            (
                "Alignment against coherence",
                "scatter.svg",
                scatter_figure(
                    inputs.samples,
                    inputs.thresholds,
                    models=inputs.models,
                    langs=inputs.langs,
                    guises=inputs.guises,
                ),
            )
        )
    probe = inputs.results.get("probe")
    if isinstance(probe, dict) and probe.get("layers"):
        names = ("probe-auroc.svg", "probe-cosine.svg", "probe-persona.svg")
        titles = (
            "Guise probe AUROC per layer",
            "Cosine of the guise directions",
            "Persona projection",
        )
        figures += list(zip(titles, names, probe_figures(probe), strict=False))
    written = []
    for title, name, svg in figures:
        if svg:
            folder.mkdir(parents=True, exist_ok=True)
            write_atomic(folder / name, _standalone(svg))
            written.append((title, name))
    return written
