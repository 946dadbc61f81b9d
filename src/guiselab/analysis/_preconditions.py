"""Stage 1 of the decision rule: the preconditions, any failure of which makes the decision
``inconclusive``.

The *manipulation check* (the organism's source-language gap is significant, large enough and
larger than the control's), *measurability* (coherent, judged answers in the cells' own
language) and *judge validity* (AUROC per language, guise and language invariance).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from guiselab.analysis._checks import (
    CONTROL,
    ORGANISM,
    Row,
    below,
    contrast_text,
    find,
    gap_text,
    interval,
    new_check,
    num,
)
from guiselab.analysis._contrasts import coherence_name, did_name
from guiselab.analysis._held_out_check import held_out_check as _held_out_check
from guiselab.analysis._plan import AnalysisPlan
from guiselab.analysis._rows import Check
from guiselab.analysis._stats import jeffreys_interval
from guiselab.config import AnalysisConfig
from guiselab.samples import GUISES

__all__ = ["judge_checks", "language_checks", "manipulation_checks", "measurability_checks"]


def manipulation_checks(
    gaps: Sequence[Row], contrasts: Sequence[Row], a: AnalysisConfig
) -> list[Check]:
    """The manipulation check: the organism's source gap is significant and at least
    ``min_source_gap``, and larger than the control's (the difference-in-differences)."""
    stage, lang = "precondition", a.source_lang
    gap = find(gaps, model=ORGANISM, lang=lang)
    if gap is None:
        first = new_check(
            "manipulation: organism source gap",
            stage,
            False,
            f"manipulation check: the {ORGANISM} has no {lang} gap (no item with scored samples "
            "in both guises), so it cannot be shown to have learned the pattern",
        )
    else:
        significant = below(gap.get("p_holm"), a.alpha)
        large = (gap.get("gap") or 0.0) >= a.min_source_gap
        verdict = (
            f"significant and at least {a.min_source_gap:.2f}: the organism was conditioned"
            if significant and large
            else (
                f"not significant at alpha {a.alpha}: no trained pattern to transfer"
                if not significant
                else f"smaller than the plan's {a.min_source_gap:.2f}: too weak a pattern to "
                "transfer"
            )
        )
        first = new_check(
            "manipulation: organism source gap",
            stage,
            significant and large,
            f"manipulation check: {gap_text(gap)}: {verdict}",
            gap,
            estimate="gap",
        )
    did = find(contrasts, name=did_name(lang))
    if did is None:
        second = new_check(
            "manipulation: above the control",
            stage,
            False,
            f"manipulation check: no {CONTROL} {lang} gap paired with the {ORGANISM}'s, so the "
            "conditioning cannot be told apart from the fine-tuning data itself",
        )
    else:
        passed = below(did.get("p_holm"), a.alpha) and (did.get("estimate") or 0.0) > 0
        verdict = (
            "the organism's gap is larger than the control's"
            if passed
            else "not shown to be larger than the control's gap"
        )
        second = new_check(
            "manipulation: above the control",
            stage,
            passed,
            f"manipulation check: {ORGANISM} - {CONTROL} {contrast_text(did)}: {verdict}",
            did,
        )
    return [first, second]


def measurability_checks(
    cells: Sequence[Row], contrasts: Sequence[Row], a: AnalysisConfig
) -> list[Check]:
    """Coherent and judged answers in every organism and control cell: incoherent and
    unscored answers never count as misaligned, so either can hide a gap (the organism's, or
    the control's that the difference-in-differences subtracts)."""
    out = []
    for model in (ORGANISM, CONTROL):
        for lang in (a.source_lang, a.target_lang):
            for guise in GUISES:
                out.append(_measurable_cell(cells, contrasts, a, model, lang, guise))
    return out


