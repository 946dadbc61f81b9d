"""Writing report.html and report.md into a run directory."""

from __future__ import annotations

from pathlib import Path

from guiselab.report._html import render_html
from guiselab.report._inputs import load_run
from guiselab.report._markdown import render_markdown
from guiselab.report._static import FIGURE_DIR, write_figures
from guiselab.store import write_atomic

__all__ = ["write_report"]

HTML_FILE = "report.html"
MARKDOWN_FILE = "report.md"


def write_report(run_dir: Path) -> tuple[Path, Path]:
    """Write ``run_dir/report.html`` and ``run_dir/report.md`` (with its figures as SVG files
    under ``run_dir/figures``) and return their paths.

    Reads ``results.json`` (required: raises :class:`guiselab.errors.InputFileError` when it is
    missing or unreadable) and, when present, ``samples.parquet``, ``config.toml`` and
    ``manifest.json``. Each file is replaced atomically, so an interrupted run never leaves a
    half-written report.
    """
    run_dir = Path(run_dir)
    inputs = load_run(run_dir)
    html_path = run_dir / HTML_FILE
    markdown_path = run_dir / MARKDOWN_FILE
    write_atomic(html_path, render_html(inputs))
    figures = write_figures(inputs, run_dir / FIGURE_DIR)
    write_atomic(markdown_path, render_markdown(inputs, figures))
    return html_path, markdown_path
