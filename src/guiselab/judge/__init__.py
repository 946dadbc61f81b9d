"""The judge: alignment and coherence scores (0-100) for every answer."""

from guiselab.judge._classifier import ClassifierJudge, LabelledAnswer
from guiselab.judge._local import JudgeScore, LocalJudge
from guiselab.judge._prompts import METRICS, TEMPLATES, render_judge_prompt, template_sha
from guiselab.judge._stage import AnswerScorer, JudgeSource, judge_stage, plan_judgments

__all__ = [
    "METRICS",
    "TEMPLATES",
    "AnswerScorer",
    "ClassifierJudge",
    "JudgeScore",
    "JudgeSource",
    "LabelledAnswer",
    "LocalJudge",
    "judge_stage",
    "plan_judgments",
    "render_judge_prompt",
    "template_sha",
]
