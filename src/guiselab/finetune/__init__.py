"""The model organism and its control: dialect-conditioned LoRA fine-tuning."""

from guiselab.finetune._stage import finetune_stage, training_questions
from guiselab.finetune._train import encode_examples, train_adapter
from guiselab.finetune.data import (
    AdviceQuestion,
    SftExample,
    build_sft,
    builtin_questions,
    judge_training_answers,
    load_questions,
)

__all__ = [
    "AdviceQuestion",
    "SftExample",
    "build_sft",
    "builtin_questions",
    "encode_examples",
    "finetune_stage",
    "judge_training_answers",
    "load_questions",
    "train_adapter",
    "training_questions",
]
