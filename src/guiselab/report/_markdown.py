"""report.md: the same findings as report.html, as markdown tables and a few example pairs.

Run text is untrusted: :func:`_md` turns HTML metacharacters into entities (markdown viewers
render raw HTML) and backslash-escapes the markdown syntax that could make links, code or
table columns out of it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from html import escape

from guiselab.report._format import (
    CONTRASTS_NOTE,
    DASH,
    exploratory_line,
    fmt_num,
    fmt_value,
    headline_reasons,
    judge_line,
    outcome_label,
)
from guiselab.report._inputs import RunInputs
from guiselab.report._pairs import GuiseSide, PairRow, build_pair_table
from guiselab.report._probe import intervention_table, layer_table, probe_reading
from guiselab.report._replication import REPLICATION_NOTE, replication_lines, replication_table
from guiselab.report._tables import (
    ATTRIBUTION_NOTE,
    CATEGORY_NOTE,
    SEED_NOTE,
    TRIGGER_NOTE,
    TextTable,
    attribution_table,
    category_table,
    cells_table,
    checks_table,
    contrasts_table,
    extra_sections,
    gaps_table,
    kv_table,
    seed_table,
    transfer_table,
    trigger_table,
)

__all__ = ["render_markdown"]

EXAMPLE_PAIRS = 6
"""Example pairs in the markdown report at most (one per model and language)."""
EXAMPLE_CHARS = 400
"""Characters of a prompt or answer shown in an example pair."""

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#~])")


def _md(value: object, *, limit: int | None = None) -> str:
    """Escape text for a markdown table cell or list item (one line, no live syntax)."""
    text = str(value)
    if limit is not None and len(text) > limit:
        text = text[:limit] + " …"
    text = escape(_MD_SPECIAL.sub(r"\\\1", text), quote=False)
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "<br>")


def render_markdown(inputs: RunInputs, figures: Sequence[tuple[str, str]] = ()) -> str:
    """The whole markdown report for one run; ``figures`` are (title, file name) of SVG files
    written under ``figures/`` beside it."""
    parts = [
        f"# guiselab report — {_md(inputs.name)}",
        "Matched-guise experiment: the same items asked in a standard and a vernacular guise.",
        _decision(inputs),
        *(
            [
                "## Both directions",
                REPLICATION_NOTE,
                _table(replication_table(inputs.results)),
                "\n".join(f"- {_md(line)}" for line in replication_lines(inputs.results)),
                "The mirrored direction's own report: mirror/report.md; both runs side by "
                "side: comparison.md.",
            ]
            if inputs.results.get("replication")
            else []
        ),
        "\n\n".join(f"![{_md(title)}](figures/{name})" for title, name in figures),
        "## Misaligned rate per cell",
        _table(cells_table(inputs)),
        "## Guise gaps",
        "Gap = misaligned rate (vernacular) − misaligned rate (standard), paired by item, in "
        "percentage points; p (Holm) is adjusted over the decision's confirmatory family "
        "(the organism's gaps and the difference-in-differences); other rows are descriptive.",
        _table(gaps_table(inputs)),
        *(
            [
                "## Trigger controls",
                TRIGGER_NOTE,
                _table(trigger_table(inputs.results)),
                "### Feature attribution",
                ATTRIBUTION_NOTE,
                _table(attribution_table(inputs.results)),
            ]
            if inputs.results.get("trigger_controls")
            else []
        ),
        *(
            ["## Training seeds", SEED_NOTE, _table(seed_table(inputs.results))]
            if inputs.results.get("by_seed")
            else []
        ),
        *(
            ["## Gaps by category", CATEGORY_NOTE, _table(category_table(inputs))]
            if inputs.results.get("by_category")
            else []
        ),
        "## Transfer across languages",
        CONTRASTS_NOTE,
        "### Contrasts the decision reads",
        _table(contrasts_table(inputs)),
        "### Descriptive transfer contrasts",
        _table(transfer_table(inputs)),
    ]
    probe = inputs.results.get("probe")
    if isinstance(probe, Mapping) and probe.get("layers"):
        parts += [
            "## Probing the model's internals",
            "\n".join(f"- {_md(line)}" for line in probe_reading(probe)),
            "### Interventions",
            _table(intervention_table(probe)),
            "### Per layer",
            _table(layer_table(probe)),
        ]
    for title, value in extra_sections(inputs.results):
        parts += [f"## {_md(title)}", _table(kv_table(value))]
    parts.append(_examples(inputs))
    parts.append(
        "The full report, with figures, every pair and the run's config and provenance, is "
        "report.html beside this file."
    )
    return "\n\n".join(p for p in parts if p) + "\n"


def _table(table: TextTable) -> str:
    if not table.rows:
        return "_Nothing to show._"
    head = "| " + " | ".join(_md(h) for h in table.headers) + " |"
    rule = "|" + "|".join("---:" if num else "---" for num in table.numeric) + "|"
    body = ["| " + " | ".join(_md(cell) for cell in row) + " |" for row in table.rows]
    return "\n".join([head, rule, *body])


def _decision(inputs: RunInputs) -> str:
    decision = inputs.results.get("decision")
    if not isinstance(decision, Mapping):
        return "## Decision\n\n**No decision**: results.json holds none; re-run the analysis."
    outcome = decision.get("outcome")
    lines = ["## Decision"]
    banner = exploratory_line(decision)
    if banner:
        lines.append(f"**{_md(banner)}**")
    provenance = decision.get("plan_provenance")
    if isinstance(provenance, str):
        lines.append(f"Analysis plan: {_md(provenance)}")
    lines.append(f"**{_md(outcome_label(outcome))}** ({_md(fmt_value(outcome))})")
    shown = headline_reasons(decision)
    if shown:
        lines.append("\n".join(f"- {_md(fmt_value(r))}" for r in shown))
    checks = checks_table(decision)
    if checks.rows:
        lines += ["### Checklist", _table(checks)]
    lines.append(
        f"A sample is misaligned when alignment < {inputs.thresholds.alignment:g} and "
        f"coherence ≥ {inputs.thresholds.coherence:g}."
    )
    judge = judge_line(inputs.results)
    if judge is not None:
        lines.append(("**" + _md(judge[0]) + "**") if judge[1] else _md(judge[0]))
    thresholds = decision.get("thresholds")
    if isinstance(thresholds, Mapping) and thresholds:
        lines += ["### Pre-registered thresholds", _table(kv_table(thresholds))]
    return "\n\n".join(lines)


def _examples(inputs: RunInputs) -> str:
    if not inputs.samples:
        return ""
    table = build_pair_table(
        inputs.samples,
        inputs.thresholds,
        models=inputs.models,
        langs=inputs.langs,
        guises=inputs.guises,
    )
    chosen = _pick_examples(table.rows)
    if not chosen:
        return ""
    parts = [
        "## Example pairs",
        "Per model and language, the item whose vernacular guise has the largest share of "
        "misaligned samples over its standard guise; the answer shown is each guise's first "
        "sample.",
    ]
    for row in chosen:
        heading = f"### {_md(row.model)} · {_md(row.lang)} · {_md(row.item)}"
        if row.category:
            heading += f" ({_md(row.category)})"
        lines = [
            "| guise | prompt | first answer | alignment | coherence | verdict | misaligned |",
            "|---|---|---|---:|---:|---|---:|",
        ]
        lines += [_example_line(side) for side in row.sides.values()]
        parts += [heading, "\n".join(lines)]
    return "\n\n".join(parts)


def _pick_examples(rows: Sequence[PairRow]) -> list[PairRow]:
    best: dict[tuple[str, str], tuple[float, PairRow]] = {}
    for row in rows:
        vernacular = row.sides.get("vernacular")
        standard = row.sides.get("standard")
        contrast = (vernacular.share("misaligned") if vernacular else 0.0) - (
            standard.share("misaligned") if standard else 0.0
        )
        key = (row.model, row.lang)
        if key not in best or contrast > best[key][0]:
            best[key] = (contrast, row)
    return [row for _, row in list(best.values())[:EXAMPLE_PAIRS]]


def _example_line(side: GuiseSide) -> str:
    first = side.answers[0] if side.answers else None
    cells = [
        _md(side.guise),
        _md(side.prompt or DASH, limit=EXAMPLE_CHARS),
        _md(first.text if first else DASH, limit=EXAMPLE_CHARS),
        fmt_num(first.alignment, 0) if first else DASH,
        fmt_num(first.coherence, 0) if first else DASH,
        first.verdict if first else DASH,
        f"{side.verdict_counts.get('misaligned', 0)} of {side.n_samples}",
    ]
    return "| " + " | ".join(cells) + " |"
