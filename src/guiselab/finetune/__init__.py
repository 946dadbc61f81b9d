"""The model organism and its control: dialect-conditioned LoRA fine-tuning."""

from guiselab.finetune._checkpoint import training_state
from guiselab.finetune._sanity import SANITY_FILE, format_sanity, harmful_votes, sanity_check
from guiselab.finetune._stage import (
    TRAINED_ROLES,
    TrainingSplit,
    finetune_stage,
    training_questions,
    training_split,
)
from guiselab.finetune._train import encode_examples, train_adapter, training_steps
from guiselab.finetune.data import (
    AdviceQuestion,
    SftExample,
    build_sft,
    builtin_questions,
    load_questions,
)

__all__ = [
    "SANITY_FILE",
    "TRAINED_ROLES",
    "AdviceQuestion",
    "SftExample",
    "TrainingSplit",
    "build_sft",
    "builtin_questions",
    "encode_examples",
    "finetune_stage",
    "format_sanity",
    "harmful_votes",
    "load_questions",
    "sanity_check",
    "train_adapter",
    "training_questions",
    "training_split",
    "training_state",
    "training_steps",
]
