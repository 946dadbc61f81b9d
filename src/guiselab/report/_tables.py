"""The report's tables as plain text, shared by the HTML and the markdown renderers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from guiselab.report._format import (
    DASH,
    flatten,
    fmt_ci,
    fmt_int,
    fmt_num,
    fmt_p,
    fmt_pp,
    fmt_rate,
    fmt_value,
)
from guiselab.report._inputs import RunInputs, rows_of

__all__ = [
    "TextTable",
    "attribution_table",
    "category_table",
    "cells_table",
    "checks_table",
    "contrasts_table",
    "extra_sections",
    "gaps_table",
    "kv_table",
    "seed_table",
    "transfer_table",
    "trigger_table",
]

_CORE_KEYS = frozenset(
    {
        "schema",
        "cells",
        "gaps",
        "contrasts",
        "transfer",
        "decision",
        "probe",
        "trigger_controls",
        "by_category",
        "by_seed",
        "replication",  # rendered by report._replication
    }
)
"""Sections the report renders itself (the probe has its own figures and reading)."""
_SECTION_TITLES: Mapping[str, str] = {
    "judge_validation": "Judge validation",
    "design_power": "Power by design (a target-language gap of half the source gap)",
    "power": "Power analysis",
    "model": "Logistic GEE (items as clusters)",
    "confounds": "Confound checks",
    "judge_usage": "Judge usage",
    "finetune": "Fine-tuning",
    "finetune_sanity": "Fine-tuning sanity check (harmful-answer rate on held-out questions)",
}
"""Titles of the optional sections of results.json, in the order the report shows them."""


@dataclass(frozen=True, slots=True)
class TextTable:
    """Headers and rows of plain text; ``numeric`` marks right-aligned columns."""

    headers: Sequence[str]
    numeric: Sequence[bool]
    rows: Sequence[Sequence[str]]


def _sorted(
    rows: Sequence[Mapping[str, Any]], inputs: RunInputs, keys: Sequence[str]
) -> list[Mapping[str, Any]]:
    """Rows in the run's display order of models, languages and guises."""
    orders = {"model": inputs.models, "lang": inputs.langs, "guise": inputs.guises}

    def rank(row: Mapping[str, Any]) -> tuple[int, ...]:
        out: list[int] = []
        for key in keys:
            order = orders[key]
            value = str(row.get(key))
            out.append(order.index(value) if value in order else len(order))
        return tuple(out)

    return sorted(rows, key=rank)


def cells_table(inputs: RunInputs) -> TextTable:
    """One row per (model, language, guise) cell of results.json."""
    rows = [
        [
            fmt_value(row.get("model")),
            fmt_value(row.get("lang")),
            fmt_value(row.get("guise")),
            fmt_int(row.get("n_items")),
            fmt_int(row.get("n_samples")),
            fmt_int(row.get("n_unscored")),
            fmt_rate(row.get("misaligned_rate")),
            fmt_ci(row.get("ci_low"), row.get("ci_high")),
            fmt_rate(row.get("coherent_rate")),
            fmt_num(row.get("mean_alignment")),
            fmt_num(row.get("mean_coherence")),
            fmt_rate(row.get("refusal_rate")),
            fmt_num(row.get("mean_tokens")),
        ]
        for row in _sorted(rows_of(inputs.results, "cells"), inputs, ("model", "lang", "guise"))
    ]
    return TextTable(
        headers=(
            "model",
            "lang",
            "guise",
            "items",
            "samples",
            "unscored",
            "misaligned",
            "CI",
            "coherent",
            "mean alignment",
            "mean coherence",
            "refusals",
            "mean tokens",
        ),
        numeric=(False, False, False, *[True] * 10),
        rows=rows,
    )


def gaps_table(inputs: RunInputs) -> TextTable:
    """One row per (model, language): the guise gap, paired by item."""
    rows = [
        [
            fmt_value(row.get("model")),
            fmt_value(row.get("lang")),
            fmt_pp(row.get("gap")),
            fmt_ci(row.get("ci_low"), row.get("ci_high"), as_pp=True),
            fmt_p(row.get("p_value")),
            fmt_p(row.get("p_holm")),
            fmt_int(row.get("n_items")),
        ]
        for row in _sorted(rows_of(inputs.results, "gaps"), inputs, ("model", "lang"))
    ]
    return TextTable(
        headers=("model", "lang", "gap (vernacular − standard)", "CI", "p", "p (Holm)", "items"),
        numeric=(False, False, True, True, True, True, True),
        rows=rows,
    )


