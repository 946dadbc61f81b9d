"""The report's jinja2 templates (the ``templates`` folder beside this module).

Autoescape is on for every template, so every value a template shows is escaped as text. Only
:class:`markupsafe.Markup` passes through as markup: the figures (SVG built from numbers, their
labels escaped in :mod:`guiselab.report._svg`), fragments rendered by these templates, and the
constant stylesheet and filter script, which are marked here.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
from markupsafe import Markup

from guiselab.report._assets import FILTER_SCRIPT, STYLESHEET
from guiselab.report._format import fmt_num

__all__ = ["TEMPLATE_DIR", "render"]

TEMPLATE_DIR = Path(__file__).parent / "templates"

_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_ENV.filters["fmt_num"] = fmt_num
# Constant text of this package with no data in it (see _assets): inlined as it is.
_ENV.globals["stylesheet"] = Markup(STYLESHEET)
_ENV.globals["filter_script"] = Markup(FILTER_SCRIPT)


def render(template: str, **context: object) -> str:
    """Render ``template`` with ``context``; every plain value in it is escaped."""
    return _ENV.get_template(template).render(**context)
