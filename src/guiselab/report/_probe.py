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
from guiselab.report._tables import TextTable

__all__ = ["intervention_table", "layer_figure", "layer_table", "probe_figures", "probe_reading"]

_LEFT, _RIGHT, _TOP, _BOTTOM, _WIDTH, _HEIGHT = 52.0, 130.0, 30.0, 40.0, 640.0, 230.0


def _values(probe: Mapping[str, Any], *path: str) -> list[float | None]:
    node: Any = probe
    for key in path:
        node = node.get(key) if isinstance(node, Mapping) else None
    return [as_float(v) for v in node] if isinstance(node, list) else []


def _layers(probe: Mapping[str, Any]) -> list[int]:
    layers = probe.get("layers")
    return [int(v) for v in layers if isinstance(v, int)] if isinstance(layers, list) else []


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
        ("null 95%", _values(probe, "cos_null_95"), "s-null"),
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
        ("cos null 95%", _values(probe, "cos_null_95")),
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


def _difference_rows(probe: Mapping[str, Any], table: str, key: str) -> list[Mapping[str, Any]]:
    node = probe.get(table)
    rows = node.get(key) if isinstance(node, Mapping) else None
    return [r if isinstance(r, Mapping) else {} for r in rows] if isinstance(rows, list) else []


def _differences(probe: Mapping[str, Any], table: str, key: str) -> list[str]:
    """Each layer's AUROC difference with its interval, as text."""
    return [
        f"{fmt_num(as_float(r.get('diff')), 2)} [{fmt_num(as_float(r.get('ci_low')), 2)}, "
        f"{fmt_num(as_float(r.get('ci_high')), 2)}]"
        for r in _difference_rows(probe, table, key)
    ]


def _below_zero(probe: Mapping[str, Any], table: str, key: str) -> list[int]:
    """Indices of the layers whose difference's interval lies below zero."""
    return [
        i
        for i, r in enumerate(_difference_rows(probe, table, key))
        if (as_float(r.get("ci_high")) or 0.0) < 0
    ]


def _above_zero(probe: Mapping[str, Any], table: str, key: str) -> list[int]:
    """Indices of the layers whose difference's interval lies above zero."""
    return [
        i
        for i, r in enumerate(_difference_rows(probe, table, key))
        if (as_float(r.get("ci_low")) or 0.0) > 0
    ]


