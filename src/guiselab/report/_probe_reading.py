"""The probing section's plain reading: which measurements support which reading.

Everything comes from ``results.json["probe"]``; values that are missing or malformed are
left out of the sentences, never raised as errors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from guiselab.report._format import as_float, fmt_num, fmt_value
from guiselab.report._steer_reading import intervention_sentences, steering_sentences

__all__ = ["probe_reading"]


def _values(probe: Mapping[str, Any], *path: str) -> list[float | None]:
    node: Any = probe
    for key in path:
        node = node.get(key) if isinstance(node, Mapping) else None
    return [as_float(v) for v in node] if isinstance(node, list) else []


def _layers(probe: Mapping[str, Any]) -> list[int]:
    layers = probe.get("layers")
    return [int(v) for v in layers if isinstance(v, int)] if isinstance(layers, list) else []


def _difference_rows(probe: Mapping[str, Any], table: str, key: str) -> list[Mapping[str, Any]]:
    node = probe.get(table)
    rows = node.get(key) if isinstance(node, Mapping) else None
    return [r if isinstance(r, Mapping) else {} for r in rows] if isinstance(rows, list) else []


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
        adjusted = _values(probe, "transfer_p_adjusted")
        if adjusted:
            alpha = as_float(probe.get("alpha")) or 0.05
            held = sum(1 for p in adjusted if p is not None and p <= alpha)
            chance += f"; {held} with the layers corrected for, max-T p <= {alpha:g}"
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
    fitted, cos_null = _values(probe, "cos_crossfit"), _values(probe, "cos_null_95")
    aligned = [
        i
        for i, (c, n) in enumerate(zip(fitted, cos_null, strict=False))
        if c is not None and n is not None and c > n
    ]
    if fitted:
        alpha = as_float(probe.get("alpha")) or 0.05
        corrected = [
            i
            for i, p in enumerate(_values(probe, "cos_p_adjusted"))
            if p is not None and p <= alpha
        ]
        largest = max((fitted[i] or 0.0 for i in aligned), default=0.0)
        out.append(
            "The two languages' guise directions, fitted on different halves of the items, "
            f"align beyond their sign-flip null at {len(aligned)} of {len(layers)} layers, "
            f"{len(corrected)} with the layers corrected for (min-P p <= {alpha:g})"
            + (f"; largest |cosine| {largest:.2f}." if aligned else ".")
        )
    out.extend(_baseline_sentences(probe, keys, layers))
    out.extend(_persona_sentences(probe))
    out.extend(_base_persona_sentences(probe))
    out.extend(steering_sentences(probe))
    out.extend(intervention_sentences(probe))
    return out


def _counts(
    probe: Mapping[str, Any], table: str, key: str, layers: Sequence[int], skip: int | None
) -> tuple[list[int], list[int], int, int]:
    """Layers (indices) whose interval lies above zero, below zero; how many have no
    interval; and how many are compared (``skip``: a layer compared with itself)."""
    rows = _difference_rows(probe, table, key)
    kept = [i for i in range(len(rows)) if skip is None or i >= len(layers) or layers[i] != skip]
    above = [i for i in _above_zero(probe, table, key) if i in kept]
    below = [i for i in _below_zero(probe, table, key) if i in kept]
    missing = sum(
        as_float(rows[i].get("ci_low")) is None or as_float(rows[i].get("ci_high")) is None
        for i in kept
    )
    return above, below, missing, len(kept)


def _beyond_sentence(
    probe: Mapping[str, Any],
    table: str,
    key: str,
    layers: Sequence[int],
    what: str,
    band: str,
    skip: int | None = None,
) -> str:
    """How many layers exceed a baseline, fall below it, or have no interval."""
    rows = _difference_rows(probe, table, key)
    above, below, missing, compared = _counts(probe, table, key, layers, skip)
    name = key.replace("_to_", "→")
    text = f"The {name} probe on the model's activations exceeds {what} at {len(above)} of "
    text += f"{compared} layers"
    if above:
        top = max(above, key=lambda i: as_float(rows[i].get("diff")) or 0.0)
        text += f" (largest {fmt_num(as_float(rows[top].get('diff')), 2)} at layer {layers[top]})"
    text += f", falls below it at {len(below)}"
    if missing:
        text += f" and has no interval at {missing}"
    return text + f" ({band})."


def _changes(probe: Mapping[str, Any], table: str, key: str, layers: Sequence[int]) -> str:
    above, below, missing, compared = _counts(probe, table, key, layers, None)
    text = f"{len(above)} and below it at {len(below)} of {compared} layers"
    return text + (f", no interval at {missing}" if missing else "")


def _near_ceiling(probe: Mapping[str, Any], keys: Sequence[str]) -> bool:
    """Both models' AUROCs at least 0.99 at one layer, for one of ``keys``."""
    for key in keys:
        mine = _values(probe, "guise_probe_auroc", key)
        base = _values(probe, "base", "guise_probe_auroc", key)
        pairs = zip(mine, base, strict=False)
        if any(a is not None and b is not None and min(a, b) >= 0.99 for a, b in pairs):
            return True
    return False


