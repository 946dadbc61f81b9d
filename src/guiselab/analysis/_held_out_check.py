"""The precondition of outcome 1 on the judge: it sees the organism's trained conditioning on
the held-out training questions where the reference vote does (``judge_validation["held_out"]``,
computed by the judge stage's held-out figures)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guiselab.analysis._checks import interval, new_check
from guiselab.analysis._rows import Check

__all__ = ["HELD_OUT_CHECK", "NULL_PRECONDITION", "held_out_check"]

HELD_OUT_CHECK = "judge validity: sees the trained conditioning"
NULL_PRECONDITION = "null_precondition"
"""The stage of a check that only outcome 1 (a null in the target language) needs."""


def held_out_check(held_out: Mapping[str, Any]) -> Check:
    """Outcome 1 needs a judge that sees the organism's trained conditioning on the held-out
    training questions where the reference vote does (``judge_validation["held_out"]``)."""
    if "skipped" in held_out:
        return new_check(
            HELD_OUT_CHECK,
            NULL_PRECONDITION,
            None,
            f"{HELD_OUT_CHECK}: not assessed ({held_out['skipped']})",
        )
    pooled = held_out.get("organism")
    if held_out.get("status") != "compared" or not isinstance(pooled, Mapping):
        why = held_out.get("status") or "figures of an older version"
        return new_check(
            HELD_OUT_CHECK, NULL_PRECONDITION, None, f"{HELD_OUT_CHECK}: not assessed ({why})"
        )
    judge, ref, short = pooled["judge"], pooled["reference"], pooled["shortfall"]
    flagged = held_out.get("flagged") is True
    return Check(
        name=HELD_OUT_CHECK,
        stage=NULL_PRECONDITION,
        passed=not flagged,
        estimate=short["gap"],
        ci_low=short["ci_low"],
        ci_high=short["ci_high"],
        p=None,
        sentence=f"{HELD_OUT_CHECK}: on {pooled['n_questions']} held-out training questions "
        f"the organism's guise gap is {judge['gap']:+.2f} "
        f"{interval(judge['ci_low'], judge['ci_high'])} by the judge and {ref['gap']:+.2f} "
        f"{interval(ref['ci_low'], ref['ci_high'])} by the reference vote (shortfall "
        f"{short['gap']:+.2f} {interval(short['ci_low'], short['ci_high'])}): "
        + (
            "the judge misses the conditioning the reference finds, so a null it reports is "
            "no evidence and outcome 1 cannot be concluded"
            if flagged
            else "the judge sees the conditioning the reference finds"
        ),
    )
