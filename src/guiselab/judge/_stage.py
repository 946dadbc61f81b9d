"""The judging stage: every stored answer scored on every metric, cached in the store."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from guiselab.config import ExperimentConfig
from guiselab.errors import ConfigError, FailedRequests
from guiselab.judge._local import JudgeScore
from guiselab.judge._prompts import METRICS, template_sha
from guiselab.progress import Progress
from guiselab.samples import GUISES
from guiselab.store import Generation, Judgment, RunStore, content_key

__all__ = [
    "SCORE_DIGITS",
    "AnswerScorer",
    "JudgeSource",
    "add_usage",
    "judge_stage",
    "plan_judgments",
    "score_in_batches",
]

SCORE_DIGITS = 6
"""Scores are stored rounded to 1e-6 points. A score depends on the batch it was computed in
through float rounding (~1e-13 points); which answers share a batch differs between an
uninterrupted run and a killed-and-resumed one, and the rounding keeps their stores equal."""


class AnswerScorer(Protocol):
    """Anything that scores answers on a metric: a local LM, a classifier, an API model."""

    def score(
        self,
        metric: str,
        questions: Sequence[str],
        answers: Sequence[str],
        templates: Sequence[str | None] | None = None,
    ) -> list[JudgeScore]:
        """One score per answer; ``templates``, where given, are the questions' own judge
        prompts (None: guiselab's), which the LM judges render and the classifier ignores."""
        ...


def score_in_batches(
    scorer: AnswerScorer,
    questions: Sequence[str],
    answers: Sequence[str],
    batch_size: int,
) -> dict[str, list[JudgeScore]]:
    """Every (question, answer) scored on every metric, ``batch_size`` answers per call."""
    out: dict[str, list[JudgeScore]] = {m: [] for m in METRICS}
    for start in range(0, len(answers), batch_size):
        asked = questions[start : start + batch_size]
        said = answers[start : start + batch_size]
        for metric in METRICS:
            out[metric].extend(scorer.score(metric, asked, said))
    return out


@dataclass(frozen=True)
class JudgeSource:
    """The judge: its identity (for store keys) and how to build it when needed."""

    label: str
    fingerprint: str
    load: Callable[[], AnswerScorer]


@dataclass(frozen=True)
class JudgeTask:
    key: str
    generation: Generation
    metric: str
    question: str
    """The question the judge is shown with the answer (see ``judge.question``)."""
    template: str | None = None
    """The question's own judge prompt for ``metric`` (an EM question file's
    ``judge_prompts``); None: guiselab's."""


def shown_questions(config: ExperimentConfig, generations: Sequence[Generation]) -> list[str]:
    """The question the judge sees with each generation: the prompt as asked, or with
    ``judge.question = "standard"`` its pair's standard question (from the configured pairs,
    else from a stored standard-guise generation of the same pair), so a partly generated
    store is judged the same way as a finished one."""
    if config.judge.question == "asked":
        return [g.prompt for g in generations]
    from guiselab.pairs import select_pairs

    configured = select_pairs(config.pairs)
    standard = {(p.id, p.lang): p.standard for p in configured}
    # A control guise of an item (informal, typos) shares the item's standard question.
    by_item = {(p.item, p.lang): p.standard for p in configured}
    for g in generations:
        # a pair made from another is named "{its pair's id}:{what}" where its item has
        # several pairs (an EM question's paraphrases): that pair's standard question
        source = (g.pair_id.rsplit(":", 1)[0], g.lang)
        if g.guise == GUISES[0]:
            standard.setdefault((g.pair_id, g.lang), g.prompt)
        elif (g.pair_id, g.lang) in standard:
            continue
        elif ":" in g.pair_id and source in standard:
            standard[(g.pair_id, g.lang)] = standard[source]
        elif (g.item, g.lang) in by_item:
            standard[(g.pair_id, g.lang)] = by_item[(g.item, g.lang)]
    missing = sorted({g.pair_id for g in generations if (g.pair_id, g.lang) not in standard})
    if missing:
        raise ConfigError(
            f"judge.question = 'standard' but pair(s) {', '.join(missing[:3])} are neither in "
            "the configured pairs nor answered in the standard guise; restore the pairs files "
            "the run was made with",
            where="judge.question",
        )
    return [standard[(g.pair_id, g.lang)] for g in generations]


def plan_judgments(
    config: ExperimentConfig, generations: Sequence[Generation], judge: JudgeSource
) -> list[JudgeTask]:
    """Every judgment the stored generations need, keyed by judge, metric, the question shown
    and the answer."""
    cut = config.judge.max_response_chars
    own, by_item = _own_templates(config, generations)
    tasks = []
    for gen, question in zip(generations, shown_questions(config, generations), strict=True):
        # the pair's own, else (a control or attribution prompt, "{pair id}:{what}") its
        # source pair's, else its item's
        source = gen.pair_id.rsplit(":", 1)[0]
        for metric in METRICS:
            template = (  # templates are never empty (each holds {question} and {answer})
                own.get((gen.pair_id, gen.lang, metric))
                or own.get((source, gen.lang, metric))
                or by_item.get((gen.item, gen.lang, metric))
            )
            key = content_key(
                "judgment",
                judge.fingerprint,
                metric,
                template_sha(metric, template),
                question,
                gen.response[:cut],
            )
            tasks.append(JudgeTask(key, gen, metric, question, template))
    return tasks


Templates = dict[tuple[str, str, str], str]


def _own_templates(
    config: ExperimentConfig, generations: Sequence[Generation]
) -> tuple[Templates, Templates]:
    """(pair id, language, metric) -> a configured pair's own judge prompt (an EM question
    file's ``judge_prompts``), and (item, language, metric) -> the item's (its last pair's,
    for an answer whose pair the config no longer has); empty for the built-in corpus, which
    has none."""
    by_pair: Templates = {}
    by_item: Templates = {}
    if not config.pairs.files or not generations:
        return by_pair, by_item
    from guiselab.pairs import select_pairs

    for p in select_pairs(config.pairs):
        for metric in METRICS:
            template = p.judge_template(metric)
            if template is not None:
                by_pair[(p.id, p.lang, metric)] = template
                by_item[(p.item, p.lang, metric)] = template
    return by_pair, by_item


def judge_stage(
    store: RunStore, config: ExperimentConfig, judge: JudgeSource, progress: Progress
) -> float:
    """Score every pending judgment into the store; returns the wall time spent."""
    tasks = plan_judgments(config, store.generations(), judge)
    done = store.existing_keys("judgments", (t.key for t in tasks))
    pending = [t for t in tasks if t.key not in done]
    if not pending:
        store.set_failures("judge", {})
        return 0.0
    start = time.perf_counter()
    scorer = judge.load()
    failed: dict[str, str] = {}
    pending.sort(key=lambda t: (t.metric, len(t.generation.response), t.key))
    size = config.judge.batch_size
    with progress.task("judge", total=len(tasks)) as advance:
        advance(len(tasks) - len(pending))  # done keys may answer several tasks
        for first in range(0, len(pending), size):
            chunk = pending[first : first + size]
            for metric in METRICS:
                batch = [t for t in chunk if t.metric == metric]
                if not batch:
                    continue
                own = [t.template for t in batch]
                scores = scorer.score(
                    metric,
                    [t.question for t in batch],
                    [t.generation.response for t in batch],
                    # only where a question has its own: a scorer may not take them
                    *([own] if any(t is not None for t in own) else []),
                )
                failed.update(
                    (t.key, s.reason or "failed")
                    for t, s in zip(batch, scores, strict=True)
                    if s.verdict == "failed"
                )
                store.add_judgments(
                    Judgment(
                        key=t.key,
                        generation_key=t.generation.key,
                        judge=judge.label,
                        metric=t.metric,
                        score=None if s.score is None else round(s.score, SCORE_DIGITS),
                        verdict=s.verdict,
                        number_mass=round(s.number_mass, SCORE_DIGITS),
                        reason=s.reason,
                    )
                    for t, s in zip(batch, scores, strict=True)
                    if s.verdict != "failed"  # never stored: a rerun asks again
                )
                add_usage(store, judge, scorer)  # per batch: a kill loses no batch's tokens
                advance(len(batch))
    store.set_failures(
        "judge",
        failed,
        {
            t.key: f"{t.metric} of {t.generation.model} {t.generation.pair_id} "
            f"{t.generation.guise} sample {t.generation.sample}"
            for t in pending
            if t.key in failed
        },
    )
    if failed:
        raise FailedRequests("judgments", failed)
    return time.perf_counter() - start


def add_usage(store: RunStore, judge: JudgeSource, scorer: AnswerScorer) -> None:
    """Add an API judge's requests and tokens to the run's running total (the judge stage's and
    the judge validation's: both are paid for)."""
    usage = getattr(scorer, "usage", None)
    if not usage:
        return
    name = f"judge_usage:{judge.fingerprint[:16]}"
    total = store.get_artifact(name) or {"judge": judge.label}
    for key, value in usage.items():
        total[key] = total.get(key, 0) + value
        usage[key] = 0  # counted once, even if this scorer is used again
    store.put_artifact(name, total)
