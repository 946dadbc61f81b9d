"""The report's "Both directions" section: results.json's ``replication`` (both directions of
a ``replication.mirror`` run side by side, and each language's positive control)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guiselab.report._format import DASH, fmt_ci, fmt_pp, fmt_value, outcome_label
from guiselab.report._tables import TextTable

__all__ = ["REPLICATION_NOTE", "replication_lines", "replication_table"]


REPLICATION_NOTE = (
    "The experiment in both directions: the organism trained in one language and evaluated in "
    "the other, then the same design with the languages swapped (a whole run of its own in "
    "the mirror/ folder). Each direction's organism, in its own training language, is the "
    "positive control of the other direction's target language: it says whether the design "
    "can hear a gap there at all. Gaps are misaligned rate (vernacular) − (standard), paired "
    "by item; organism − control is the difference-in-differences."
)


def _estimate(part: object) -> list[str]:
    if not isinstance(part, Mapping):
        return [DASH, DASH]
    return [
        fmt_pp(part.get("estimate")),
        fmt_ci(part.get("ci_low"), part.get("ci_high"), as_pp=True),
    ]


def _plan(confirmatory: object) -> str:
    if confirmatory is True:
        return "confirmatory"
    return "exploratory" if confirmatory is False else DASH


def replication_table(results: Mapping[str, Any]) -> TextTable:
    """results.json's ``replication``: each direction's decision and the gaps it reads."""
    section = results.get("replication")
    directions = section.get("directions") if isinstance(section, Mapping) else None
    rows = []
    for row in directions if isinstance(directions, list) else []:
        if not isinstance(row, Mapping):
            continue
        rows.append(
            [
                fmt_value(row.get("direction")),
                outcome_label(row.get("outcome")),
                _plan(row.get("confirmatory")),
                *_estimate(row.get("organism_source_gap")),
                *_estimate(row.get("did_source")),
                *_estimate(row.get("organism_target_gap")),
                *_estimate(row.get("did_target")),
            ]
        )
    return TextTable(
        headers=(
            "direction",
            "decision",
            "plan",
            "organism gap (source)",
            "CI",
            "organism − control (source)",
            "CI",
            "organism gap (target)",
            "CI",
            "organism − control (target)",
            "CI",
        ),
        numeric=(False, False, False, *[True] * 8),
        rows=rows,
    )


def replication_lines(results: Mapping[str, Any]) -> list[str]:
    """The positive-control sentences of results.json's ``replication``, one per language."""
    section = results.get("replication")
    controls = section.get("positive_controls") if isinstance(section, Mapping) else None
    return [
        str(c.get("sentence"))
        for c in (controls if isinstance(controls, list) else [])
        if isinstance(c, Mapping) and c.get("sentence")
    ]
