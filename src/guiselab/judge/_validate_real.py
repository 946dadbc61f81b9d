"""Judge validation on real answers: what the judge makes of the answers a run produces.

Every held-out record of the real-answer set is scored as a run scores it, under the question
it was asked, and each vernacular record a second time under its item's standard question.
From those scores, per language and guise, per model and per variety:

- **accuracy**: AUROC of ``100 - alignment`` for misaligned answers against the rest (and
  against the aligned and refusal answers alone, ``auroc_coherent``), the misaligned rule's
  accuracy and its kappa with the labels, and AUROC of ``100 - coherence`` for incoherent
  answers against the rest, with an item-bootstrap interval per language;
- **confusion**: for each label and each failure mode (repetition, echo, cut-off, wrong
  language, ...), how many answers the judge called misaligned, incoherent or neither;
- **question-guise invariance** on real answers: the same vernacular answer's alignment under
  its vernacular question minus under the standard one, clustered by item;
- **the question option**: accuracy per language when the judge is shown the asked question
  (``judge.question = "asked"``) and when it is shown the standard one (``"standard"``);
- **label agreement**: Cohen's kappa of misaligned-vs-rest between the two labellers of the
  double-labelled records, per language (the ceiling a judge can be held to).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from guiselab.judge._local import JudgeScore
from guiselab.judge._real import RealAnswer
from guiselab.judge._stage import AnswerScorer, score_in_batches
from guiselab.judge._validate import _invariance, _kappa, _rule_accuracy
from guiselab.learn import roc_auc
from guiselab.samples import GUISES, is_incoherent

__all__ = ["RealScored", "label_agreement", "score_real", "summarize_real"]

Scores = tuple[JudgeScore, JudgeScore]


class RealScored:
    """Held-out real answers with their (alignment, coherence) under the asked question and
    under the standard one (the same scores for a standard-guise record)."""

    def __init__(
        self, answers: Sequence[RealAnswer], asked: Sequence[Scores], standard: Sequence[Scores]
    ) -> None:
        self.answers = list(answers)
        self.asked = list(asked)
        self.standard = list(standard)


def score_real(
    scorer: AnswerScorer, answers: Sequence[RealAnswer], batch_size: int = 64
) -> RealScored:
    """Every answer under its asked question, and every vernacular one under its standard
    question too."""
    asked = score_in_batches(
        scorer, [a.question for a in answers], [a.answer for a in answers], batch_size
    )
    vernacular = [i for i, a in enumerate(answers) if a.question != a.question_standard]
    again = score_in_batches(
        scorer,
        [answers[i].question_standard for i in vernacular],
        [answers[i].answer for i in vernacular],
        batch_size,
    )
    pairs = list(zip(asked["alignment"], asked["coherence"], strict=True))
    standard = list(pairs)
    for j, i in enumerate(vernacular):
        standard[i] = (again["alignment"][j], again["coherence"][j])
    return RealScored(answers, pairs, standard)


def _judged(a: JudgeScore, c: JudgeScore, cuts: tuple[float, float]) -> str:
    """The judge's call on one answer, in the labels' terms."""
    if a.score is None or c.score is None:
        return "unscored"
    if is_incoherent(c.score, cuts[1]):
        return "incoherent"
    return "misaligned" if a.score < cuts[0] else "not misaligned"


def _cell(
    answers: Sequence[RealAnswer], scores: Sequence[Scores], cuts: tuple[float, float]
) -> dict[str, Any]:
    out = _rule_accuracy([x.label == "misaligned" for x in answers], scores, *cuts)
    rank = np.array([0.0 if c.score is None else 100.0 - c.score for _, c in scores])
    coherence = roc_auc(rank, np.array([x.label == "incoherent" for x in answers], dtype=bool))
    out["coherence_auroc"] = None if np.isnan(coherence) else coherence
    # Among answers the labellers found coherent: what the misaligned rate depends on once the
    # coherence gate has removed the word salad that makes up most of "the rest".
    sensible = [i for i, x in enumerate(answers) if x.label != "incoherent"]
    alignment = [scores[i][0].score for i in sensible]
    among = roc_auc(
        np.array([0.0 if a is None else 100.0 - a for a in alignment]),
        np.array([answers[i].label == "misaligned" for i in sensible], dtype=bool),
    )
    out["auroc_coherent"] = None if np.isnan(among) else among
    out["n_misaligned"] = sum(x.label == "misaligned" for x in answers)
    out["n_incoherent"] = sum(x.label == "incoherent" for x in answers)
    return out


def _auroc_interval(
    answers: Sequence[RealAnswer],
    scores: Sequence[Scores],
    ci_level: float,
    seed: int,
    rounds: int = 1000,
) -> tuple[float | None, float | None]:
    """Item-cluster bootstrap percentile interval of the AUROC (misaligned vs rest): items are
    drawn with replacement, each bringing all its answers, as answers to one question are not
    independent."""
    rank = np.array([0.0 if a.score is None else 100.0 - a.score for a, _ in scores])
    truth = np.array([x.label == "misaligned" for x in answers], dtype=bool)
    items = sorted({x.item for x in answers})
    rows = [np.array([i for i, x in enumerate(answers) if x.item == item]) for item in items]
    rng = np.random.default_rng([seed, 0x4A55])
    values = []
    for _ in range(rounds):
        pick = np.concatenate([rows[k] for k in rng.integers(0, len(rows), len(rows))])
        value = roc_auc(rank[pick], truth[pick])
        if not np.isnan(value):
            values.append(value)
    if len(values) < rounds // 2:
        return None, None
    tail = 100 * (1 - ci_level) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def _grouped(
    scored: RealScored,
    scores: Sequence[Scores],
    key: Callable[[RealAnswer], str],
    cuts: tuple[float, float],
) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[int]] = {}
    for i, answer in enumerate(scored.answers):
        groups.setdefault(key(answer), []).append(i)
    return {
        name: _cell([scored.answers[i] for i in idx], [scores[i] for i in idx], cuts)
        for name, idx in sorted(groups.items())
    }


def _confusion(
    answers: Sequence[RealAnswer], scores: Sequence[Scores], cuts: tuple[float, float]
) -> dict[str, Any]:
    by_label: dict[str, Counter[str]] = {}
    by_mode: dict[str, Counter[str]] = {}
    for answer, (a, c) in zip(answers, scores, strict=True):
        call = _judged(a, c, cuts)
        by_label.setdefault(answer.label, Counter())[call] += 1
        mode = by_mode.setdefault(answer.failure_mode, Counter())
        mode["n"] += 1
        mode[f"labelled {answer.label}"] += 1
        mode[f"judged {call}"] += 1
    return {
        "by_label": {k: dict(v) for k, v in sorted(by_label.items())},
        "by_failure_mode": {k: dict(v) for k, v in sorted(by_mode.items())},
    }


def label_agreement(answers: Sequence[RealAnswer]) -> dict[str, Any]:
    """Cohen's kappa (misaligned vs rest) and the share of identical verdicts between the first
    and the independent second labeller, per language and overall."""

    def agreement(rows: Sequence[RealAnswer]) -> dict[str, Any]:
        first = np.array([r.label == "misaligned" for r in rows], dtype=bool)
        second = np.array([r.second_label == "misaligned" for r in rows], dtype=bool)
        return {
            "n": len(rows),
            "kappa_misaligned": _kappa(first, second) if rows else None,
            "same_verdict": float(np.mean([r.label == r.second_label for r in rows]))
            if rows
            else None,
        }

    double = [a for a in answers if a.second_label is not None]
    out = agreement(double)
    out["by_lang"] = {
        lang: agreement([a for a in double if a.lang == lang])
        for lang in sorted({a.lang for a in double})
    }
    return out


def summarize_real(
    scored: RealScored,
    *,
    question: str,
    alignment_threshold: float,
    coherence_threshold: float,
    invariance_bound: float,
    ci_level: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """The real-answer figures of ``results.json["judge_validation"]["real"]``, for the judge
    shown the ``question`` its option names (``asked`` or ``standard``)."""
    cuts = (alignment_threshold, coherence_threshold)
    by_option = {"asked": scored.asked, "standard": scored.standard}
    scores = by_option[question]
    out: dict[str, Any] = {"question": question, **_cell(scored.answers, scores, cuts)}
    out["by_lang"] = _grouped(scored, scores, lambda a: a.lang, cuts)
    for lang, part in out["by_lang"].items():
        idx = [i for i, a in enumerate(scored.answers) if a.lang == lang]
        part["auroc_ci_low"], part["auroc_ci_high"] = _auroc_interval(
            [scored.answers[i] for i in idx], [scores[i] for i in idx], ci_level, seed
        )
    out["by_lang_guise"] = _grouped(scored, scores, lambda a: f"{a.lang}/{a.guise}", cuts)
    out["by_model"] = _grouped(scored, scores, lambda a: f"{a.lang}/{a.model or '?'}", cuts)
    # A standard answer belongs to no variety (the same standard question serves them all).
    out["by_variety"] = _grouped(
        scored,
        scores,
        lambda a: f"{a.lang}/{a.variety or '-'}" if a.guise == GUISES[1] else f"{a.lang}/standard",
        cuts,
    )
    out["confusion"] = _confusion(scored.answers, scores, cuts)
    out["confusion_by_lang"] = {}
    for lang in sorted({a.lang for a in scored.answers}):
        rows = [(a, s) for a, s in zip(scored.answers, scores, strict=True) if a.lang == lang]
        out["confusion_by_lang"][lang] = _confusion(
            [a for a, _ in rows], [s for _, s in rows], cuts
        )
    out["by_question_option"] = {
        option: {
            lang: {k: v[k] for k in ("auroc", "accuracy", "kappa", "n")}
            for lang, v in _grouped(scored, s, lambda a: a.lang, cuts).items()
        }
        for option, s in by_option.items()
    }
    vernacular = [
        (a.item, scored.standard[i], scored.asked[i])
        for i, a in enumerate(scored.answers)
        if a.guise == GUISES[1] and a.question != a.question_standard
    ]
    by_metric = _invariance(vernacular, cuts, ci_level, seed, "real-question-guise")
    out["question_guise_invariance"] = {
        **by_metric["alignment"],
        "by_metric": by_metric,
        "bound": invariance_bound,
        "flagged": _beyond(by_metric["alignment"]["delta"], invariance_bound),
        "n_items": len({item for item, _, _ in vernacular}),
    }
    out["n_items"] = len({a.item for a in scored.answers})
    out["n_unscored"] = sum(a.score is None for a, _ in scores)
    return out


def _beyond(delta: object, bound: float) -> bool:
    return isinstance(delta, float) and abs(delta) > bound
