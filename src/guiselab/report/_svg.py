"""Small SVG building blocks for the inline figures, built from numbers and escaped labels.

Every piece comes out as :class:`markupsafe.Markup` made by ``Markup(pattern).format(...)``,
which escapes each value it fills in (labels, tips, classes), and pieces are joined with
:func:`join`, which escapes anything that is not already such a piece. The figures are inline
``<svg>`` elements in the HTML page (no ``xmlns`` needed there) styled by classes from the
page's stylesheet, so no figure carries a style attribute or a URL.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from markupsafe import Markup

__all__ = ["axis_ticks", "circle", "figure", "join", "line", "path", "rect", "text", "title"]


def join(parts: Iterable[Markup | str]) -> Markup:
    """Pieces side by side; a plain string among them is escaped, never taken as markup."""
    return Markup("").join(parts)


def figure(width: float, height: float, label: str, parts: Iterable[Markup]) -> Markup:
    """A whole figure of the given size holding ``parts``, labelled for screen readers."""
    return Markup(
        '<svg class="fig" viewBox="0 0 {w:.0f} {h:.0f}" width="{w:.0f}" height="{h:.0f}" '
        'role="img" aria-label="{label}"><title>{label}</title>{body}</svg>'
    ).format(w=width, h=height, label=label, body=join(parts))


def text(
    x: float,
    y: float,
    content: str,
    *,
    anchor: str = "middle",
    cls: str = "",
    vertical: bool = False,
) -> Markup:
    """A text label; ``anchor`` is start, middle or end; ``vertical`` reads bottom to top."""
    klass = Markup(' class="{}"').format(cls) if cls else Markup("")
    turn = Markup(' transform="rotate(-90 {:.1f} {:.1f})"').format(x, y) if vertical else Markup("")
    return Markup('<text x="{:.1f}" y="{:.1f}" text-anchor="{}"{}{}>{}</text>').format(
        x, y, anchor, klass, turn, content
    )


def line(x1: float, y1: float, x2: float, y2: float, *, cls: str) -> Markup:
    """A straight line styled by ``cls``."""
    return Markup('<line x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}" class="{}"/>').format(
        x1, y1, x2, y2, cls
    )


def rect(x: float, y: float, width: float, height: float, *, cls: str, tip: str = "") -> Markup:
    """A rectangle styled by ``cls``, with an optional hover tip."""
    shape = Markup('<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" class="{}"').format(
        x, y, max(width, 0), max(height, 0), cls
    )
    return _close(shape, "rect", tip)


def circle(x: float, y: float, r: float, *, cls: str, tip: str = "") -> Markup:
    """A circle styled by ``cls``, with an optional hover tip."""
    shape = Markup('<circle cx="{:.1f}" cy="{:.1f}" r="{:.1f}" class="{}"').format(x, y, r, cls)
    return _close(shape, "circle", tip)


def path(d: str, *, cls: str) -> Markup:
    """A path with drawing commands ``d``, styled by ``cls``."""
    return Markup('<path class="{}" d="{}"/>').format(cls, d)


def _close(shape: Markup, tag: str, tip: str) -> Markup:
    if not tip:
        return shape + Markup("/>")
    return Markup("{}>{}</{}>").format(shape, title(tip), tag)


def title(content: str) -> Markup:
    """A hover tip for the enclosing element."""
    return Markup("<title>{}</title>").format(content)


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
