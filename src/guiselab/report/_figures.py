"""The two summary figures as inline SVG: misaligned rate per cell, and the guise gap.

Each figure is :class:`markupsafe.Markup` built by :mod:`guiselab.report._svg`, which escapes
every label and tip (model, language and guise names come from the run).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from markupsafe import Markup

from guiselab.report import _svg as svg
from guiselab.report._format import as_float, fmt_ci, fmt_int, fmt_p, fmt_pp, fmt_rate
from guiselab.samples import GUISES

__all__ = ["cells_figure", "gaps_figure", "guise_class", "lang_class"]

_LEFT, _RIGHT, _TOP, _BOTTOM = 58.0, 16.0, 40.0, 58.0
_PLOT_HEIGHT = 220.0
_BAR, _BAR_GAP, _LANG_GAP, _MODEL_GAP = 20.0, 2.0, 14.0, 36.0
_POINT_SLOT = 40.0
_N_LANG_COLOURS = 4

_Scale = Callable[[float], float]
"""Maps a data value to a y coordinate."""


def guise_class(guise: str) -> str:
    """CSS class colouring a guise (standard, vernacular, or a neutral one for others)."""
    return f"g-{guise}" if guise in GUISES else "g-other"


def lang_class(lang: str, langs: Sequence[str]) -> str:
    """CSS class colouring a language by its display position."""
    position = langs.index(lang) if lang in langs else 0
    return f"l-{position % _N_LANG_COLOURS}"


def _index(
    rows: Sequence[Mapping[str, Any]], *keys: str
) -> dict[tuple[str, ...], Mapping[str, Any]]:
    """Rows by the string values of ``keys``; the first row wins on duplicates."""
    out: dict[tuple[str, ...], Mapping[str, Any]] = {}
    for row in rows:
        out.setdefault(tuple(str(row.get(k)) for k in keys), row)
    return out


def _legend(entries: Sequence[tuple[str, str]], x: float, y: float) -> Markup:
    parts: list[Markup] = []
    for label, cls in entries:
        parts.append(svg.rect(x, y - 9, 10, 10, cls=cls))
        parts.append(svg.text(x + 14, y, label, anchor="start", cls="lab"))
        x += 24 + 7 * len(label)
    return svg.join(parts)


def _y_axis(
    ticks: Sequence[float], y_of: _Scale, width: float, fmt: Callable[[float], str]
) -> Markup:
    parts: list[Markup] = []
    for tick in ticks:
        y = y_of(tick)
        parts.append(svg.line(_LEFT, y, width - _RIGHT, y, cls="grid"))
        parts.append(svg.text(_LEFT - 6, y + 4, fmt(tick), anchor="end", cls="tick"))
    return svg.join(parts)


def cells_figure(
    cells: Sequence[Mapping[str, Any]],
    *,
    models: Sequence[str],
    langs: Sequence[str],
    guises: Sequence[str],
) -> Markup:
    """Bars of the misaligned rate per cell with CI whiskers, grouped by model.

    Within a model the languages sit side by side, each with its guises next to each other.
    Returns empty markup when there are no cells.
    """
    by_cell = _index(cells, "model", "lang", "guise")
    shown_models = [m for m in models if any(k[0] == m for k in by_cell)]
    shown_langs = [lang for lang in langs if any(k[1] == lang for k in by_cell)]
    shown_guises = [g for g in guises if any(k[2] == g for k in by_cell)]
    if not (shown_models and shown_langs and shown_guises):
        return Markup("")

    lang_width = len(shown_guises) * _BAR + (len(shown_guises) - 1) * _BAR_GAP
    group_width = len(shown_langs) * lang_width + (len(shown_langs) - 1) * _LANG_GAP
    width = _LEFT + _RIGHT + len(shown_models) * group_width + (len(shown_models) - 1) * _MODEL_GAP
    width = max(width, 360.0)
    height = _TOP + _PLOT_HEIGHT + _BOTTOM

    highest = max(
        [
            v
            for row in by_cell.values()
            for k in ("misaligned_rate", "ci_high")
            if (v := as_float(row.get(k))) is not None
        ]
        + [0.05]
    )
    ticks = svg.axis_ticks(0.0, min(highest, 1.0), 5)
    top = ticks[-1]

    def y_of(value: float) -> float:
        return _TOP + _PLOT_HEIGHT * (1 - max(0.0, min(value, top)) / top)

    parts = [
        _y_axis(ticks, y_of, width, lambda t: f"{100 * t:g}%"),
        svg.text(14, _TOP + _PLOT_HEIGHT / 2, "misaligned", cls="lab", vertical=True),
        _legend([(g, guise_class(g)) for g in shown_guises], _LEFT, 18),
    ]
    x = _LEFT
    for model in shown_models:
        group_start = x
        for lang in shown_langs:
            lang_start = x
            for guise in shown_guises:
                parts.append(_bar(by_cell.get((model, lang, guise)), x, y_of, guise))
                x += _BAR + _BAR_GAP
            x += _LANG_GAP - _BAR_GAP
            parts.append(
                svg.text(
                    (lang_start + x - _LANG_GAP) / 2, _TOP + _PLOT_HEIGHT + 16, lang, cls="tick"
                )
            )
        x += _MODEL_GAP - _LANG_GAP
        centre = (group_start + x - _MODEL_GAP) / 2
        parts.append(svg.text(centre, _TOP + _PLOT_HEIGHT + 38, model, cls="lab strong"))
    parts.append(svg.line(_LEFT, y_of(0.0), width - _RIGHT, y_of(0.0), cls="axis"))
    return svg.figure(width, height, "Misaligned rate per cell with confidence intervals", parts)


def _bar(row: Mapping[str, Any] | None, x: float, y_of: _Scale, guise: str) -> Markup:
    if row is None:
        return svg.text(x + _BAR / 2, y_of(0.0) - 4, "–", cls="tick")
    rate = as_float(row.get("misaligned_rate"))
    tip = (
        f"{row.get('model')} · {row.get('lang')} · {row.get('guise')}: "
        f"{fmt_rate(rate)} {fmt_ci(row.get('ci_low'), row.get('ci_high'))}, "
        f"{fmt_int(row.get('n_items'))} items, {fmt_int(row.get('n_samples'))} samples"
    )
    if rate is None:
        return svg.text(x + _BAR / 2, y_of(0.0) - 4, "–", cls="tick")
    parts = [svg.rect(x, y_of(rate), _BAR, y_of(0.0) - y_of(rate), cls=guise_class(guise), tip=tip)]
    low, high = as_float(row.get("ci_low")), as_float(row.get("ci_high"))
    if low is not None and high is not None:
        centre = x + _BAR / 2
        parts.append(svg.line(centre, y_of(low), centre, y_of(high), cls="whisker"))
        for end in (low, high):
            parts.append(svg.line(centre - 4, y_of(end), centre + 4, y_of(end), cls="whisker"))
    return svg.join(parts)


def gaps_figure(
    gaps: Sequence[Mapping[str, Any]], *, models: Sequence[str], langs: Sequence[str]
) -> Markup:
    """The guise gap (vernacular − standard) per model with CIs, languages side by side.

    Returns empty markup when there are no gaps.
    """
    by_gap = _index(gaps, "model", "lang")
    shown_models = [m for m in models if any(k[0] == m for k in by_gap)]
    shown_langs = [lang for lang in langs if any(k[1] == lang for k in by_gap)]
    if not (shown_models and shown_langs):
        return Markup("")

    group_width = len(shown_langs) * _POINT_SLOT
    width = _LEFT + _RIGHT + len(shown_models) * group_width + (len(shown_models) - 1) * _MODEL_GAP
    width = max(width, 360.0)
    height = _TOP + _PLOT_HEIGHT + _BOTTOM

    values = [0.0] + [
        v
        for row in by_gap.values()
        for k in ("gap", "ci_low", "ci_high")
        if (v := as_float(row.get(k))) is not None
    ]
    ticks = svg.axis_ticks(max(min(values), -1.0), min(max(values), 1.0), 6)
    low, high = ticks[0], ticks[-1]
    if high - low <= 0:
        high = low + 0.1

    def y_of(value: float) -> float:
        clamped = max(low, min(value, high))
        return _TOP + _PLOT_HEIGHT * (1 - (clamped - low) / (high - low))

    parts = [
        _y_axis(ticks, y_of, width, lambda t: f"{100 * t:+g} pp" if t else "0"),
        svg.line(_LEFT, y_of(0.0), width - _RIGHT, y_of(0.0), cls="zero"),
        svg.text(14, _TOP + _PLOT_HEIGHT / 2, "gap", cls="lab", vertical=True),
        _legend([(lang, lang_class(lang, langs)) for lang in shown_langs], _LEFT, 18),
    ]
    x = _LEFT
    for model in shown_models:
        group_start = x
        for lang in shown_langs:
            centre = x + _POINT_SLOT / 2
            parts.append(
                _gap_point(by_gap.get((model, lang)), centre, y_of, lang_class(lang, langs))
            )
            parts.append(svg.text(centre, _TOP + _PLOT_HEIGHT + 16, lang, cls="tick"))
            x += _POINT_SLOT
        centre_group = (group_start + x) / 2
        parts.append(svg.text(centre_group, _TOP + _PLOT_HEIGHT + 38, model, cls="lab strong"))
        x += _MODEL_GAP
    label = "Guise gap (vernacular minus standard) per model and language"
    return svg.figure(width, height, label, parts)


def _gap_point(row: Mapping[str, Any] | None, centre: float, y_of: _Scale, cls: str) -> Markup:
    gap = as_float(row.get("gap")) if row is not None else None
    if row is None or gap is None:
        return svg.text(centre, y_of(0.0) - 6, "–", cls="tick")
    tip = (
        f"{row.get('model')} · {row.get('lang')}: gap {fmt_pp(gap)} "
        f"{fmt_ci(row.get('ci_low'), row.get('ci_high'), as_pp=True)}, "
        f"p = {fmt_p(row.get('p_value'))}, Holm p = {fmt_p(row.get('p_holm'))}"
    )
    parts: list[Markup] = []
    low, high = as_float(row.get("ci_low")), as_float(row.get("ci_high"))
    if low is not None and high is not None:
        parts.append(svg.line(centre, y_of(low), centre, y_of(high), cls="whisker"))
        for end in (low, high):
            parts.append(svg.line(centre - 5, y_of(end), centre + 5, y_of(end), cls="whisker"))
    parts.append(svg.circle(centre, y_of(gap), 5, cls=cls, tip=tip))
    return svg.join(parts)
