"""Alignment against coherence per (model, language, guise), as small multiples in SVG.

Each panel draws its points as one path of zero-length round-capped segments (a few bytes a
point, so 10,000 samples stay small) and marks the misalignment thresholds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

from guiselab.report import _svg as svg
from guiselab.report._figures import guise_class
from guiselab.report._inputs import Sample, Thresholds
from guiselab.report._verdict import classify

__all__ = ["MAX_POINTS_PER_PANEL", "scatter_figure"]

MAX_POINTS_PER_PANEL = 2000
"""Points drawn per panel at most (an even thinning by sample order beyond that)."""

_PANEL = 150.0
"""Side of one panel's plotting square, in pixels."""
_PAD_LEFT, _PAD_TOP, _PAD_BOTTOM, _GAP = 40.0, 30.0, 30.0, 18.0


@dataclass(frozen=True, slots=True)
class _Point:
    order: tuple[str, int]
    coherence: float
    alignment: float
    misaligned: bool


def scatter_figure(
    samples: Sequence[Sample],
    thresholds: Thresholds,
    *,
    models: Sequence[str],
    langs: Sequence[str],
    guises: Sequence[str],
    max_points: int = MAX_POINTS_PER_PANEL,
) -> Markup:
    """Rows of panels per model, one column per (language, guise); empty when nothing scored.

    Panel labels (model, language, guise) are escaped by :mod:`guiselab.report._svg`.
    """
    panels: defaultdict[tuple[str, str, str], list[_Point]] = defaultdict(list)
    for sample in samples:
        if sample.alignment is not None and sample.coherence is not None:
            panels[(sample.model, sample.lang, sample.guise)].append(
                _Point(
                    order=(sample.item, sample.index),
                    coherence=sample.coherence,
                    alignment=sample.alignment,
                    misaligned=classify(sample, thresholds) == "misaligned",
                )
            )
    if not panels:
        return Markup("")
    rows = [m for m in models if any(k[0] == m for k in panels)]
    columns = [
        (lang, g) for lang in langs for g in guises if any(k[1:] == (lang, g) for k in panels)
    ]
    cell_w = _PAD_LEFT + _PANEL + _GAP
    cell_h = _PAD_TOP + _PANEL + _PAD_BOTTOM
    width = len(columns) * cell_w + _GAP
    height = len(rows) * cell_h + 8
    parts: list[Markup] = []
    for r, model in enumerate(rows):
        for c, (lang, guise) in enumerate(columns):
            parts.append(
                _panel(
                    panels.get((model, lang, guise), []),
                    thresholds,
                    x0=c * cell_w + _PAD_LEFT,
                    y0=r * cell_h + _PAD_TOP,
                    label=f"{model} · {lang} · {guise}",
                    guise=guise,
                    max_points=max_points,
                )
            )
    label = (
        "Alignment against coherence per model, language and guise; misaligned region: "
        f"alignment < {thresholds.alignment:g} and coherence ≥ {thresholds.coherence:g}"
    )
    return svg.figure(width, height, label, parts)


def _panel(
    points: Sequence[_Point],
    thresholds: Thresholds,
    *,
    x0: float,
    y0: float,
    label: str,
    guise: str,
    max_points: int,
) -> Markup:
    def x_of(coherence: float) -> float:
        return x0 + _PANEL * max(0.0, min(coherence, 100.0)) / 100.0

    def y_of(alignment: float) -> float:
        return y0 + _PANEL * (1 - max(0.0, min(alignment, 100.0)) / 100.0)

    ordered = sorted(points, key=lambda p: p.order)
    stride = max(1, -(-len(ordered) // max_points))
    misaligned_path: list[str] = []
    other_path: list[str] = []
    for point in ordered[::stride]:
        target = misaligned_path if point.misaligned else other_path
        target.append(f"M{x_of(point.coherence):.1f} {y_of(point.alignment):.1f}h0")
    n_misaligned = sum(p.misaligned for p in ordered)

    caption = f"n={len(ordered)}, {n_misaligned} misaligned"
    if stride > 1:
        caption += f", 1 in {stride} drawn"
    parts = [
        svg.rect(x0, y0, _PANEL, _PANEL, cls="panel"),
        svg.rect(
            x_of(thresholds.coherence),
            y_of(thresholds.alignment),
            x_of(100.0) - x_of(thresholds.coherence),
            y_of(0.0) - y_of(thresholds.alignment),
            cls="bad-zone",
            tip=f"misaligned: alignment < {thresholds.alignment:g}, "
            f"coherence ≥ {thresholds.coherence:g}",
        ),
        svg.line(
            x0, y_of(thresholds.alignment), x0 + _PANEL, y_of(thresholds.alignment), cls="thr"
        ),
        svg.line(
            x_of(thresholds.coherence), y0, x_of(thresholds.coherence), y0 + _PANEL, cls="thr"
        ),
        svg.rect(x0, y0 - 22, 8, 8, cls=guise_class(guise)),
        svg.text(x0 + 12, y0 - 14, label, anchor="start", cls="lab strong"),
        svg.text(x0, y0 - 3, caption, anchor="start", cls="tick"),
    ]
    for tick in (0.0, 50.0, 100.0):
        parts.append(svg.text(x0 - 4, y_of(tick) + 3, f"{tick:.0f}", anchor="end", cls="tick"))
        parts.append(svg.text(x_of(tick), y0 + _PANEL + 12, f"{tick:.0f}", cls="tick"))
    parts.append(svg.text(x0 + _PANEL / 2, y0 + _PANEL + 24, "coherence", cls="tick"))
    parts.append(svg.text(x0 - 28, y0 + _PANEL / 2, "alignment", cls="tick", vertical=True))
    if other_path:
        parts.append(svg.path("".join(other_path), cls="pts"))
    if misaligned_path:
        parts.append(svg.path("".join(misaligned_path), cls="pts bad"))
    return svg.join(parts)
