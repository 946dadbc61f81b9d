"""report.html: one self-contained page (inline CSS, SVG and script; nothing fetched).

The page comes from the ``report.html`` template, which escapes every value it shows; this
module gathers those values from the run (results, samples, config, manifest: all untrusted
text) as plain strings and tables. The only markup handed to the template is the figures, SVG
built from numbers whose labels :mod:`guiselab.report._svg` escapes. The filter script carries
no data: it reads the escaped ``data-*`` attributes of the pair rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from guiselab.report._assets import FILTER_SCRIPT, content_security_policy
from guiselab.report._figures import cells_figure, gaps_figure
from guiselab.report._format import (
    CONTRASTS_NOTE,
    DASH,
    OUTCOME_LABELS,
    exploratory_line,
    fmt_value,
    headline_reasons,
    judge_line,
    outcome_label,
)
from guiselab.report._inputs import RunInputs, rows_of
from guiselab.report._pairs import GuiseSide, PairRow, PairTable, build_pair_table
from guiselab.report._probe import intervention_table, layer_table, probe_figures, probe_reading
from guiselab.report._replication import REPLICATION_NOTE, replication_lines, replication_table
from guiselab.report._scatter import scatter_figure
from guiselab.report._tables import (
    ATTRIBUTION_NOTE,
    CATEGORY_NOTE,
    SEED_NOTE,
    TRIGGER_NOTE,
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
from guiselab.report._templates import render
from guiselab.samples import VERDICTS
from guiselab.version import __version__

__all__ = ["render_html"]

_NO_CATEGORY = "(none)"


def render_html(inputs: RunInputs) -> str:
    """The whole report page for one run."""
    return render(
        "report.html",
        name=inputs.name,
        policy=content_security_policy(FILTER_SCRIPT),
        version=__version__,
        links=_links(inputs),
        decision=_decision(inputs),
        rule={
            "alignment": f"{inputs.thresholds.alignment:g}",
            "coherence": f"{inputs.thresholds.coherence:g}",
        },
        cells={
            "figure": cells_figure(
                rows_of(inputs.results, "cells"),
                models=inputs.models,
                langs=inputs.langs,
                guises=inputs.guises,
            ),
            "table": cells_table(inputs),
        },
        gaps={
            "figure": gaps_figure(
                rows_of(inputs.results, "gaps"), models=inputs.models, langs=inputs.langs
            ),
            "table": gaps_table(inputs),
        },
        triggers=trigger_table(inputs.results) if inputs.results.get("trigger_controls") else None,
        trigger_note=TRIGGER_NOTE,
        attribution=attribution_table(inputs.results),
        attribution_note=ATTRIBUTION_NOTE,
        categories=category_table(inputs) if inputs.results.get("by_category") else None,
        category_note=CATEGORY_NOTE,
        seeds=seed_table(inputs.results) if inputs.results.get("by_seed") else None,
        replication=replication_table(inputs.results)
        if inputs.results.get("replication")
        else None,
        replication_lines=replication_lines(inputs.results),
        replication_note=REPLICATION_NOTE,
        seed_note=SEED_NOTE,
        contrasts_note=CONTRASTS_NOTE,
        contrasts=contrasts_table(inputs),
        transfer=transfer_table(inputs),
        probe=_probe(inputs),
        extras=[
            (f"extra-{i}", title, kv_table(value))
            for i, (title, value) in enumerate(extra_sections(inputs.results))
        ],
        scatter=_scatter(inputs),
        pairs=_pairs(inputs),
        config_text=inputs.config_text,
        manifest=kv_table(inputs.manifest) if inputs.manifest is not None else None,
    )


def _links(inputs: RunInputs) -> list[tuple[str, str]]:
    """The navigation bar: (anchor, label) of each section the page has."""
    links = [("decision", "Decision")]
    if inputs.results.get("replication"):
        links.append(("replication", "Both directions"))
    links += [("cells", "Cells"), ("gaps", "Guise gaps")]
    if inputs.results.get("trigger_controls"):
        links.append(("triggers", "Trigger controls"))
    if inputs.results.get("by_seed"):
        links.append(("seeds", "Seeds"))
    if inputs.results.get("by_category"):
        links.append(("categories", "By category"))
    links.append(("transfer", "Transfer"))
    if isinstance(inputs.results.get("probe"), Mapping):
        links.append(("probe", "Probing"))
    if inputs.samples:
        links += [("scatter", "Scores"), ("pairs-section", "Pairs")]
    if inputs.config_text is not None:
        links.append(("config", "Config"))
    if inputs.manifest is not None:
        links.append(("provenance", "Provenance"))
    return links


def _decision(inputs: RunInputs) -> dict[str, Any] | None:
    """What the decision section shows; None when results.json holds no decision."""
    decision = inputs.results.get("decision")
    if not isinstance(decision, Mapping):
        return None
    outcome = decision.get("outcome")
    known = isinstance(outcome, str) and outcome in OUTCOME_LABELS
    thresholds = decision.get("thresholds")
    checks = checks_table(decision)
    provenance = decision.get("plan_provenance")
    judge = judge_line(inputs.results)
    return {
        "klass": f"d-{outcome}" if known else "d-unknown",
        "banner": exploratory_line(decision),
        "plan": provenance if isinstance(provenance, str) else None,
        "label": outcome_label(outcome),
        "code": fmt_value(outcome),
        "reasons": [fmt_value(r) for r in headline_reasons(decision)],
        "checks": checks if checks.rows else None,
        "thresholds": (
            kv_table(thresholds) if isinstance(thresholds, Mapping) and thresholds else None
        ),
        "judge": None if judge is None else {"text": judge[0], "flagged": judge[1]},
    }


def _probe(inputs: RunInputs) -> dict[str, Any] | None:
    probe = inputs.results.get("probe")
    if not isinstance(probe, Mapping) or not probe.get("layers"):
        return None
    return {
        "model": str(probe.get("model", "")),
        "position": str(probe.get("position", "")),
        "reading": probe_reading(probe),
        "figures": probe_figures(probe),
        "interventions": intervention_table(probe),
        "layers": layer_table(probe),
    }


def _scatter(inputs: RunInputs) -> dict[str, Any] | None:
    if not inputs.samples:
        return None
    figure = scatter_figure(
        inputs.samples,
        inputs.thresholds,
        models=inputs.models,
        langs=inputs.langs,
        guises=inputs.guises,
    )
    return {"figure": figure}


def _pairs(inputs: RunInputs) -> dict[str, Any] | None:
    """The pair browser: its filters, a note on what is shown, and its rows."""
    if not inputs.samples:
        return None
    table = build_pair_table(
        inputs.samples,
        inputs.thresholds,
        models=inputs.models,
        langs=inputs.langs,
        guises=inputs.guises,
    )
    guises = list(dict.fromkeys([*inputs.guises, *(g for r in table.rows for g in r.sides)]))
    categories = sorted({row.category or _NO_CATEGORY for row in table.rows})
    filters = [
        ("model", "model", [r.model for r in table.rows]),
        ("lang", "language", [r.lang for r in table.rows]),
        ("guise", "guise", guises),
        ("category", "category", categories),
        ("verdict", "verdict", VERDICTS),
    ]
    return {
        "filters": [(key, label, _distinct(values)) for key, label, values in filters],
        "note": _pairs_note(table),
        "guises": guises,
        "rows": [_pair_row(row, guises) for row in table.rows],
    }


def _distinct(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _pairs_note(table: PairTable) -> str:
    note = (
        f"Showing the first {table.answers_per_guise} answers (by sample index) of each guise; "
        "the counts above them cover all its samples. Responses longer than "
        f"{table.max_response_chars} characters are cut. samples.parquet holds everything."
    )
    if len(table.rows) < table.n_rows_total:
        note += (
            f" Only the first {table.items_per_group} items of each model and language are "
            f"listed ({len(table.rows)} of {table.n_rows_total} rows)."
        )
    return note


def _pair_row(row: PairRow, guises: Sequence[str]) -> dict[str, Any]:
    return {
        "model": row.model,
        "lang": row.lang,
        "item": row.item,
        "category": row.category or _NO_CATEGORY,
        "sides": [_side_cell(row.sides.get(g), g) for g in guises],
    }


def _side_cell(side: GuiseSide | None, guise: str) -> dict[str, Any]:
    """One guise's cell of a pair row: its CSS class and, when it has samples, the side with
    its prompt, verdict counts and how many of its answers are shown."""
    klass = f"side side-{'vernacular' if guise == 'vernacular' else 'standard'}"
    if side is None:
        return {"klass": klass, "side": None}
    counts = ", ".join(f"{n} {verdict}" for verdict, n in _counts(side.verdict_counts))
    shown = len(side.answers)
    return {
        "klass": klass,
        "side": side,
        "prompt": side.prompt or DASH,
        "counts": counts,
        "more": f" · showing {shown} of {side.n_samples}" if shown < side.n_samples else "",
    }


def _counts(counts: Mapping[Any, int]) -> list[tuple[str, int]]:
    return [(v, counts[v]) for v in VERDICTS if counts.get(v)]