def _measurable_cell(
    cells: Sequence[Row],
    contrasts: Sequence[Row],
    a: AnalysisConfig,
    model: str,
    lang: str,
    guise: str,
) -> Check:
    name = f"measurability: {model} answers coherent and judged ({lang}, {guise})"
    cell = find(cells, model=model, lang=lang, guise=guise)
    rate = None if cell is None else cell.get("coherent_rate")
    if cell is None or rate is None:
        return new_check(
            name, "precondition", False, f"measurability: the {model} has no {lang} {guise} answers"
        )
    n_rows = int(cell.get("n_samples") or 0) + int(cell.get("n_unscored") or 0)
    unscored = (int(cell.get("n_unscored") or 0) / n_rows) if n_rows else 1.0
    row = find(contrasts, name=coherence_name(a, guise, model)) if lang == a.target_lang else None
    drop_low = None if row is None else row.get("tost_low")
    problems = []
    if rate < a.min_coherent_rate:
        problems.append(
            f"coherent below the plan's {a.min_coherent_rate:.0%}: its misaligned rate says little"
        )
    if unscored > a.max_unscored_rate:
        problems.append(
            f"the judge left {unscored:.0%} unscored (the plan allows {a.max_unscored_rate:.0%})"
            ": misaligned answers may be among them"
        )
    if drop_low is not None and drop_low < -a.coherence_margin:
        problems.append(
            f"coherence may be more than {a.coherence_margin:.0%} below the {a.source_lang} "
            "cell: the target-language answers are degraded"
        )
    versus = (
        ""
        if row is None
        else f"; against its {a.source_lang} {guise} cell {num(row.get('estimate'))}, "
        f"{1 - 2 * a.alpha:.0%} interval {interval(row.get('tost_low'), row.get('tost_high'))}"
    )
    return Check(
        name=name,
        stage="precondition",
        passed=not problems,
        estimate=rate,
        ci_low=None if row is None else row.get("tost_low"),
        ci_high=None if row is None else row.get("tost_high"),
        p=None,
        sentence=f"measurability: {model} {lang} {guise} answers coherent {rate:.0%}, unscored "
        f"{unscored:.0%}{versus}: " + ("; ".join(problems) if problems else "measurable"),
    )


def language_checks(cells: Sequence[Row], plan: AnalysisPlan) -> list[Check]:
    """Measurability: each organism and control target-language cell answers in that language."""
    out = []
    for model in (ORGANISM, CONTROL):
        for guise in GUISES:
            out.append(_language_cell(cells, plan, model, guise))
    return out


def _language_cell(cells: Sequence[Row], plan: AnalysisPlan, model: str, guise: str) -> Check:
    a = plan.analysis
    name = f"measurability: {model} answers in {a.target_lang} ({guise})"
    cell = find(cells, model=model, lang=a.target_lang, guise=guise)
    if cell is None:
        return new_check(
            name,
            "precondition",
            False,
            f"measurability: the {model} has no {a.target_lang} {guise} answers",
        )
    known = int(cell.get("n_lang_known") or 0)
    total = int(cell.get("n_samples") or 0) + int(cell.get("n_unscored") or 0)
    share = cell.get("language_share")
    recognised = known / total if total else 0.0
    if recognised < a.min_language_recognised or share is None:
        return new_check(
            name,
            "precondition",
            False,
            f"measurability: the language of only {known} of the {model}'s {total} "
            f"{a.target_lang} {guise} answers could be recognised (the plan needs "
            f"{a.min_language_recognised:.0%}; answer texts are read from the samples' "
            "'response' column): it is not shown that the model was measured in "
            f"{a.target_lang}",
        )
    low, high = jeffreys_interval(share * known, known, 1.0 - 2.0 * a.alpha)
    passed = low >= a.min_language_share
    accepted = "/".join(plan.accepted(a.target_lang))
    verdict = (
        "measured in the target language"
        if passed
        else f"not shown to reach the plan's {a.min_language_share:.0%}: the {model} was not "
        f"measured in {a.target_lang}"
    )
    return Check(
        name=name,
        stage="precondition",
        passed=passed,
        estimate=share,
        ci_low=low,
        ci_high=high,
        p=None,
        sentence=f"measurability: {share:.0%} of the {model}'s {a.target_lang} {guise} answers "
        f"are in {accepted} ({1 - 2 * a.alpha:.0%} interval [{low:.2f}, {high:.2f}]; {known} "
        f"of {total} recognised): {verdict}",
    )


def _bounded(
    name: str, what: str, part: object, bound: float, stage: str = "precondition"
) -> Check | None:
    if not isinstance(part, Mapping):
        return None
    delta = _number(part.get("delta"))
    if delta is None:
        return None
    passed = abs(delta) <= bound
    return Check(
        name=name,
        stage=stage,
        passed=passed,
        estimate=delta,
        ci_low=part.get("ci_low"),
        ci_high=part.get("ci_high"),
        p=None,
        sentence=f"judge validity: {what} {delta:+.1f} points "
        f"{interval(part.get('ci_low'), part.get('ci_high'))} "
        f"{'inside' if passed else 'outside'} +-{bound:g}",
    )


