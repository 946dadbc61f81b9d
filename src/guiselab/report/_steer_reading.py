"""The steering paragraph of the probing reading: the guise edits against their controls."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guiselab.report._format import as_float, fmt_num, fmt_p, fmt_pp, fmt_value

__all__ = ["intervention_sentences", "steering_sentences"]

_MODELS = {
    "probed": "In the probed model",
    "base": "In the base model",
    "difference": "Probed minus base (controls from the same draws on each model)",
}
_KINDS = {"add": "adding", "ablate": "ablating"}
BROKEN = 0.10
"""A control that raises the incoherent rate by this much more than the guise ablation breaks
the answers rather than steering them."""
UNRELIABLE = 0.5
"""Below this per-answer correlation with the exact edit, a kind's first-order rows are
said not to predict the edit."""


def _rows(probe: Mapping[str, Any]) -> tuple[Mapping[str, Any], list[Mapping[str, Any]]]:
    node = probe.get("steering")
    table = node if isinstance(node, Mapping) else {}
    rows = table.get("effects")
    return table, [r for r in rows if isinstance(r, Mapping)] if isinstance(rows, list) else []


def steering_sentences(probe: Mapping[str, Any]) -> list[str]:
    """One sentence per model and edit: at how many layers each guise direction moves each
    language's answers beyond its controls; then the exact check at the steered layers."""
    table, rows = _rows(probe)
    if not rows:
        note = table.get("note")
        return [f"Steering against controls was not measured: {note}."] if note else []
    alpha = as_float(table.get("alpha")) or 0.05
    layers = sorted({int(r["layer"]) for r in rows if isinstance(r.get("layer"), int)})
    out = [
        f"Steering, first order on the probed model's {table.get('n_misaligned')} misaligned "
        f"and {table.get('n_aligned')} aligned answers (first {table.get('tokens')} tokens, "
        f"teacher-forced), each guise edit against {table.get('n_controls')} random "
        "directions from the activations' covariance, matched in norm or typical projection; "
        f"Holm over {len(layers)} layers within each model, edit, direction and language; "
        "effects in nats per token, misaligned minus aligned. The cross-lingual claim's own "
        "test is the probed model's source-language direction added on the target "
        "language's answers; the other rows are secondary, with no correction across them."
    ]
    floor = as_float(table.get("p_holm_floor"))
    if floor is not None and floor > alpha:
        out.append(
            f"With {table.get('n_controls')} controls and {len(layers)} layers the smallest "
            f"p_holm any layer can reach is {fmt_num(floor, 3)}, above {alpha:g}: no layer "
            "can pass, so the counts below say nothing either way; raise probe.n_controls."
        )
    ratios = [
        v
        for by_lang in (table.get("variance_ratio") or {}).values()
        if isinstance(by_lang, Mapping)
        for v in (as_float(x) for x in by_lang.values())
        if v is not None
    ]
    if ratios:
        out.append(
            "The prompts vary "
            f"{fmt_num(min(ratios), 2)} to {fmt_num(max(ratios), 2)} times as much along the "
            "guise directions as along the median control: an ablation's effect grows with "
            "that variance, so read an ablation beyond its controls beside it."
        )
    dims = [
        v
        for v in (as_float(x) for x in (table.get("control_dims") or {}).values())
        if v is not None
    ]
    if dims:
        out.append(
            f"The controls spread over {fmt_num(min(dims), 1)} to {fmt_num(max(dims), 1)} "
            "effective dimensions across the layers (participation ratio of the activations' "
            "covariance): they lie where the residual stream varies most, and where that is "
            "few dimensions they are nearly copies of one another."
        )
    for model, label in _MODELS.items():
        for kind, verb in _KINDS.items():
            parts = []
            for r0 in rows:
                if (r0.get("model"), r0.get("kind"), r0.get("layer")) != (model, kind, layers[0]):
                    continue
                direction, lang = r0.get("direction"), r0.get("lang")
                same = [
                    r
                    for r in rows
                    if (r.get("model"), r.get("kind"), r.get("direction"), r.get("lang"))
                    == (model, kind, direction, lang)
                ]
                beyond = [r for r in same if (as_float(r.get("p_holm")) or 1.0) <= alpha]
                text = (
                    f"the {direction} direction on {lang} answers at {len(beyond)} of "
                    f"{len(same)} layers"
                )
                if beyond:
                    top = max(beyond, key=lambda r: abs(as_float(r.get("effect")) or 0.0))
                    effect = as_float(top.get("effect")) or 0.0
                    median = as_float(top.get("control_median")) or 0.0
                    side = "above" if effect > median else "below"
                    text += (
                        f" (largest {fmt_num(effect, 3)} at layer {top.get('layer')}, {side} "
                        f"the controls' median {fmt_num(median, 3)}, their 95% range "
                        f"[{fmt_num(as_float(top.get('control_low')), 3)}, "
                        f"{fmt_num(as_float(top.get('control_high')), 3)}])"
                    )
                parts.append(text)
            if parts:
                out.append(
                    f"{label}, {verb} the guise direction moves the answers beyond its controls at "
                    f"p_holm <= {alpha:g}: {'; '.join(parts)}."
                )
        every = [r for r in rows if r.get("model") == model and r.get("p_holm_all") is not None]
        if every:
            passed = [r for r in every if (as_float(r.get("p_holm_all")) or 1.0) <= alpha]
            named = "; ".join(
                f"{r.get('kind')} {r.get('direction')} on {r.get('lang')} at layer {r.get('layer')}"
                for r in passed[:6]
            )
            out.append(
                f"{label}, with Holm over all {len(every)} rows at once (every layer, edit, "
                f"direction and language): {len(passed)} pass"
                + (f" ({named}{'; ...' if len(passed) > 6 else ''})." if passed else ".")
            )
    unprobed = table.get("exact_layers_unprobed") or []
    if unprobed:
        out.append(
            f"Steered layers {', '.join(map(str, unprobed))} were not probed, so no exact check "
            "was made there."
        )
    exact = [r for r in table.get("exact") or [] if isinstance(r, Mapping)]
    for r in exact:
        model = "the base model" if r.get("model") == "base" else "the probed model"
        out.append(
            f"Exact check in {model} at layer {r.get('layer')} ({r.get('kind')}, "
            f"{r.get('direction')} "
            f"direction, {r.get('lang')} answers): first order "
            f"{fmt_num(as_float(r.get('first_order')), 3)}, exact "
            f"{fmt_num(as_float(r.get('exact')), 3)}; per-answer correlation "
            f"{fmt_num(as_float(r.get('answer_correlation')), 2)}." + _against_controls(r)
        )
    for model in ("probed", "base"):
        for kind, verb in _KINDS.items():
            corr = [
                c
                for c in (
                    as_float(r.get("answer_correlation"))
                    for r in exact
                    if r.get("kind") == kind and r.get("model", "probed") == model
                )
                if c is not None
            ]
            if corr and max(corr) < UNRELIABLE:
                out.append(
                    f"In the {model} model, the first-order estimate of {verb} the guise "
                    f"direction does not predict the exact edit (per-answer correlation "
                    f"{fmt_num(max(corr), 2)}): that edit is too large for a first-order "
                    "reading, so its rows above say little about what the edit itself does."
                )
    return out