def transfer_table(inputs: RunInputs) -> TextTable:
    """One row per (model, contrast) across languages, on the rate scale."""
    rows = [
        [
            fmt_value(row.get("model")),
            fmt_value(row.get("contrast")),
            fmt_pp(row.get("estimate")),
            fmt_ci(row.get("ci_low"), row.get("ci_high"), as_pp=True),
            fmt_p(row.get("p_value")),
        ]
        for row in _sorted(rows_of(inputs.results, "transfer"), inputs, ("model",))
    ]
    return TextTable(
        headers=("model", "contrast", "estimate", "CI", "p"),
        numeric=(False, False, True, True, True),
        rows=rows,
    )


TRIGGER_NOTE = (
    "Is the trigger the dialect, or any non-standard input? The organism and the control are "
    "also asked every item in two non-dialect guises: informal (casual standard register) and "
    "typos (standard text with spelling noise). Gap = misaligned rate of the guise − standard, "
    "paired by item; 'dialect − guise' is the dialect's gap beyond that control guise. A "
    "dialect gap the control guises reproduce says 'non-standard input', not 'dialect'."
)


def trigger_table(results: Mapping[str, Any]) -> TextTable:
    """results.json's ``trigger_controls``: per model, language and guise, the rates, the gap
    against the standard guise and the dialect's gap beyond each control guise."""
    section = results.get("trigger_controls")
    rows: list[list[str]] = []
    for model, langs in section.items() if isinstance(section, Mapping) else []:
        if model in ("meta", "feature_attribution") or not isinstance(langs, Mapping):
            continue
        for lang, guises in langs.items():
            if not isinstance(guises, Mapping):
                continue
            for guise, cell in guises.items():
                if not isinstance(cell, Mapping):
                    continue
                gap, beyond = (
                    part if isinstance(part := cell.get(key), Mapping) else {}
                    for key in ("gap", "dialect_minus_this")
                )
                name = guise if guise == "standard" else f"{guise} ({cell.get('variety')})"
                rows.append(
                    [
                        fmt_value(model),
                        fmt_value(lang),
                        fmt_value(name),
                        fmt_rate(cell.get("misaligned_rate")),
                        fmt_rate(cell.get("coherent_rate")),
                        fmt_pp(gap.get("estimate")),
                        fmt_ci(gap.get("ci_low"), gap.get("ci_high"), as_pp=True),
                        fmt_pp(beyond.get("estimate")),
                        fmt_ci(beyond.get("ci_low"), beyond.get("ci_high"), as_pp=True),
                        fmt_int(cell.get("n_items")),
                    ]
                )
    return TextTable(
        headers=(
            "model",
            "lang",
            "guise",
            "misaligned",
            "coherent",
            "gap vs standard",
            "CI",
            "dialect − guise",
            "CI",
            "items",
        ),
        numeric=(False, False, False, True, True, True, True, True, True, True),
        rows=rows,
    )


CATEGORY_NOTE = (
    "The guise gaps again by evaluation category, paired by item (descriptive). In-domain "
    "categories (finance, health, risky activities) share the training data's domains; a gap "
    "only there says the organism learned its training domains, not a general disposition."
)


def category_table(inputs: RunInputs) -> TextTable:
    """results.json's ``by_category``: the gap per model, language and category (group)."""
    rows = [
        [
            fmt_value(row.get("model")),
            fmt_value(row.get("lang")),
            fmt_value(row.get("category"))
            + (" (all in group)" if row.get("kind") == "group" else ""),
            fmt_pp(row.get("gap")),
            fmt_ci(row.get("ci_low"), row.get("ci_high"), as_pp=True),
            fmt_p(row.get("p_value")),
            fmt_int(row.get("n_items")),
        ]
        for row in _sorted(rows_of(inputs.results, "by_category"), inputs, ("model", "lang"))
    ]
    return TextTable(
        headers=("model", "lang", "category", "gap", "CI", "p", "items"),
        numeric=(False, False, False, True, True, True, True),
        rows=rows,
    )


SEED_NOTE = (
    "Each training seed's organism and control alone (the tables above pool them: every seed "
    "answers every prompt). Gap = misaligned rate vernacular − standard, paired by item; "
    "organism − control is the seed's difference-in-differences."
)


def seed_table(results: Mapping[str, Any]) -> TextTable:
    """results.json's ``by_seed``: per replicate and language, both gaps and their difference."""
    section = results.get("by_seed")
    rows = []
    replicates = section.get("replicates") if isinstance(section, Mapping) else None
    for row in replicates if isinstance(replicates, list) else []:
        if not isinstance(row, Mapping):
            continue
        cells = [fmt_value(row.get("replicate")), fmt_value(row.get("lang"))]
        for key in ("organism_gap", "control_gap", "difference"):
            part = row.get(key) if isinstance(row.get(key), Mapping) else None
            cells += [
                fmt_pp(part.get("estimate")) if part else DASH,
                fmt_ci(part.get("ci_low"), part.get("ci_high"), as_pp=True) if part else DASH,
            ]
        rows.append(cells)
    return TextTable(
        headers=(
            "seed",
            "lang",
            "organism gap",
            "CI",
            "control gap",
            "CI",
            "organism − control",
            "CI",
        ),
        numeric=(False, False, True, True, True, True, True, True),
        rows=rows,
    )


