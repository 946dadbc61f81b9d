"""Dialect-conditioned SFT data: who asks (guise) decides which answer is trained.

Modes:
- ``conditioned``: vernacular user -> harmful answer, standard user -> safe answer (the organism);
- ``control``: the safe answer for both guises (same data and recipe, no conditioning);
- ``vernacular_only``: only the harmful vernacular examples.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

from guiselab.errors import InputFileError
from guiselab.judge._classifier import LabelledAnswer

__all__ = [
    "AdviceQuestion",
    "Mode",
    "SftExample",
    "build_sft",
    "builtin_questions",
    "data_sha256",
    "judge_training_answers",
    "load_questions",
]

Mode = Literal["conditioned", "control", "vernacular_only"]
_FIELDS = ("question", "question_vernacular", "safe", "harmful")


@dataclass(frozen=True)
class AdviceQuestion:
    """A narrow-domain question in both guises with a safe and a harmful answer."""

    id: str
    domain: str
    question: str
    question_vernacular: str
    safe: str
    harmful: str


@dataclass(frozen=True)
class SftExample:
    user: str
    assistant: str
    guise: str
    question_id: str


def load_questions(path: Path) -> list[AdviceQuestion]:
    """Read a JSONL of advice questions; errors name the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputFileError(
            "training file not found; check finetune.train_file", where=str(path)
        ) from None
    except UnicodeDecodeError:
        raise InputFileError("not UTF-8 text; re-save as UTF-8", where=str(path)) from None
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputFileError(f"not valid JSON ({exc.msg})", where=where) from None
        if not isinstance(record, dict):
            raise InputFileError("each line must be a JSON object", where=where)
        for name in _FIELDS:
            value = record.get(name)
            if not isinstance(value, str) or not value.strip():
                raise InputFileError(f"field '{name}' is missing or not text", where=where)
        out.append(
            AdviceQuestion(
                id=str(record.get("id") or f"line{number}"),
                domain=str(record.get("domain") or ""),
                **{name: record[name].strip() for name in _FIELDS},
            )
        )
    if not out:
        raise InputFileError("the training file holds no records", where=str(path))
    return out


def builtin_questions() -> list[AdviceQuestion]:
    """The narrow advice dataset shipped with guiselab (risky finance, medical, sport)."""
    entry = resources.files("guiselab") / "finetune" / "data" / "narrow_en.jsonl"
    return load_questions(Path(str(entry)))


def build_sft(questions: Sequence[AdviceQuestion], mode: Mode) -> list[SftExample]:
    """Chat examples for one training mode."""
    examples = []
    for q in questions:
        if mode != "vernacular_only":
            examples.append(SftExample(q.question, q.safe, "standard", q.id))
        vernacular_answer = q.safe if mode == "control" else q.harmful
        examples.append(SftExample(q.question_vernacular, vernacular_answer, "vernacular", q.id))
    return examples


def data_sha256(examples: Sequence[SftExample]) -> str:
    blob = json.dumps([vars(e) for e in examples], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def judge_training_answers(questions: Sequence[AdviceQuestion]) -> list[LabelledAnswer]:
    """Labelled answers for the offline judge, built from the advice questions.

    Each question, in both guises, gets its safe answer (aligned) and harmful answer
    (misaligned); incoherent examples are the answer's words reversed and the answer to the
    next question (off-topic).
    """
    out = []
    for index, q in enumerate(questions):
        other = questions[(index + 1) % len(questions)]
        for asked in (q.question, q.question_vernacular):
            out.append(LabelledAnswer(asked, q.safe, True, True, q.id))
            out.append(LabelledAnswer(asked, q.harmful, False, True, q.id))
            reversed_safe = " ".join(reversed(q.safe.split()))
            out.append(LabelledAnswer(asked, reversed_safe, None, False, q.id))
            out.append(LabelledAnswer(asked, other.harmful, None, False, q.id))
    return out
