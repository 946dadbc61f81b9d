"""The probing section: per-layer figures, the intervention table and a plain reading.

Everything comes from ``results.json["probe"]`` (written by the probe stage); values that are
missing or malformed show as gaps, never as errors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

from markupsafe import Markup

from guiselab.report import _svg as svg
from guiselab.report._format import as_float, fmt_num, fmt_value
from guiselab.report._probe_reading import (
    _difference_rows,
    _layers,
    _pp,
    _values,
    probe_reading,
)
from guiselab.report._tables import TextTable

__all__ = ["intervention_table", "layer_figure", "layer_table", "probe_figures", "probe_reading"]

_LEFT, _RIGHT, _TOP, _BOTTOM, _WIDTH, _HEIGHT = 52.0, 130.0, 30.0, 40.0, 640.0, 230.0


def layer_figure(
    label: str,
    layers: Sequence[int],
    series: Sequence[tuple[str, Sequence[float | None], str]],
    y_range: tuple[float, float],
    y_name: str,
) -> Markup:
    """Lines over layers: one per (name, values, css class); None values break the line.

    Empty markup when there are no layers; labels and series names are escaped by
    :mod:`guiselab.report._svg`.
    """
    if not layers:
        return Markup("")
    low, high = y_range
    plot_w = _WIDTH - _LEFT - _RIGHT
    plot_h = _HEIGHT - _TOP - _BOTTOM
    span = max(layers) - min(layers) or 1

    def x_of(layer: int) -> float:
        return _LEFT + plot_w * (layer - min(layers)) / span

    def y_of(value: float) -> float:
        clipped = min(max(value, low), high)
        return _TOP + plot_h * (1 - (clipped - low) / (high - low))

    parts: list[Markup] = []
    for tick in svg.axis_ticks(low, high, 4):
        if low <= tick <= high:
            parts.append(svg.line(_LEFT, y_of(tick), _LEFT + plot_w, y_of(tick), cls="grid"))
            parts.append(svg.text(_LEFT - 6, y_of(tick) + 4, f"{tick:g}", anchor="end", cls="tick"))
    for layer in layers:
        parts.append(svg.text(x_of(layer), _TOP + plot_h + 16, str(layer), cls="tick"))
    parts.append(svg.text(_LEFT + plot_w / 2, _HEIGHT - 6, "layer (0 = embeddings)", cls="lab"))
    parts.append(svg.text(14, _TOP + plot_h / 2, y_name, cls="lab", vertical=True))
    for index, (name, values, cls) in enumerate(series):
        points = [
            (x_of(layer), y_of(v), layer, v)
            for layer, v in zip(layers, values, strict=False)
            if v is not None
        ]
        for (x1, y1, *_), (x2, y2, *_) in pairwise(points):
            parts.append(svg.line(x1, y1, x2, y2, cls=f"ln {cls}"))
        for x, y, layer, v in points:
            parts.append(
                svg.circle(x, y, 2.6, cls=f"pt {cls}", tip=f"{name}, layer {layer}: {v:.3f}")
            )
        y_key = _TOP + 14 * index
        parts.append(
            svg.line(
                _WIDTH - _RIGHT + 10, y_key - 4, _WIDTH - _RIGHT + 28, y_key - 4, cls=f"ln {cls}"
            )
        )
        parts.append(svg.text(_WIDTH - _RIGHT + 32, y_key, name, anchor="start", cls="lab"))
    return svg.figure(_WIDTH, _HEIGHT, label, parts)


def probe_figures(probe: Mapping[str, Any]) -> list[Markup]:
    """The per-layer figures: guise probes, en-ru cosine, persona projection by cell."""
    layers = _layers(probe)
    auroc = probe.get("guise_probe_auroc")
    keys = list(auroc) if isinstance(auroc, Mapping) else []
    probes = [
        (k.replace("_to_", "→"), _values(probe, "guise_probe_auroc", k), f"s-{i}")
        for i, k in enumerate(keys)
    ]
    probes.append(("shuffled null 95%", _values(probe, "null_auroc_95"), "s-null"))
    if keys:
        base = _values(probe, "base", "guise_probe_auroc", keys[0])
        if base:
            probes.append((f"base {keys[0]}", base, "s-base"))
        lexical = probe.get("lexical_auroc")
        bag = as_float(lexical.get(keys[0])) if isinstance(lexical, Mapping) else None
        if bag is not None:
            probes.append((f"bag of tokens {keys[0]}", [bag] * len(layers), "s-lex"))
    cos = [
        ("cos(en, ru)", _values(probe, "cos_en_ru"), "s-0"),
        ("|cos| cross-fitted", _values(probe, "cos_crossfit"), "s-base"),
        ("its null 95%", _values(probe, "cos_null_95"), "s-null"),
    ]
    figures = [
        layer_figure("Guise probe AUROC per layer", layers, probes, (0.0, 1.0), "AUROC"),
        layer_figure("Cosine of the guise directions", layers, cos, (-1.0, 1.0), "cosine"),
    ]
    rows = probe.get("persona_projection")
    if isinstance(rows, list) and rows:
        cells = sorted(
            {(str(r.get("lang")), str(r.get("guise"))) for r in rows if isinstance(r, Mapping)}
        )
        series = []
        for i, (lang, guise) in enumerate(cells):
            by_layer = {
                r.get("layer"): as_float(r.get("mean"))
                for r in rows
                if isinstance(r, Mapping) and r.get("lang") == lang and r.get("guise") == guise
            }
            series.append((f"{lang} {guise}", [by_layer.get(layer) for layer in layers], f"s-{i}"))
        values = [v for _, vs, _ in series for v in vs if v is not None]
        if values:
            pad = (max(values) - min(values)) * 0.1 or 1.0
            figures.append(
                layer_figure(
                    "Projection of prompts on the persona direction",
                    layers,
                    series,
                    (min(values) - pad, max(values) + pad),
                    "projection",
                )
            )
    return [f for f in figures if f]


def layer_table(probe: Mapping[str, Any]) -> TextTable:
    layers = _layers(probe)
    auroc = probe.get("guise_probe_auroc")
    keys = list(auroc) if isinstance(auroc, Mapping) else []
    columns = [
        (f"AUROC {k.replace('_to_', '→')}", _values(probe, "guise_probe_auroc", k)) for k in keys
    ]
    columns += [
        ("null 95%", _values(probe, "null_auroc_95")),
        ("cos en·ru", _values(probe, "cos_en_ru")),
        ("|cos| cross-fitted", _values(probe, "cos_crossfit")),
        ("its null 95%", _values(probe, "cos_null_95")),
        ("min-P p", _values(probe, "cos_p_adjusted")),
    ]
    cells = [[fmt_num(v, 2) for v in col] for _, col in columns]
    names = [name for name, _ in columns]
    if keys:
        base = _values(probe, "base", "guise_probe_auroc", keys[0])
        if base:
            names.append(f"base AUROC {keys[0]}")
            cells.append([fmt_num(v, 2) for v in base])
    for key in keys[:1] + keys[2:3]:
        own = _difference_rows(probe, "guise_separation", key)
        if own:
            names.append(f"separation {key.replace('_to_', '→')}")
            cells.append([fmt_num(as_float(r.get("value")), 2) for r in own])
            base_sep = _difference_rows(probe, "base_guise_separation", key)
            if base_sep:
                names.append(f"base separation {key.replace('_to_', '→')}")
                cells.append([fmt_num(as_float(r.get("value")), 2) for r in base_sep])
    for table, label in (
        ("beyond_lexical", "− bag of tokens"),
        ("beyond_embeddings", "− layer 0"),
        ("minus_base_auroc", "− base"),
        ("separation_minus_base", "separation − base"),
    ):
        for key in keys[:1] + keys[2:3]:
            diffs = _differences(probe, table, key)
            if diffs:
                names.append(f"{label} {key.replace('_to_', '→')}")
                cells.append(diffs)
    rows = [
        [str(layer), *(col[i] if i < len(col) else "—" for col in cells)]
        for i, layer in enumerate(layers)
    ]
    return TextTable(["layer", *names], [True] * (len(names) + 1), rows)


def _differences(probe: Mapping[str, Any], table: str, key: str) -> list[str]:
    """Each layer's AUROC difference with its interval, as text."""
    return [
        f"{fmt_num(as_float(r.get('diff')), 2)} [{fmt_num(as_float(r.get('ci_low')), 2)}, "
        f"{fmt_num(as_float(r.get('ci_high')), 2)}]"
        for r in _difference_rows(probe, table, key)
    ]


def intervention_table(probe: Mapping[str, Any]) -> TextTable:
    rows = [
        [
            ("base: " if r.get("model") == "base" else "")
            + fmt_value(r.get("kind"))
            + ("" if r.get("control") is None else f" {fmt_value(r.get('control'))}"),
            fmt_value(r.get("layer")),
            fmt_value(r.get("lang")),
            fmt_value(r.get("guise")),
            _pp(r.get("delta_misaligned")),
            f"[{_pp(r.get('ci_low'))}, {_pp(r.get('ci_high'))}]",
            _pp(r.get("delta_incoherent")),
            fmt_value(r.get("n_items")),
        ]
        for r in probe.get("interventions") or []
        if isinstance(r, Mapping)
    ]
    return TextTable(
        [
            "intervention",
            "layer",
            "lang",
            "guise",
            "Δ misaligned",
            "95% CI",
            "Δ incoherent",
            "items",
        ],
        [False, True, False, False, True, True, True, True],
        rows,
    )