def _baseline_sentences(
    probe: Mapping[str, Any], keys: Sequence[str], layers: Sequence[int]
) -> list[str]:
    """What the probes show beyond the prompts' words, the embeddings and the base model."""
    lexical = probe.get("lexical_auroc")
    if not isinstance(lexical, Mapping) or len(keys) < 3:
        return []
    out = []
    level = as_float(probe.get("band_level"))
    band = (
        f"{100 * level:.0f}% bands simultaneous over the {len(layers)} layers"
        if level is not None
        else "bands simultaneous over the layers"
    )
    within = [k for k in keys if k in (probe.get("beyond_lexical") or {})]
    bag = ", ".join(f"{fmt_num(as_float(lexical.get(k)), 2)} ({k})" for k in within)
    has_embeddings = bool(probe.get("beyond_embeddings"))
    if within:
        out.append(
            f"A probe on the prompts' bags of tokens alone reaches AUROC {bag}"
            + (
                "; across languages a bag of one language's tokens says almost nothing of "
                "the other's, so the transfer is compared with the embeddings (layer 0) instead."
                if has_embeddings
                else "."
            )
        )
        out.append(
            _beyond_sentence(probe, "beyond_lexical", keys[0], layers, "the bag of tokens", band)
        )
    if has_embeddings:
        out.append(
            _beyond_sentence(
                probe,
                "beyond_embeddings",
                keys[2],
                layers,
                "the embeddings' transfer",
                band,
                skip=0,
            )
        )
    base = probe.get("base")
    if isinstance(base, Mapping) and probe.get("minus_base_auroc"):
        own = _values(probe, "base", "guise_probe_auroc", keys[0])
        best = _argmax(own)
        sentence = ""
        if best is not None:
            strength = (
                "already separates the guises"
                if (own[best] or 0.0) >= 0.8
                else "separates the guises only weakly"
            )
            sentence = (
                f"The base model {strength}: its {keys[0]} probe reaches AUROC "
                f"{fmt_num(own[best], 2)} (layer {layers[best]}). "
            )
        sentence += "The probed model's AUROC is above the base's at " + "; ".join(
            f"{_changes(probe, 'minus_base_auroc', k, layers)} ({k.replace('_to_', '→')})"
            for k in (keys[0], keys[2])
        )
        sentence += f" ({band})"
        sentence += (
            "; where both are near 1 an AUROC cannot show a difference: the cross-fitted "
            "separation below can."
            if _near_ceiling(probe, (keys[0], keys[2]))
            else "."
        )
        out.append(sentence)
    if probe.get("separation_minus_base"):
        parts = []
        for key in (keys[0], keys[2]):
            diffs = _difference_rows(probe, "separation_minus_base", key)
            above = _above_zero(probe, "separation_minus_base", key)
            part = f"{key.replace('_to_', '→')}: larger at " + _changes(
                probe, "separation_minus_base", key, layers
            ).replace(" and below it at ", " and smaller at ", 1)
            if above:
                top = max(above, key=lambda i: as_float(diffs[i].get("diff")) or 0.0)
                part += (
                    f" (largest {fmt_num(as_float(diffs[top].get('diff')), 2)} at layer "
                    f"{layers[top]})"
                )
            parts.append(part)
        out.append(
            "Cross-fitted guise separation (each item's guise difference on the direction "
            "fitted on the other half of the items, mean over standard deviation; no "
            "ceiling), the probed model against the base: " + "; ".join(parts) + f" ({band})."
        )
    out.extend(_register_sentences(probe, keys[0], layers, band))
    return out


