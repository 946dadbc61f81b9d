"""report.html: one self-contained page (inline CSS, SVG and script; nothing fetched).

Everything that comes from the run (results, samples, config, manifest) is untrusted text and
goes through :func:`_esc` (``html.escape`` with ``quote=True``) on its way into the page;
figures escape their own labels in :mod:`guiselab.report._svg`. The filter script carries no
data: it reads the escaped ``data-*`` attributes of the pair rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

from guiselab import __version__
from guiselab.report._assets import FILTER_SCRIPT, STYLESHEET, content_security_policy
from guiselab.report._figures import cells_figure, gaps_figure
from guiselab.report._format import (
    CONTRASTS_NOTE,
    DASH,
    OUTCOME_LABELS,
    exploratory_line,
    fmt_num,
    fmt_value,
    headline_reasons,
    judge_line,
    outcome_label,
)
from guiselab.report._inputs import RunInputs, rows_of
from guiselab.report._pairs import Answer, GuiseSide, PairRow, PairTable, build_pair_table
from guiselab.report._probe import intervention_table, layer_table, probe_figures, probe_reading
from guiselab.report._scatter import scatter_figure
from guiselab.report._tables import (
    TextTable,
    cells_table,
    checks_table,
    contrasts_table,
    extra_sections,
    gaps_table,
    kv_table,
    transfer_table,
)
from guiselab.report._verdict import VERDICTS

__all__ = ["render_html"]

_NO_CATEGORY = "(none)"


def _esc(value: object) -> str:
    """Escape any value for HTML text or a double-quoted attribute."""
    return escape(str(value), quote=True)


def render_html(inputs: RunInputs) -> str:
    """The whole report page for one run."""
    body = [
        _header(inputs),
        _decision(inputs),
        _cells(inputs),
        _gaps(inputs),
        _transfer(inputs),
        _probe(inputs),
        *(
            _section(f"extra-{i}", title, _table(kv_table(value)))
            for i, (title, value) in enumerate(extra_sections(inputs.results))
        ),
        _scatter(inputs),
        _pairs(inputs),
        _config(inputs),
        _provenance(inputs),
        f"<footer>Written by guiselab {_esc(__version__)} from the files in the run "
        "directory. Self-contained: this page loads nothing from the network.</footer>",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta http-equiv="Content-Security-Policy" '
        f'content="{_esc(content_security_policy(FILTER_SCRIPT))}">\n'
        f"<title>guiselab report — {_esc(inputs.name)}</title>\n"
        f"<style>{STYLESHEET}</style>\n</head>\n<body>\n"
        + "\n".join(part for part in body if part)
        + f"\n<script>{FILTER_SCRIPT}</script>\n</body>\n</html>\n"
    )


def _section(anchor: str, title: str, content: str, *, intro: str = "") -> str:
    note = f'<p class="note">{_esc(intro)}</p>' if intro else ""
    return f'<section id="{_esc(anchor)}"><h2>{_esc(title)}</h2>{note}{content}</section>'


def _table(table: TextTable, *, cls: str = "") -> str:
    if not table.rows:
        return '<p class="note">Nothing to show.</p>'
    klass = f' class="{_esc(cls)}"' if cls else ""
    head = "".join(
        f'<th class="num">{_esc(h)}</th>' if num else f"<th>{_esc(h)}</th>"
        for h, num in zip(table.headers, table.numeric, strict=True)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{_esc(cell)}</td>' if num else f"<td>{_esc(cell)}</td>"
            for cell, num in zip(row, table.numeric, strict=True)
        )
        + "</tr>"
        for row in table.rows
    )
    return f"<table{klass}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _header(inputs: RunInputs) -> str:
    links = [("decision", "Decision"), ("cells", "Cells"), ("gaps", "Guise gaps")]
    links.append(("transfer", "Transfer"))
    if isinstance(inputs.results.get("probe"), Mapping):
        links.append(("probe", "Probing"))
    if inputs.samples:
        links += [("scatter", "Scores"), ("pairs-section", "Pairs")]
    if inputs.config_text is not None:
        links.append(("config", "Config"))
    if inputs.manifest is not None:
        links.append(("provenance", "Provenance"))
    nav = "".join(f'<a href="#{anchor}">{_esc(label)}</a>' for anchor, label in links)
    return (
        f"<header><h1>guiselab report — {_esc(inputs.name)}</h1>"
        f'<p class="sub">Matched-guise experiment: the same items asked in a standard and a '
        f"vernacular guise. Run <b>{_esc(inputs.name)}</b>.</p><nav>{nav}</nav></header>"
    )


def _decision(inputs: RunInputs) -> str:
    decision = inputs.results.get("decision")
    if not isinstance(decision, Mapping):
        return _section(
            "decision",
            "Decision",
            '<div class="decision d-unknown"><p class="outcome">No decision</p>'
            "<p>results.json holds no decision; re-run the analysis.</p></div>",
        )
    outcome = decision.get("outcome")
    known = isinstance(outcome, str) and outcome in OUTCOME_LABELS
    klass = f"d-{outcome}" if known else "d-unknown"
    reason_list = headline_reasons(decision)
    items = "".join(f"<li>{_esc(fmt_value(r))}</li>" for r in reason_list)
    reasons_html = f"<ul>{items}</ul>" if items else "<p>No reasons given.</p>"
    thresholds = decision.get("thresholds")
    threshold_html = (
        "<h3>Pre-registered thresholds</h3>" + _table(kv_table(thresholds), cls="kv")
        if isinstance(thresholds, Mapping) and thresholds
        else ""
    )
    checks = checks_table(decision)
    checks_html = "<h3>Checklist</h3>" + _table(checks) if checks.rows else ""
    banner = exploratory_line(decision)
    banner_html = f'<p class="exploratory">{_esc(banner)}</p>' if banner else ""
    provenance = decision.get("plan_provenance")
    if isinstance(provenance, str):
        banner_html += f'<p class="note">Analysis plan: {_esc(provenance)}</p>'

    return _section(
        "decision",
        "Decision",
        f'<div class="decision {klass}">{banner_html}'
        f'<p class="outcome">{_esc(outcome_label(outcome))}</p>'
        f"<code>{_esc(fmt_value(outcome))}</code>{reasons_html}</div>{checks_html}"
        f'<p class="note">A sample is misaligned when alignment &lt; '
        f"{_esc(f'{inputs.thresholds.alignment:g}')} and coherence ≥ "
        f"{_esc(f'{inputs.thresholds.coherence:g}')}.</p>{_judge_note(inputs)}{threshold_html}",
    )


def _judge_note(inputs: RunInputs) -> str:
    line = judge_line(inputs.results)
    if line is None:
        return ""
    text, flagged = line
    return f'<p class="{"judge-flag" if flagged else "note"}">{_esc(text)}</p>'


def _probe(inputs: RunInputs) -> str:
    probe = inputs.results.get("probe")
    if not isinstance(probe, Mapping) or not probe.get("layers"):
        return ""
    reading = "".join(f"<li>{_esc(line)}</li>" for line in probe_reading(probe))
    return _section(
        "probe",
        "Probing the model's internals",
        (f"<ul>{reading}</ul>" if reading else "")
        + "".join(probe_figures(probe))
        + "<h3>Interventions (change against the unsteered answer)</h3>"
        + _table(intervention_table(probe))
        + "<h3>Per layer</h3>"
        + _table(layer_table(probe)),
        intro=f"{probe.get('model', '')}: residual stream, layer 0 = embeddings, layer l = "
        "output of block l; prompts pooled by "
        f"{probe.get('position', '')}. Dashed lines are the 95th percentiles of the nulls.",
    )


def _cells(inputs: RunInputs) -> str:
    figure = cells_figure(
        rows_of(inputs.results, "cells"),
        models=inputs.models,
        langs=inputs.langs,
        guises=inputs.guises,
    )
    return _section(
        "cells",
        "Misaligned rate per cell",
        figure + _table(cells_table(inputs)),
        intro="Misaligned rate per model × language × guise as the analysis computed it, with "
        "item-clustered confidence intervals (whiskers). Hover a bar for its numbers.",
    )


def _gaps(inputs: RunInputs) -> str:
    figure = gaps_figure(rows_of(inputs.results, "gaps"), models=inputs.models, langs=inputs.langs)
    return _section(
        "gaps",
        "Guise gaps",
        figure + _table(gaps_table(inputs)),
        intro="Gap = misaligned rate (vernacular) − misaligned rate (standard), paired by item, "
        "in percentage points; p (Holm) is adjusted over the decision's confirmatory family "
        "(the organism's gaps and the difference-in-differences); other rows are descriptive.",
    )


def _transfer(inputs: RunInputs) -> str:
    return _section(
        "transfer",
        "Transfer across languages",
        "<h3>Contrasts the decision reads</h3>"
        + _table(contrasts_table(inputs))
        + "<h3>Descriptive transfer contrasts</h3>"
        + _table(transfer_table(inputs)),
        intro=CONTRASTS_NOTE,
    )


def _scatter(inputs: RunInputs) -> str:
    if not inputs.samples:
        return ""
    figure = scatter_figure(
        inputs.samples,
        inputs.thresholds,
        models=inputs.models,
        langs=inputs.langs,
        guises=inputs.guises,
    )
    return _section(
        "scatter",
        "Alignment against coherence",
        figure or '<p class="note">No sample has both scores.</p>',
        intro=f"One point per scored sample. The shaded corner (alignment < "
        f"{inputs.thresholds.alignment:g}, coherence ≥ {inputs.thresholds.coherence:g}) is "
        "what counts as misaligned; red points fall in it.",
    )


def _pairs(inputs: RunInputs) -> str:
    if not inputs.samples:
        return ""
    table = build_pair_table(
        inputs.samples,
        inputs.thresholds,
        models=inputs.models,
        langs=inputs.langs,
        guises=inputs.guises,
    )
    guises = list(dict.fromkeys([*inputs.guises, *(g for r in table.rows for g in r.sides)]))
    categories = sorted({row.category or _NO_CATEGORY for row in table.rows})
    filters = "".join(
        [
            _select("model", "model", [r.model for r in table.rows]),
            _select("lang", "language", [r.lang for r in table.rows]),
            _select("guise", "guise", guises),
            _select("category", "category", categories),
            _select("verdict", "verdict", VERDICTS),
            '<span id="pairs-count" class="note"></span>',
        ]
    )
    head = "".join(f"<th>{_esc(g)}</th>" for g in guises)
    body = "".join(_pair_row(row, guises) for row in table.rows)
    return _section(
        "pairs-section",
        "Pairs",
        f'<div class="filters">{filters}</div><p class="note">{_esc(_pairs_note(table))}</p>'
        f'<table id="pairs" class="pairs"><thead><tr><th>model · language · item</th>{head}'
        f"</tr></thead><tbody>{body}</tbody></table>",
        intro="Each row is one item asked of one model in one language, both guises side by "
        "side. A verdict filter keeps rows with a shown answer of that verdict.",
    )


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


def _select(key: str, label: str, values: Iterable[str]) -> str:
    options = "".join(
        f'<option value="{_esc(v)}">{_esc(v)}</option>' for v in dict.fromkeys(values)
    )
    return (
        f'<label>{_esc(label)}<select data-filter="{_esc(key)}">'
        f'<option value="">all</option>{options}</select></label>'
    )


def _pair_row(row: PairRow, guises: Sequence[str]) -> str:
    category = row.category or _NO_CATEGORY
    key = (
        f'<td class="key"><b>{_esc(row.model)}</b><br>{_esc(row.lang)} · {_esc(row.item)}'
        f'<br><span class="note">{_esc(category)}</span></td>'
    )
    sides = "".join(_side_cell(row.sides.get(g), g) for g in guises)
    return (
        f'<tr data-model="{_esc(row.model)}" data-lang="{_esc(row.lang)}" '
        f'data-category="{_esc(category)}" data-item="{_esc(row.item)}">{key}{sides}</tr>'
    )


def _side_cell(side: GuiseSide | None, guise: str) -> str:
    klass = f"side side-{'vernacular' if guise == 'vernacular' else 'standard'}"
    if side is None:
        return f'<td class="{klass}"><p class="note">No samples in this guise.</p></td>'
    counts = ", ".join(f"{n} {verdict}" for verdict, n in _counts(side.verdict_counts))
    answers = "".join(_answer(a, side.guise) for a in side.answers)
    shown = len(side.answers)
    more = f" · showing {shown} of {side.n_samples}" if shown < side.n_samples else ""
    return (
        f'<td class="{klass}"><div class="prompt">{_esc(side.prompt or DASH)}</div>'
        f'<div class="counts">{_esc(side.n_samples)} samples: {_esc(counts)}{_esc(more)}</div>'
        f"{answers}</td>"
    )


def _counts(counts: Mapping[Any, int]) -> list[tuple[str, int]]:
    return [(v, counts[v]) for v in VERDICTS if counts.get(v)]


def _answer(answer: Answer, guise: str) -> str:
    cut = (
        f'<div class="note">… {_esc(answer.cut_chars)} more characters not shown</div>'
        if answer.cut_chars
        else ""
    )
    return (
        f'<div class="ans" data-guise="{_esc(guise)}" data-verdict="{_esc(answer.verdict)}">'
        f'<div class="meta"><span class="badge v-{_esc(answer.verdict)}">'
        f"{_esc(answer.verdict)}</span> sample {_esc(answer.index)} · alignment "
        f"{_esc(fmt_num(answer.alignment, 0))} · coherence {_esc(fmt_num(answer.coherence, 0))}"
        f'</div><div class="text">{_esc(answer.text)}</div>{cut}</div>'
    )


def _config(inputs: RunInputs) -> str:
    if inputs.config_text is None:
        return ""
    return _section(
        "config",
        "Config",
        f"<pre>{_esc(inputs.config_text)}</pre>",
        intro="config.toml: the fully resolved config that produced this run, verbatim.",
    )


def _provenance(inputs: RunInputs) -> str:
    if inputs.manifest is None:
        return ""
    return _section(
        "provenance",
        "Provenance",
        _table(kv_table(inputs.manifest), cls="kv"),
        intro="manifest.json: package versions, model and adapter hashes, seeds, git revision, "
        "timings.",
    )
