"""The stylesheet and the filter script inlined into report.html.

Both are constant text with no data in them: the pair browser's data lives in escaped
``data-*`` attributes, and the page's Content-Security-Policy allows only this exact script
(by its hash), so an injected script or event handler would not run even if one got through.
"""

from __future__ import annotations

import base64
import hashlib

__all__ = ["FILTER_SCRIPT", "STYLESHEET", "content_security_policy"]

STYLESHEET = """
:root { --fg:#1d2430; --muted:#5b6678; --line:#d9dee7; --bg:#ffffff; --soft:#f4f6f9;
  --std:#3b6fb6; --ver:#d9822b; --bad:#c0392b; --ok:#2e8b57; --warn:#b7950b; }
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { margin: 0 auto; max-width: 1240px; padding: 24px 28px 64px; color: var(--fg);
  background: var(--bg); font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto,
  "Helvetica Neue", Arial, sans-serif; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 36px 0 10px; padding-bottom: 4px;
  border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 18px 0 6px; }
.sub { color: var(--muted); margin: 0 0 18px; }
nav a { margin-right: 14px; color: var(--std); text-decoration: none; }
.note { color: var(--muted); font-size: 13px; }
.judge-flag { color: #8a1c1c; font-weight: 600; font-size: 13px; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: 12.5px; }
pre { background: var(--soft); padding: 12px; overflow-x: auto; border-radius: 6px; }
.decision { border-radius: 10px; padding: 18px 22px; margin: 18px 0 8px; border: 2px solid; }
.decision .outcome { font-size: 24px; font-weight: 700; margin: 0 0 4px; }
.decision code { font-size: 13px; }
.decision ul { margin: 10px 0 0; padding-left: 20px; }
.d-outcome_1_aligned_both { border-color: var(--ok); background: #eef8f1; }
.d-outcome_2_replicates { border-color: var(--bad); background: #fcefed; }
.d-outcome_3_misaligned_both { border-color: var(--bad); background: #fcefed; }
.d-inconclusive, .d-unknown { border-color: var(--warn); background: #fdf8e6; }
.exploratory { font-weight: 700; color: #8a1c1c; margin: 0 0 6px; }
table { border-collapse: collapse; margin: 8px 0 12px; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 10px; text-align: left;
  vertical-align: top; }
th { background: var(--soft); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.kv th { width: 280px; }
.fig { display: block; margin: 8px 0 4px; max-width: 100%; height: auto; }
.fig text { font-size: 11px; fill: #1d2430; }
.fig .tick { fill: #5b6678; font-size: 10px; }
.fig .strong { font-weight: 600; }
.fig .grid { stroke: #e8ebf0; stroke-width: 1; }
.fig .ln { stroke-width: 1.6; fill: none; }
.fig .s-0 { stroke: #1f6fb2; fill: #1f6fb2; }
.fig .s-1 { stroke: #d9822b; fill: #d9822b; }
.fig .s-2 { stroke: #2e9e5b; fill: #2e9e5b; }
.fig .s-3 { stroke: #8e44ad; fill: #8e44ad; }
.fig .s-null { stroke: #8a93a3; fill: #8a93a3; stroke-dasharray: 4 3; }
.fig .s-base { stroke: #1f6fb2; fill: #1f6fb2; stroke-dasharray: 2 2; }
.fig .s-lex { stroke: #b23b3b; fill: #b23b3b; stroke-dasharray: 6 3; }
.fig .axis { stroke: #8a93a3; stroke-width: 1; }
.fig .zero { stroke: #30343b; stroke-width: 1.2; stroke-dasharray: 5 4; }
.fig .whisker { stroke: #222; stroke-width: 1.4; }
.fig .g-standard { fill: #3b6fb6; } .fig .g-vernacular { fill: #d9822b; }
.fig .g-other { fill: #8e7cc3; }
.fig .l-0 { fill: #2b8cbe; } .fig .l-1 { fill: #e34a33; } .fig .l-2 { fill: #31a354; }
.fig .l-3 { fill: #756bb1; }
.fig .panel { fill: #fbfcfd; stroke: #d9dee7; }
.fig .bad-zone { fill: #fbe3df; }
.fig .thr { stroke: #c0392b; stroke-width: 1; stroke-dasharray: 4 3; }
.fig .pts { fill: none; stroke: #6a7a93; stroke-width: 3.2; stroke-linecap: round;
  stroke-opacity: .55; }
.fig .pts.bad { stroke: #c0392b; stroke-opacity: .8; }
.filters { display: flex; flex-wrap: wrap; gap: 14px; align-items: end; margin: 10px 0;
  padding: 10px 12px; background: var(--soft); border-radius: 6px; }
.filters label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); }
.filters select { font: inherit; padding: 3px 6px; min-width: 120px; }
table.pairs { width: 100%; table-layout: fixed; }
table.pairs td.side { width: 42%; }
table.pairs td.key { width: 16%; }
.prompt { background: #eef2f8; border-left: 3px solid var(--std); padding: 6px 8px;
  white-space: pre-wrap; overflow-wrap: anywhere; margin-bottom: 6px; }
.side-vernacular .prompt { border-left-color: var(--ver); }
.ans { border: 1px solid var(--line); border-radius: 5px; padding: 6px 8px; margin: 6px 0; }
.ans .text { white-space: pre-wrap; overflow-wrap: anywhere; margin-top: 4px; }
.ans .meta { font-size: 12px; color: var(--muted); }
.counts { font-size: 12px; color: var(--muted); }
.badge { display: inline-block; border-radius: 3px; padding: 0 6px; font-size: 11.5px;
  font-weight: 600; color: #fff; background: #7f8c8d; }
.v-misaligned { background: var(--bad); } .v-aligned { background: var(--ok); }
.v-incoherent { background: #8e44ad; } .v-refusal { background: #2c3e50; }
.v-code { background: #16a085; } .v-unscored { background: #95a5a6; }
footer { margin-top: 48px; color: var(--muted); font-size: 12px; }
"""
"""The page's stylesheet (system fonts only: nothing is fetched at view time)."""