def _register_sentences(
    probe: Mapping[str, Any], lang: str, layers: Sequence[int], band: str
) -> list[str]:
    """Whether the dialect's separation survives the control guises' directions."""
    register = probe.get("register")
    if not isinstance(register, Mapping):
        return []
    before = len(_above_zero(probe, "guise_separation", lang))
    out = []
    for guise, table in register.items():
        if not isinstance(table, Mapping):
            continue
        node = table.get("dialect_beyond")
        rows = node.get(lang) if isinstance(node, Mapping) else None
        if not isinstance(rows, list):
            continue
        after = sum(isinstance(r, Mapping) and (as_float(r.get("ci_low")) or 0.0) > 0 for r in rows)
        cosines = table.get("cos")
        values = cosines.get(lang) if isinstance(cosines, Mapping) else None
        known = [v for v in (as_float(x) for x in values or []) if v is not None]
        span = f"{min(known):.2f} to {max(known):.2f}" if known else "—"
        out.append(
            f"With the {guise} guise's direction projected out, the {lang} dialect separation "
            f"is above zero at {after} of {len(layers)} layers ({band}; without the "
            f"projection: {before}); the dialect direction's cosine with the {guise} "
            f"direction runs {span} over the layers."
        )
    return out


def _argmax(values: Sequence[float | None]) -> int | None:
    known = [(v, i) for i, v in enumerate(values) if v is not None]
    return max(known)[1] if known else None


def _gap_counts(rows: Any) -> tuple[int, int, int]:
    """Layers whose persona-gap band lies above zero, below zero, and layers with a gap."""
    rows = [r for r in rows if isinstance(r, Mapping)] if isinstance(rows, list) else []
    known = [r for r in rows if as_float(r.get("gap")) is not None]
    further = sum((as_float(r.get("ci_low")) or 0.0) > 0 for r in known)
    less = sum((as_float(r.get("ci_high")) or 0.0) < 0 for r in known)
    return further, less, len(known)


def _base_persona_sentences(probe: Mapping[str, Any]) -> list[str]:
    """The hypothesis's own object: whether the base model, before any fine-tune, already
    places an item's vernacular prompt further along its own persona direction."""
    node = probe.get("base_persona")
    if not isinstance(node, Mapping):
        return []
    gaps, counts = node.get("persona_gap"), node.get("persona_counts")
    if not (isinstance(gaps, Mapping) and gaps):
        return [
            "The base model's own answers give no cross-fitted persona direction "
            f"(scored answers: {fmt_value(counts)}), so what the base already separates by "
            "persona is not measured."
        ]
    parts = []
    for lang, rows in gaps.items():
        further, less, known = _gap_counts(rows)
        parts.append(f"{lang}: further at {further} and less at {less} of {known} layers")
    counted = (
        f" (from {counts.get('misaligned')} misaligned and {counts.get('aligned')} aligned "
        "answers of its own)"
        if isinstance(counts, Mapping)
        else ""
    )
    return [
        "In the base model, an item's vernacular prompt against its standard one on the "
        f"persona direction of the base's own misaligned - aligned answers{counted}, "
        "cross-fitted: "
        + "; ".join(parts)
        + ". This direction is the base's own, not the probed model's, and in the base's "
        "units, so no difference with the probed model's gap is taken."
    ]


def _persona_sentences(probe: Mapping[str, Any]) -> list[str]:
    gaps = probe.get("persona_gap")
    if probe.get("persona_direction") and not gaps:
        return [
            f"A persona direction was formed ({fmt_value(probe.get('persona_direction'))}), "
            "but not in each half of the items, so no prompt could be projected on a "
            "direction fitted without its own item (see persona_counts)."
        ]
    if isinstance(gaps, Mapping) and gaps:
        out = []
        for lang, rows in gaps.items():
            further, less, known = _gap_counts(rows)
            out.append(
                f"In {lang}, an item's vernacular prompt projects further along the persona "
                f"direction ({fmt_value(probe.get('persona_projection_direction'))}, "
                "cross-fitted) than "
                f"its standard prompt at {further} of {known} layers, and less at "
                f"{less} (item-paired, intervals simultaneous over the layers)."
            )
        by_direction = probe.get("persona_gap_by_direction")
        for source, table in (
            (by_direction or {}).items() if isinstance(by_direction, Mapping) else []
        ):
            if not isinstance(table, Mapping):
                continue
            parts = []
            for lang, rows in table.items():
                further, less, known = _gap_counts(rows)
                parts.append(f"{lang} prompts further at {further} and less at {less} of {known}")
            out.append(
                f"On the persona direction fitted on the {source} answers alone (cross-fitted): "
                + "; ".join(parts)
                + " layers."
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
