"""Small SVG building blocks for the inline figures; every piece of text is escaped here.

The figures are inline ``<svg>`` elements in the HTML page (no ``xmlns`` needed there) styled
by classes from the page's stylesheet, so no figure carries a style attribute or a URL.
"""

from __future__ import annotations

import math
from html import escape

__all__ = ["axis_ticks", "circle", "line", "open_svg", "rect", "text", "title"]


def _esc(value: str) -> str:
    return escape(value, quote=True)


def open_svg(width: float, height: float, label: str) -> str:
    """The opening tag of a figure of the given size, labelled for screen readers."""
    return (
        f'<svg class="fig" viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" '
        f'height="{height:.0f}" role="img" aria-label="{_esc(label)}">'
        f"<title>{_esc(label)}</title>"
    )


def text(
    x: float,
    y: float,
    content: str,
    *,
    anchor: str = "middle",
    cls: str = "",
    vertical: bool = False,
) -> str:
    """A text label; ``anchor`` is start, middle or end; ``vertical`` reads bottom to top."""
    klass = f' class="{_esc(cls)}"' if cls else ""
    turn = f' transform="rotate(-90 {x:.1f} {y:.1f})"' if vertical else ""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{_esc(anchor)}"{klass}{turn}>'
        f"{_esc(content)}</text>"
    )


def line(x1: float, y1: float, x2: float, y2: float, *, cls: str) -> str:
    """A straight line styled by ``cls``."""
    return f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" class="{_esc(cls)}"/>'


def rect(x: float, y: float, width: float, height: float, *, cls: str, tip: str = "") -> str:
    """A rectangle styled by ``cls``, with an optional hover tip."""
    shape = (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(width, 0):.1f}" '
        f'height="{max(height, 0):.1f}" class="{_esc(cls)}"'
    )
    return f"{shape}>{title(tip)}</rect>" if tip else f"{shape}/>"


def circle(x: float, y: float, r: float, *, cls: str, tip: str = "") -> str:
    """A circle styled by ``cls``, with an optional hover tip."""
    shape = f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" class="{_esc(cls)}"'
    return f"{shape}>{title(tip)}</circle>" if tip else f"{shape}/>"


def title(content: str) -> str:
    """A hover tip for the enclosing element."""
    return f"<title>{_esc(content)}</title>"


def axis_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] with about ``count`` steps (1-2-2.5-5 steps)."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        high = low + 1.0
    raw = (high - low) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(low / step + 1e-9) * step
    ticks: list[float] = []
    value = start
    while value < high + step * 0.999:
        ticks.append(round(value, 10))
        value += step
    return ticks
