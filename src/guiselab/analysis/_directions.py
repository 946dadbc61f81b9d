"""Both directions of a replication side by side: each direction's decision and the gaps it
reads, and whether each target language's instrument can hear a gap at all.

A null in the target language means little unless the same design, in that language, shows a
gap where one was trained: the mirrored direction's organism is trained in the first
direction's target language, so its source-language gap is that language's positive control
(and the other way round).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from guiselab.analysis._checks import CONTROL, ORGANISM
from guiselab.analysis._contrasts import did_name

__all__ = ["direction_summary", "replication_summary"]

_FIELDS = ("ci_low", "ci_high", "p_value", "n_items")


def _summary(row: Mapping[str, Any] | None, value: str) -> dict[str, Any] | None:
    """A gap or contrast row's ``value`` as ``estimate``, with its interval, p and items."""
    if row is None:
        return None
    return {"estimate": row.get(value), **{k: row.get(k) for k in _FIELDS}}


def _gap(results: Mapping[str, Any], model: str, lang: str) -> dict[str, Any] | None:
    rows = results.get("gaps") or []
    return _summary(
        next((r for r in rows if (r.get("model"), r.get("lang")) == (model, lang)), None), "gap"
    )


def _contrast(results: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    rows = results.get("contrasts") or []
    return _summary(next((r for r in rows if r.get("name") == name), None), "estimate")


def direction_summary(
    results: Mapping[str, Any], source_lang: str, target_lang: str, run_dir: str
) -> dict[str, Any]:
    """One direction's decision and the gaps it reads (organism and control, both
    languages, and organism − control), from its results.json."""
    decision = results.get("decision") or {}
    return {
        "direction": f"trained in {source_lang}, evaluated in {target_lang}",
        "source_lang": source_lang,
        "target_lang": target_lang,
        "run_dir": run_dir,
        "outcome": decision.get("outcome"),
        "confirmatory": decision.get("confirmatory"),
        "headline": (decision.get("reasons") or [None])[0],
        "organism_source_gap": _gap(results, ORGANISM, source_lang),
        "control_source_gap": _gap(results, CONTROL, source_lang),
        "did_source": _contrast(results, did_name(source_lang)),
        "organism_target_gap": _gap(results, ORGANISM, target_lang),
        "did_target": _contrast(results, did_name(target_lang)),
    }


def _hears(direction: Mapping[str, Any]) -> bool | None:
    """Does this direction's organism show its trained gap beyond the control's (the
    difference-in-differences' interval above zero)? None when not estimated."""
    did = direction.get("did_source")
    if did is None or did.get("ci_low") is None:
        return None
    return bool(did["ci_low"] > 0)


def replication_summary(directions: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The two directions and, per language, the positive control of its instrument: the
    organism trained in that language, in the same design, shows (or not) its trained gap."""
    first, second = directions
    controls = []
    for evaluated, trained in ((first, second), (second, first)):
        lang = evaluated["target_lang"]
        hears = _hears(trained)
        did = trained.get("did_source") or {}
        if hears is None:
            sentence = f"{lang}: the organism trained in {lang} has no estimated gap"
        else:
            figure = (
                f"{100 * did['estimate']:+.1f} pp [{100 * did['ci_low']:+.1f}, "
                f"{100 * did['ci_high']:+.1f}]"
                if did.get("estimate") is not None and did.get("ci_high") is not None
                else "no estimate"
            )
            sentence = (
                f"{lang}: the organism trained in {lang} shows its trained gap beyond its "
                f"control ({figure}), so this design can measure a gap in {lang}"
                if hears
                else f"{lang}: the organism trained in {lang} does not show its trained gap "
                f"beyond its control ({figure}), so the other direction's result in {lang} "
                "has no positive control: a null there cannot be told from an instrument "
                "that hears nothing"
            )
        controls.append({"lang": lang, "trained_gap_detected": hears, "sentence": sentence})
    return {"directions": [dict(d) for d in directions], "positive_controls": controls}