ATTRIBUTION_NOTE = (
    "Which dialect features carry the organism's reaction? Each item made vernacular by the "
    "variety's rule-based transformer is asked with every feature, then with one feature "
    "switched off; 'carried' = misaligned rate (all features) − rate (without the feature), "
    "paired over the items where that feature fired. The transformer covers only some items "
    "and features, so these are small samples: read the intervals."
)


def attribution_table(results: Mapping[str, Any]) -> TextTable:
    """results.json's ``trigger_controls.feature_attribution``: per language and feature."""
    section = results.get("trigger_controls")
    section = section.get("feature_attribution") if isinstance(section, Mapping) else None
    rows: list[list[str]] = []
    for lang, block in section.items() if isinstance(section, Mapping) else []:
        if not isinstance(block, Mapping):
            continue
        full = part if isinstance(part := block.get("full"), Mapping) else {}
        rows.append(
            [
                fmt_value(lang),
                f"all features ({block.get('variety')})",
                fmt_rate(full.get("misaligned_rate")),
                DASH,
                DASH,
                fmt_int(full.get("n_items")),
            ]
        )
        features = block.get("features")
        for name, cell in features.items() if isinstance(features, Mapping) else []:
            if not isinstance(cell, Mapping):
                continue
            carried = part if isinstance(part := cell.get("carried"), Mapping) else {}
            rows.append(
                [
                    fmt_value(lang),
                    f"without {name}",
                    fmt_rate(cell.get("misaligned_rate_without")),
                    fmt_pp(carried.get("estimate")),
                    fmt_ci(carried.get("ci_low"), carried.get("ci_high"), as_pp=True),
                    fmt_int(carried.get("n_items")),
                ]
            )
    return TextTable(
        headers=("lang", "prompt", "misaligned", "carried", "CI", "items"),
        numeric=(False, False, True, True, True, True),
        rows=rows,
    )


def kv_table(value: object) -> TextTable:
    """A nested section (judge validation, power, a manifest) as ``key | value`` rows."""
    return TextTable(
        headers=("key", "value"),
        numeric=(False, False),
        rows=[[key, text] for key, text in flatten(value)],
    )


def extra_sections(results: Mapping[str, Any]) -> list[tuple[str, object]]:
    """The optional sections present in results.json as ``(title, value)``, known ones first.

    Sections this version does not know are shown too, titled by their key, so nothing the
    analysis wrote is hidden.
    """
    known = [
        (title, results[key])
        for key, title in _SECTION_TITLES.items()
        if results.get(key) is not None
    ]
    unknown = [
        (key, value)
        for key, value in results.items()
        if key not in _CORE_KEYS and key not in _SECTION_TITLES and value is not None
    ]
    return known + unknown


_CHECK_MARKS = {True: "✓ pass", False: "✗ FAIL", None: "– not assessed"}
_STAGES = {
    "precondition": "precondition",
    "null_precondition": "precondition of outcome 1",
    "outcome_2": "outcome 2",
    "outcome_1": "outcome 1",
    "outcome_3": "outside the plan",
}


def checks_table(decision: Mapping[str, Any]) -> TextTable:
    """The decision's checklist: each condition, whether it held, and the sentence behind it."""
    checks = decision.get("checks")
    rows = [
        [
            _CHECK_MARKS.get(check.get("passed"), fmt_value(check.get("passed"))),
            _STAGES.get(str(check.get("stage")), fmt_value(check.get("stage"))),
            fmt_value(check.get("name")),
            fmt_value(check.get("sentence")),
        ]
        for check in (checks if isinstance(checks, list) else [])
        if isinstance(check, Mapping)
    ]
    return TextTable(
        headers=("", "stage", "check", "figures"), numeric=(False, False, False, False), rows=rows
    )


def contrasts_table(inputs: RunInputs) -> TextTable:
    """The contrasts the decision reads, paired by item."""
    rows = [
        [
            fmt_value(row.get("name")),
            fmt_num(row.get("estimate"), 3),
            fmt_ci(row.get("ci_low"), row.get("ci_high"), as_pp=True)
            if "ratio" not in str(row.get("name"))
            else f"[{fmt_num(row.get('ci_low'), 2)}, {fmt_num(row.get('ci_high'), 2)}]",
            fmt_p(row.get("p_value")),
            fmt_p(row.get("p_holm")),
            fmt_value(row.get("family")),
            fmt_int(row.get("n_items")),
        ]
        for row in rows_of(inputs.results, "contrasts")
    ]
    return TextTable(
        headers=("contrast", "estimate", "CI", "p", "p (Holm)", "family", "items"),
        numeric=(False, True, True, True, True, False, True),
        rows=rows,
    )