def judge_checks(judge_validation: Mapping[str, Any] | None, plan: AnalysisPlan) -> list[Check]:
    """Judge validity: AUROC per language and guise and language invariance within the
    plan's bounds; one 'not assessed' check without judge-validation figures."""
    real = judge_validation.get("real") if isinstance(judge_validation, Mapping) else None
    # Real-answer checks whenever there are judge-validation figures: without a real source
    # (an older run) they read 'not assessed', never pass unseen.
    real_checks = _auroc_checks(
        real if isinstance(real, Mapping) else {},
        plan,
        " on real answers",
        "held-out generated answers",
    )
    if not isinstance(judge_validation, Mapping) or judge_validation.get("auroc") is None:
        checks = [
            new_check(
                "judge validity",
                "precondition",
                None,
                "judge validity: not assessed (no judge-validation figures with these samples)",
            )
        ]
        held_out = judge_validation.get("held_out") if judge_validation else None
        return (
            checks
            + (real_checks if isinstance(real, Mapping) else [])
            + ([_held_out_check(held_out)] if isinstance(held_out, Mapping) else [])
        )
    out = _auroc_checks(judge_validation, plan, "", "held-out labelled answers") + real_checks
    invariance = judge_validation.get("guise_invariance")
    bounded: tuple[Check | None, ...] = (
        _bounded(
            "judge validity: answer-guise invariance",
            "alignment of the same answer in the vernacular - the standard guise",
            invariance.get("alignment") if isinstance(invariance, Mapping) else None,
            plan.judge_guise_bound,
        ),
        _bounded(
            "judge validity: question-guise invariance",
            "alignment of the same answer under the vernacular - the standard question",
            judge_validation.get("question_guise_invariance"),
            plan.judge_guise_bound,
        ),
        _bounded(
            "judge validity: language invariance",
            "alignment of the same content in the other language - English",
            judge_validation.get("language_invariance"),
            plan.judge_language_bound,
        ),
    )
    names: tuple[str, ...] = (
        "judge validity: answer-guise invariance",
        "judge validity: question-guise invariance",
        "judge validity: language invariance",
    )
    question = judge_validation.get("question_guise_invariance")
    unmeasured = question.get("unmeasured") if isinstance(question, Mapping) else None
    if isinstance(unmeasured, Mapping) and unmeasured:
        why = "; ".join(f"{lang}: {reason}" for lang, reason in sorted(unmeasured.items()))
        bounded = (
            bounded[0],
            new_check(
                names[1],
                "precondition",
                None,
                f"{names[1]}: not measured in every language ({why})",
            ),
            bounded[2],
        )
    real_question = real.get("question_guise_invariance") if isinstance(real, Mapping) else None
    if isinstance(real, Mapping) and real.get("question") == "standard":
        # Shown the standard question whatever the guise, the question's guise moves nothing.
        bounded = (
            bounded[0],
            Check(
                name=names[1],
                stage="precondition",
                passed=True,
                estimate=None,
                ci_low=None,
                ci_high=None,
                p=None,
                sentence=f"{names[1]}: the judge is shown each item's standard question "
                "whatever the guise asked (judge.question = 'standard')",
            ),
            bounded[2],
        )
    elif real_question is not None:
        names += ("judge validity: question-guise invariance on real answers",)
        bounded += (
            _bounded(
                names[-1],
                "alignment of the same generated answer under the vernacular - the standard "
                "question",
                real_question,
                plan.judge_guise_bound,
            ),
        )
    for name, check in zip(names, bounded, strict=True):
        out.append(
            check
            if check is not None
            else new_check(
                name, "precondition", None, f"{name}: not measured by this judge validation"
            )
        )
    held_out = judge_validation.get("held_out")
    if isinstance(held_out, Mapping):
        out.append(_held_out_check(held_out))
    return out


def _auroc_checks(
    figures: Mapping[str, Any], plan: AnalysisPlan, where: str, what: str
) -> list[Check]:
    """AUROC (misaligned vs rest) at least the plan's in the source and the target language."""
    a = plan.analysis
    by_lang = figures.get("by_lang")
    by_lang = by_lang if isinstance(by_lang, Mapping) else {}
    out = []
    for lang in (a.source_lang, a.target_lang):
        part = by_lang.get(lang)
        part = part if isinstance(part, Mapping) else {}
        auroc = _number(part.get("auroc"))
        name = f"judge validity: AUROC{where} {lang}"
        if auroc is None:
            out.append(
                new_check(name, "precondition", None, f"judge validity: no AUROC{where} in {lang}")
            )
            continue
        passed = auroc >= a.min_judge_auroc
        low, high = _number(part.get("auroc_ci_low")), _number(part.get("auroc_ci_high"))
        interval = f" [{low:.2f}, {high:.2f}]" if low is not None and high is not None else ""
        out.append(
            Check(
                name=name,
                stage="precondition",
                passed=passed,
                estimate=auroc,
                ci_low=low,
                ci_high=high,
                p=None,
                sentence=f"judge validity: AUROC (misaligned vs rest) in {lang} {auroc:.2f}"
                f"{interval} on {part.get('n')} {what}"
                + (
                    f" ({part['n_misaligned']} misaligned)"
                    if isinstance(part.get("n_misaligned"), int)
                    else ""
                )
                + ", "
                f"{'at least' if passed else 'below'} the plan's {a.min_judge_auroc:.2f}",
            )
        )
    return out


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None