def intervention_table(probe: Mapping[str, Any]) -> TextTable:
    rows = [
        [
            fmt_value(r.get("kind")),
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


def _pp(value: object) -> str:
    number = as_float(value)
    return "—" if number is None else f"{100 * number:+.1f} pp"


def probe_reading(probe: Mapping[str, Any]) -> list[str]:
    """Plain sentences: which measurements support which reading of the hypothesis."""
    layers = _layers(probe)
    out: list[str] = []
    auroc = probe.get("guise_probe_auroc")
    keys = list(auroc) if isinstance(auroc, Mapping) else []
    if len(keys) >= 3:
        source, transfer = keys[0], keys[2]
        own = _values(probe, "guise_probe_auroc", source)
        best = _argmax(own)
        if best is not None:
            out.append(
                f"The guise is linearly decodable from the prompts in {source}: probe AUROC up "
                f"to {own[best]:.2f} (layer {layers[best]})."
            )
        across = _values(probe, "guise_probe_auroc", transfer)
        null = _values(probe, "null_auroc_95")
        above = [
            i
            for i, (a, n) in enumerate(zip(across, null, strict=False))
            if a is not None and n is not None and a > max(n, 0.5)
        ]
        chance = f"about {len(layers) / 20:.1f} would by chance"
        if above:
            top = max(above, key=lambda i: across[i] or 0.0)
            shared = len(above) >= max(2, len(layers) / 5) and (across[top] or 0.0) > 0.6
            out.append(
                f"A probe trained on {source} separates the guises in the other language above "
                f"its label-shuffled null at {len(above)} of {len(layers)} layers ({chance}; "
                f"best AUROC {across[top]:.2f} at layer {layers[top]}): "
                + (
                    "evidence for a vernacular direction shared across languages."
                    if shared
                    else "too few layers, or too weak, to claim a shared direction."
                )
            )
        else:
            out.append(
                f"A probe trained on {source} does not beat its label-shuffled null in the other "
                "language at any layer: no evidence of a shared vernacular direction."
            )
    cos, cos_null = _values(probe, "cos_en_ru"), _values(probe, "cos_null_95")
    aligned = [
        i
        for i, (c, n) in enumerate(zip(cos, cos_null, strict=False))
        if c is not None and n is not None and abs(c) > n
    ]
    if cos:
        out.append(
            f"The two languages' guise directions align beyond their null at {len(aligned)} of "
            f"{len(layers)} layers"
            + (f" (largest cosine {max(cos[i] or 0.0 for i in aligned):.2f})." if aligned else ".")
        )
    out.extend(_baseline_sentences(probe, keys, layers))
    out.extend(_persona_sentences(probe))
    out.extend(_intervention_sentences(probe))
    return out


def _baseline_sentences(
    probe: Mapping[str, Any], keys: Sequence[str], layers: Sequence[int]
) -> list[str]:
    """What the probes show beyond the prompts' words, and beyond the base model."""
    lexical = probe.get("lexical_auroc")
    if not isinstance(lexical, Mapping) or len(keys) < 3:
        return []
    out = []
    level = as_float(probe.get("layer_ci_level"))
    simultaneous = (
        f"{100 * level:.2f}% intervals, simultaneous over the {len(layers)} layers"
        if level is not None
        else "intervals simultaneous over the layers"
    )
    bag = ", ".join(
        f"{fmt_num(as_float(lexical.get(k)), 2)} ({k.replace('_to_', '→')})" for k in keys
    )
    out.append(f"A probe on the prompts' bags of tokens alone reaches AUROC {bag}.")
    for key in (keys[0], keys[2]):
        above = _above_zero(probe, "beyond_lexical", key)
        name = key.replace("_to_", "→")
        if above:
            diffs = _difference_rows(probe, "beyond_lexical", key)
            top = max(above, key=lambda i: as_float(diffs[i].get("diff")) or 0.0)
            out.append(
                f"The {name} probe on the model's activations exceeds that baseline at "
                f"{len(above)} of {len(layers)} layers ({simultaneous}; largest "
                f"{fmt_num(as_float(diffs[top].get('diff')), 2)} at layer {layers[top]}): "
                "the model separates the guises beyond their words there."
            )
        else:
            out.append(
                f"The {name} probe on the model's activations does not exceed that baseline "
                f"at any layer ({simultaneous}): its separation is what the words alone give."
            )
    base = probe.get("base")
    if isinstance(base, Mapping) and probe.get("minus_base_auroc"):
        own = _values(probe, "base", "guise_probe_auroc", keys[0])
        best = _argmax(own)
        changed = {
            key: _above_zero(probe, "minus_base_auroc", key)
            + _below_zero(probe, "minus_base_auroc", key)
            for key in (keys[0], keys[2])
        }
        sentence = (
            f"The base model already separates the guises: its {keys[0]} probe reaches AUROC "
            f"{fmt_num(own[best], 2)} (layer {layers[best]}). "
            if best is not None
            else ""
        )
        if any(changed.values()):
            sentence += (
                "The probed model's AUROC differs from the base's at "
                + ", ".join(
                    f"{len(v)} of {len(layers)} layers ({k.replace('_to_', '→')})"
                    for k, v in changed.items()
                )
                + f" ({simultaneous})."
            )
        else:
            sentence += (
                "The probed model's AUROCs do not differ from the base's at any layer "
                f"({simultaneous}): by these probes, the fine-tune added no guise separation"
                + (
                    "; both are near 1, where an AUROC cannot show more."
                    if best is not None and (own[best] or 0.0) >= 0.99
                    else "."
                )
            )
        out.append(sentence)
    if probe.get("separation_minus_base"):
        parts = []
        for key in (keys[0], keys[2]):
            diffs = _difference_rows(probe, "separation_minus_base", key)
            above = _above_zero(probe, "separation_minus_base", key)
            below = _below_zero(probe, "separation_minus_base", key)
            part = (
                f"{key.replace('_to_', '→')}: larger at {len(above)} and smaller at "
                f"{len(below)} of {len(layers)} layers"
            )
            if above:
                top = max(above, key=lambda i: as_float(diffs[i].get("diff")) or 0.0)
                part += (
                    f" (largest {fmt_num(as_float(diffs[top].get('diff')), 2)} at layer "
                    f"{layers[top]})"
                )
            parts.append(part)
        out.append(
            "Cross-fitted guise separation (each item's guise difference on the direction "
            "fitted on the other half of the items, in standard deviations; no ceiling), the "
            "probed model against the base: " + "; ".join(parts) + f" ({simultaneous})."
        )
    return out


def _argmax(values: Sequence[float | None]) -> int | None:
    known = [(v, i) for i, v in enumerate(values) if v is not None]
    return max(known)[1] if known else None


def _persona_sentences(probe: Mapping[str, Any]) -> list[str]:
    gaps = probe.get("persona_gap")
    if isinstance(gaps, Mapping) and gaps:
        out = []
        for lang, rows in gaps.items():
            rows = [r for r in rows if isinstance(r, Mapping)] if isinstance(rows, list) else []
            known = [r for r in rows if as_float(r.get("gap")) is not None]
            further = [r for r in known if (as_float(r.get("ci_low")) or 0.0) > 0]
            less = [r for r in known if (as_float(r.get("ci_high")) or 0.0) < 0]
            out.append(
                f"In {lang}, an item's vernacular prompt projects further along the persona "
                f"direction ({fmt_value(probe.get('persona_direction'))}, cross-fitted) than "
                f"its standard prompt at {len(further)} of {len(known)} layers, and less at "
                f"{len(less)} (item-paired, intervals simultaneous over the layers)."
            )
        return out
    rows = [r for r in probe.get("persona_projection") or [] if isinstance(r, Mapping)]
    if not rows:
        return [
            "No persona direction could be formed (too few misaligned answers and no base model)."
        ]
    out = []
    for lang in sorted({str(r.get("lang")) for r in rows}):
        moved = 0
        layers = sorted(
            {r.get("layer") for r in rows if r.get("lang") == lang}, key=lambda v: int(v or 0)
        )
        for layer in layers:
            cell = {
                r.get("guise"): r for r in rows if r.get("lang") == lang and r.get("layer") == layer
            }
            std, ver = cell.get("standard"), cell.get("vernacular")
            if std and ver:
                lo, hi = as_float(ver.get("ci_low")), as_float(std.get("ci_high"))
                if lo is not None and hi is not None and lo > hi:
                    moved += 1
        out.append(
            f"In {lang}, vernacular prompts project further along the persona direction "
            f"({fmt_value(probe.get('persona_direction'))}) than standard ones, with "
            f"non-overlapping intervals, at {moved} of {len(layers)} layers."
        )
    return out


def _intervention_sentences(probe: Mapping[str, Any]) -> list[str]:
    rows = [r for r in probe.get("interventions") or [] if isinstance(r, Mapping)]
    out = []
    for kind, text in (
        ("ablate", "Projecting out the guise direction"),
        ("random", "Projecting out a random direction (the control)"),
    ):
        for r in rows:
            if r.get("kind") == kind and r.get("guise") == "vernacular":
                out.append(
                    f"{text} at layer {fmt_value(r.get('layer'))} changed the "
                    f"{fmt_value(r.get('lang'))} vernacular misaligned rate by "
                    f"{_pp(r.get('delta_misaligned'))} "
                    f"[{_pp(r.get('ci_low'))}, {_pp(r.get('ci_high'))}] (incoherent answers "
                    f"{_pp(r.get('delta_incoherent'))})."
                )
    return out
