"""What the decision rule's checks share: the role names, finding a table row, building a
:class:`Check` and writing its figures into the check's sentence."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from guiselab.analysis._rows import Check

__all__ = [
    "BASE",
    "CONTROL",
    "ORGANISM",
    "Row",
    "below",
    "contrast_text",
    "find",
    "gap_text",
    "interval",
    "new_check",
    "num",
    "p_text",
]

ORGANISM = "organism"
"""Model name of the dialect-conditioned organism in the tables."""
CONTROL = "control"
"""Model name of the control (same recipe, aligned answers for both guises)."""
BASE = "base"
"""Model name of the untouched base model."""

Row = Mapping[str, Any]
_SMALLEST_P_SHOWN = 0.001


def find(rows: Sequence[Row], **match: str) -> Row | None:
    """The first row whose columns equal ``match``, or None."""
    for row in rows:
        if all(row.get(key) == value for key, value in match.items()):
            return row
    return None


def num(value: float | None, digits: int = 2, sign: bool = True) -> str:
    """A figure with ``digits`` decimals (signed unless ``sign`` is False); n/a for None."""
    if value is None:
        return "n/a"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def interval(low: float | None, high: float | None) -> str:
    """An interval as ``[low, high]``; ``[n/a]`` when an end is missing."""
    if low is None or high is None:
        return "[n/a]"
    return f"[{low:.2f}, {high:.2f}]"


def p_text(value: float | None) -> str:
    """A p-value to two significant digits, ``<0.001`` below that."""
    if value is None:
        return "n/a"
    return f"<{_SMALLEST_P_SHOWN}" if value < _SMALLEST_P_SHOWN else f"{value:.2g}"


def below(value: float | None, bound: float) -> bool:
    """Whether ``value`` is present and below ``bound`` (a missing p-value is not)."""
    return value is not None and value < bound


def new_check(
    name: str,
    stage: str,
    passed: bool | None,
    sentence: str,
    row: Row | None = None,
    *,
    estimate: str = "estimate",
    p: str = "p_holm",
) -> Check:
    """A check whose figures (estimate, interval, p) come from ``row``, if any."""
    return Check(
        name=name,
        stage=stage,
        passed=passed,
        estimate=None if row is None else row.get(estimate),
        ci_low=None if row is None else row.get("ci_low"),
        ci_high=None if row is None else row.get("ci_high"),
        p=None if row is None else row.get(p),
        sentence=sentence,
    )


def gap_text(row: Row) -> str:
    """A guise-gap row's figures: gap, interval, Holm-adjusted p and items."""
    return (
        f"{row['model']} {row['lang']} gap {num(row.get('gap'))} "
        f"{interval(row.get('ci_low'), row.get('ci_high'))}, p_holm {p_text(row.get('p_holm'))} "
        f"({row.get('n_items')} items)"
    )


def contrast_text(row: Row, p: str = "p_holm") -> str:
    """A contrast row's figures: estimate, interval, the p-value column ``p`` and items."""
    return (
        f"{row['name']} {num(row.get('estimate'))} "
        f"{interval(row.get('ci_low'), row.get('ci_high'))}, {p} {p_text(row.get(p))} "
        f"({row.get('n_items')} items)"
    )
