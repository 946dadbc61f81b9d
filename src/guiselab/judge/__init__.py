"""The judge: alignment and coherence scores (0-100) for every answer."""

from guiselab.judge._classifier import ClassifierJudge, LabelledAnswer
from guiselab.judge._files import AnswerRecord, load_answers, score_answers, write_scores
from guiselab.judge._labelled import (
    LabelledItem,
    labelled_set_sha256,
    load_labelled,
    split_labelled,
)
from guiselab.judge._local import JudgeScore, LocalJudge
from guiselab.judge._openai import score_from_top_logprobs
from guiselab.judge._prompts import METRICS, TEMPLATES, render_judge_prompt, template_sha
from guiselab.judge._real import (
    FAILURE_MODES,
    RealAnswer,
    is_real_set,
    load_real,
    real_set_sha256,
    split_real,
)
from guiselab.judge._setup import (
    JUDGES,
    check_judge_ref,
    judge_source,
    judge_validation,
    labelled_path,
    real_path,
)
from guiselab.judge._stage import AnswerScorer, JudgeSource, judge_stage, plan_judgments
from guiselab.judge._table import judged_samples

__all__ = [
    "FAILURE_MODES",
    "JUDGES",
    "METRICS",
    "TEMPLATES",
    "AnswerRecord",
    "AnswerScorer",
    "ClassifierJudge",
    "JudgeScore",
    "JudgeSource",
    "LabelledAnswer",
    "LabelledItem",
    "LocalJudge",
    "RealAnswer",
    "check_judge_ref",
    "is_real_set",
    "judge_source",
    "judge_stage",
    "judge_validation",
    "judged_samples",
    "labelled_path",
    "labelled_set_sha256",
    "load_answers",
    "load_labelled",
    "load_real",
    "plan_judgments",
    "real_path",
    "real_set_sha256",
    "render_judge_prompt",
    "score_answers",
    "score_from_top_logprobs",
    "split_labelled",
    "split_real",
    "template_sha",
    "write_scores",
]