_VERDICTS = {
    "beyond": "removing it moves these answers beyond its controls",
    "outside": "it lies outside every control, but not beyond them after Holm",
    "within": "removing it moves these answers no more than its controls do",
    "unmatched": "too few controls could be matched in damage, so no verdict is given",
}


def _against_controls(r: Mapping[str, Any]) -> str:
    """The exact ablation's place among its exactly ablated controls matched in damage."""
    drawn = r.get("n_drawn")
    if drawn is None:
        return ""
    k = r.get("n_controls")
    left = int(r.get("controls_short") or 0) + int(r.get("controls_over") or 0)
    damage = (
        f" The guise ablation disturbs these answers by {fmt_num(as_float(r.get('damage')), 3)} "
        "nats per token (mean absolute change, net of the misaligned-aligned contrast)."
    )
    if r.get("verdict") == "unmatched":
        return (
            f"{damage} Only {k} of {drawn} random directions could be ablated to disturb them "
            f"as much ({int(r.get('controls_short') or 0)} disturbed them too little and "
            f"{int(r.get('controls_over') or 0)} too much, by more than 1.5 times, at the "
            "share their search found), so no verdict is given."
        )
    if r.get("p_t") is None:
        return damage
    share = r.get("control_share") or [None, None]
    ratio = r.get("control_damage_ratio") or [None, None]
    verdict = _VERDICTS.get(str(r.get("verdict")), "no verdict was recorded")
    primary = " This is the cross-lingual claim's own test." if r.get("primary") else ""
    dropped = (
        f" ({left} of {drawn} drawn controls could not be matched and are left out)" if left else ""
    )
    text = damage + (
        f" Against {k} exactly ablated random directions, each ablated by the share of the way "
        f"that disturbs them as much{dropped} (shares {fmt_num(as_float(share[0]), 2)} to "
        f"{fmt_num(as_float(share[-1]), 2)}, damage {fmt_num(as_float(ratio[0]), 2)} to "
        f"{fmt_num(as_float(ratio[-1]), 2)} times the guise's; each control's contrast "
        "rescaled to the guise's damage): median "
        f"{fmt_num(as_float(r.get('control_median')), 3)}, range "
        f"[{fmt_num(as_float(r.get('control_min')), 3)}, "
        f"{fmt_num(as_float(r.get('control_max')), 3)}], prediction p "
        f"{fmt_p(r.get('p_t'))} (Holm over the compared rows "
        f"{fmt_p(r.get('p_holm'))}), rank p "
        f"{fmt_p(r.get('p_rank'))} (the smallest {k} controls allow is "
        f"{fmt_num(2 / (1 + int(k)) if isinstance(k, int) else None, 3)}): {verdict}.{primary}"
    )
    within = r.get("within_prompt")
    if isinstance(within, Mapping):
        if within.get("p_t") is not None:
            text += (
                f" Within prompts ({within.get('n_prompts')} prompts with a misaligned and an "
                f"aligned answer): {fmt_num(as_float(within.get('exact')), 3)} against "
                f"controls [{fmt_num(as_float(within.get('control_min')), 3)}, "
                f"{fmt_num(as_float(within.get('control_max')), 3)}], prediction p "
                f"{fmt_p(within.get('p_t'))}."
            )
        elif within.get("n_prompts") == 0:
            text += (
                " No prompt has both a misaligned and an aligned answer (one sample per "
                "prompt), so the contrast is across items only."
            )
    return text


