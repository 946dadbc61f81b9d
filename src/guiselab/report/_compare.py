"""Two or more runs side by side: ``guiselab report RUN_A RUN_B [...]``.

One self-contained page (and its markdown twin) with each run's decision, the misaligned rate
of every cell and the guise gaps in columns per run, the judge's validation figures, and the
config keys in which the runs differ. As in the single-run report, everything read from the
runs is escaped.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from guiselab.report._assets import content_security_policy
from guiselab.report._format import fmt_num, fmt_pp, fmt_rate, outcome_label
from guiselab.report._inputs import RunInputs, load_run, rows_of
from guiselab.report._markdown import _table as _md_table
from guiselab.report._tables import TextTable
from guiselab.report._templates import render
from guiselab.store import write_atomic
from guiselab.version import __version__

__all__ = ["compare_tables", "write_comparison"]


def _flat(value: Any, prefix: str = "") -> dict[str, str]:
    if isinstance(value, Mapping):
        out: dict[str, str] = {}
        for key, inner in value.items():
            out.update(_flat(inner, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): str(value)}


def _config(run: RunInputs) -> dict[str, str]:
    try:
        return _flat(tomllib.loads(run.config_text or ""))
    except tomllib.TOMLDecodeError:
        return {}


def _keyed(
    run: RunInputs, section: str, keys: Sequence[str]
) -> dict[tuple[str, ...], Mapping[str, Any]]:
    return {tuple(str(row.get(k)) for k in keys): row for row in rows_of(run.results, section)}


def compare_tables(runs: Sequence[RunInputs]) -> list[tuple[str, TextTable]]:
    """(title, table) sections comparing ``runs``, one column (or column group) per run."""
    names = [r.name for r in runs]
    decision = TextTable(
        ["", *names],
        [False] * (len(runs) + 1),
        [["decision", *(_outcome(r) for r in runs)]],
    )
    cells = [_keyed(r, "cells", ("model", "lang", "guise")) for r in runs]
    cell_keys = sorted({k for c in cells for k in c}, key=_order(runs))
    cell_table = TextTable(
        ["model", "lang", "guise", *names],
        [False, False, False, *([True] * len(runs))],
        [
            [*key, *(fmt_rate(c.get(key, {}).get("misaligned_rate")) for c in cells)]
            for key in cell_keys
        ],
    )
    gaps = [_keyed(r, "gaps", ("model", "lang")) for r in runs]
    gap_keys = sorted({k for g in gaps for k in g}, key=_order(runs))
    gap_table = TextTable(
        ["model", "lang", *names],
        [False, False, *([True] * len(runs))],
        [[*key, *(_gap(g.get(key)) for g in gaps)] for key in gap_keys],
    )
    judge_rows = []
    for label, path in (
        ("judge", ("judge",)),
        ("AUROC", ("auroc",)),
        ("accuracy", ("accuracy",)),
        ("guise invariance (points)", ("guise_invariance_delta",)),
    ):
        judge_rows.append([label, *(_judge(r, path) for r in runs)])
    judge = TextTable(["", *names], [False, *([True] * len(runs))], judge_rows)
    configs = [_config(r) for r in runs]
    differing = sorted(
        k for k in {k for c in configs for k in c} if len({c.get(k) for c in configs}) > 1
    )
    config = TextTable(
        ["config key", *names],
        [False] * (len(runs) + 1),
        [[key, *(c.get(key, "—") for c in configs)] for key in differing],
    )
    return [
        ("Decision", decision),
        ("Misaligned rate per cell", cell_table),
        ("Guise gap (vernacular − standard) with 95% CI", gap_table),
        ("Judge validation", judge),
        ("Config keys that differ", config),
    ]


def _order(runs: Sequence[RunInputs]) -> Any:
    models = [m for r in runs for m in r.models]
    langs = [lang for r in runs for lang in r.langs]

    def key(item: tuple[str, ...]) -> tuple[Any, ...]:
        model = models.index(item[0]) if item[0] in models else len(models)
        lang = langs.index(item[1]) if item[1] in langs else len(langs)
        return (model, lang, *item[2:])

    return key


def _outcome(run: RunInputs) -> str:
    decision = run.results.get("decision")
    return outcome_label(decision.get("outcome")) if isinstance(decision, Mapping) else "—"


def _gap(row: Mapping[str, Any] | None) -> str:
    if row is None:
        return "—"
    return f"{fmt_pp(row.get('gap'))} [{fmt_pp(row.get('ci_low'))}, {fmt_pp(row.get('ci_high'))}]"


def _judge(run: RunInputs, path: Sequence[str]) -> str:
    node: Any = run.results.get("judge_validation")
    for key in path:
        node = node.get(key) if isinstance(node, Mapping) else None
    return str(node) if isinstance(node, str) else fmt_num(node, 2)


def write_comparison(run_dirs: Sequence[Path], out: Path) -> tuple[Path, Path]:
    """Write ``out/comparison.html`` and ``out/comparison.md`` for ``run_dirs``."""
    runs = [load_run(Path(d)) for d in run_dirs]
    sections = compare_tables(runs)
    title = "guiselab comparison — " + " vs. ".join(r.name for r in runs)
    html = render(
        "comparison.html",
        title=title,
        policy=content_security_policy(""),  # no script runs on this page
        sources=[(r.name, str(r.run_dir)) for r in runs],
        sections=sections,
        version=__version__,
    )
    markdown = (
        "\n\n".join(
            [f"# {escape(title, quote=False)}"]
            + [f"## {name}\n\n{_md_table(table)}" for name, table in sections]
        )
        + "\n"
    )
    out.mkdir(parents=True, exist_ok=True)
    html_path, md_path = out / "comparison.html", out / "comparison.md"
    write_atomic(html_path, html)
    write_atomic(md_path, markdown)
    return html_path, md_path