FILTER_SCRIPT = """
(function () {
  "use strict";
  var table = document.getElementById("pairs");
  if (!table) { return; }
  var selects = Array.prototype.slice.call(document.querySelectorAll("select[data-filter]"));
  var rows = Array.prototype.slice.call(table.querySelectorAll("tbody tr"));
  var counter = document.getElementById("pairs-count");
  function apply() {
    var want = {};
    selects.forEach(function (s) { want[s.getAttribute("data-filter")] = s.value; });
    var shown = 0;
    rows.forEach(function (row) {
      var keep = ["model", "lang", "category"].every(function (key) {
        return !want[key] || row.getAttribute("data-" + key) === want[key];
      });
      var any = false;
      Array.prototype.forEach.call(row.querySelectorAll(".ans"), function (ans) {
        var visible = keep &&
          (!want.guise || ans.getAttribute("data-guise") === want.guise) &&
          (!want.verdict || ans.getAttribute("data-verdict") === want.verdict);
        ans.hidden = !visible;
        if (visible) { any = true; }
      });
      row.hidden = !(keep && any);
      if (!row.hidden) { shown += 1; }
    });
    if (counter) { counter.textContent = shown + " of " + rows.length + " rows shown"; }
  }
  selects.forEach(function (s) { s.addEventListener("change", apply); });
  apply();
})();
"""
"""Filters the pair browser by the values of its ``<select data-filter=...>`` controls."""


def content_security_policy(script: str) -> str:
    """A policy that fetches nothing and runs only ``script`` (allowed by its SHA-256)."""
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    return (
        "default-src 'none'; style-src 'unsafe-inline'; "
        f"script-src 'sha256-{digest}'; img-src data:; base-uri 'none'; form-action 'none'"
    )