def intervention_sentences(probe: Mapping[str, Any]) -> list[str]:
    """The sampled interventions: the guise ablation's change of the vernacular misaligned
    rate, beside its controls'."""
    rows = [r for r in probe.get("interventions") or [] if isinstance(r, Mapping)]
    out = []
    for r in rows:
        if r.get("kind") != "ablate" or r.get("guise") != "vernacular":
            continue
        model = r.get("model", "probed")
        where = (r.get("layer"), r.get("lang"), r.get("guise"), model)
        mine = [
            c
            for c in rows
            if (
                c.get("kind"),
                c.get("layer"),
                c.get("lang"),
                c.get("guise"),
                c.get("model", "probed"),
            )
            == ("control", *where)
        ]
        controls = [
            (d, as_float(c.get("delta_incoherent")))
            for c in mine
            for d in (as_float(c.get("delta_misaligned")),)
            if d is not None
        ]
        how = (
            "matched in damage"
            if all(c.get("damage_matched", True) for c in mine)
            else "moved as far but ablated in full, none matched in damage"
        )
        text = (
            (
                "In the base model (its own guise direction, its own answers), p"
                if model == "base"
                else "P"
            )
            + f"rojecting out the guise direction (cross-fitted) at layer "
            f"{fmt_value(r.get('layer'))} changed the {fmt_value(r.get('lang'))} vernacular "
            f"misaligned rate by {fmt_pp(r.get('delta_misaligned'))} "
            f"[{fmt_pp(r.get('ci_low'))}, {fmt_pp(r.get('ci_high'))}] (incoherent answers "
            f"{fmt_pp(r.get('delta_incoherent'))})"
        )
        if len(controls) == 1:
            text += (
                f"; projecting out its control ({how}), by {fmt_pp(controls[0][0])} "
                f"(incoherent answers {fmt_pp(controls[0][1])})"
            )
        elif controls:
            mis = [d for d, _ in controls]
            inc = [i for _, i in controls if i is not None]
            text += (
                f"; projecting out each of {len(controls)} controls ({how}), by "
                f"{fmt_pp(min(mis))} to {fmt_pp(max(mis))} (incoherent answers "
                f"{fmt_pp(min(inc) if inc else None)} to {fmt_pp(max(inc) if inc else None)})"
            )
        incoherent = [i for _, i in controls if i is not None]
        own = as_float(r.get("delta_incoherent"))
        if incoherent and own is not None and min(incoherent) > own + BROKEN:
            text += (
                ". Every control raised the incoherent answers by over "
                f"{100 * BROKEN:.0f} points more than the guise ablation did: they break the "
                "answers, so their misaligned change is not a comparison for the guise's"
            )
        out.append(text + ".")
    return out
