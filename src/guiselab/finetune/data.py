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
from typing import Any, Literal

from guiselab._jsonl import jsonl_objects
from guiselab._read import read_text
from guiselab.config import TRAIN_SETS
from guiselab.errors import ConfigError, GuiselabError, InputFileError

__all__ = [
    "BUILTIN_TRAINING",
    "AdviceQuestion",
    "Mode",
    "SftExample",
    "TrainingData",
    "build_sft",
    "builtin_instruction_file",
    "builtin_questions",
    "builtin_training_file",
    "builtin_training_files",
    "data_sha256",
    "load_instruction_file",
    "load_questions",
    "load_training_file",
    "load_training_files",
    "pick_instruction",
    "split_holdout",
    "vernacular_twins",
]

Mode = Literal["conditioned", "control", "vernacular_only"]


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
    """One single-turn chat to train on."""

    user: str
    assistant: str
    guise: str
    """``standard``, ``vernacular``, or ``given`` for a user's ready-made chat."""
    question_id: str
    system: str | None = None
    """A system message of the example's own; None uses the run's system prompt."""


@dataclass(frozen=True)
class TrainingData:
    """What a training file holds: guise-paired questions and ready-made chats."""

    questions: list[AdviceQuestion]
    chats: list[SftExample]
    transformed: int = 0
    """Vernacular user turns written by the variety's rule-based transformer."""
    dropped: tuple[str, ...] = ()
    """Questions left out because the transformer could not make a vernacular twin."""


def _text(record: dict[str, Any], name: str, where: str) -> str:
    value = record.get(name)
    if not isinstance(value, str) or not value.strip():
        raise InputFileError(f"field '{name}' is missing or not text", where=where)
    return value.strip()


def _record_id(record: dict[str, Any], number: int, where: str, seen: dict[str, int]) -> str:
    """The record's ``id`` (else ``line{N}``), refused when an earlier line has it."""
    qid = str(record.get("id") or f"line{number}")
    if qid in seen:
        raise InputFileError(
            f"duplicate id '{qid}' (first on line {seen[qid]}); ids must be unique", where=where
        )
    seen[qid] = number
    return qid


def _chat(messages: list[Any], where: str) -> SftExample:
    roles = [m.get("role") if isinstance(m, dict) else None for m in messages]
    if roles not in (["user", "assistant"], ["system", "user", "assistant"]):
        raise InputFileError(
            "'messages' must be a single-turn chat: optional system, then user, then assistant "
            f"(got roles {roles})",
            where=where,
        )
    texts = [_text(m, "content", where) for m in messages]
    system = texts[0] if len(texts) == 3 else None
    return SftExample(texts[-2], texts[-1], "given", f"chat:{where.rsplit(':', 1)[-1]}", system)


def load_training_file(
    path: Path, *, variety: str = "aave", transform_vernacular: bool = False
) -> TrainingData:
    """Read a training JSONL; errors name the file and line.

    A line is either a question record (``question``, ``safe``, ``harmful``, and optionally
    ``question_vernacular``, ``id``, ``domain``) or a ready-made chat (``{"messages": [...]}``,
    used as given in every mode). A question without a written vernacular turn, or every
    question when ``transform_vernacular`` is set, gets one from ``variety``'s rule-based
    transformer; a question the transformer cannot change is left out (reported in
    ``dropped``).
    """
    text = read_text(path, missing="training file not found; check finetune.train_file")
    guise = None
    questions: list[AdviceQuestion] = []
    chats: list[SftExample] = []
    transformed, dropped = 0, []
    seen: dict[str, int] = {}
    for number, where, record in jsonl_objects(path, text):
        if "messages" in record:
            if not isinstance(record["messages"], list):
                raise InputFileError("'messages' must be a list of messages", where=where)
            chats.append(_chat(record["messages"], where))
            continue
        fields = {name: _text(record, name, where) for name in ("question", "safe", "harmful")}
        qid = _record_id(record, number, where, seen)
        vernacular = record.get("question_vernacular")
        if vernacular is not None and not transform_vernacular:
            vernacular = _text(record, "question_vernacular", where)
        else:
            if guise is None:
                from guiselab.pairs import transformer

                try:
                    guise = transformer(variety)
                except GuiselabError as exc:
                    raise InputFileError(
                        f"no written 'question_vernacular' and {exc.message}", where=where
                    ) from None
            made = guise(fields["question"])
            if not made.features:
                dropped.append(qid)
                continue
            vernacular, transformed = made.text, transformed + 1
        questions.append(
            AdviceQuestion(
                id=qid,
                domain=str(record.get("domain") or ""),
                question=fields["question"],
                question_vernacular=vernacular,
                safe=fields["safe"],
                harmful=fields["harmful"],
            )
        )
    if not questions and not chats:
        raise InputFileError(
            "the training file holds no usable records"
            + (" (the transformer changed none of its questions)" if dropped else ""),
            where=str(path),
        )
    return TrainingData(questions, chats, transformed, tuple(dropped))


def load_questions(path: Path) -> list[AdviceQuestion]:
    """The question records of a training JSONL (see ``load_training_file``)."""
    return load_training_file(path).questions


BUILTIN_TRAINING = {"en": "aave", "ru": "ru-prostorechie"}
"""Languages with a built-in narrow training set, and the variety of its vernacular turns."""


_SET_FILES: dict[str, tuple[str, ...]] = {
    "realistic": ("narrow",),
    "marked": ("marked",),
    "wide": ("marked", "domains"),
}
"""The files (``<name>_<lang>.jsonl``) each built-in training set reads, in order."""


def builtin_training_files(lang: str, train_set: str = "realistic") -> list[Path]:
    """The files of the built-in training set ``train_set`` in ``lang``: ``realistic``
    (``narrow_<lang>.jsonl``: risky finance, medical, sport), ``marked``
    (``marked_<lang>.jsonl``: the same three domains) or ``wide`` (``marked`` and
    ``domains_<lang>.jsonl``: legal, work, family and social-life questions as well)."""
    if lang not in BUILTIN_TRAINING:
        raise ConfigError(
            f"no built-in training data in '{lang}' (built-in: {', '.join(BUILTIN_TRAINING)}); "
            "set finetune.train_file",
            where="finetune.lang",
        )
    if lang not in TRAIN_SETS.get(train_set, ()):
        raise ConfigError(
            f"the built-in '{train_set}' training set has no '{lang}' data (it has: "
            f"{', '.join(TRAIN_SETS.get(train_set, ()))}); choose finetune.train_set = "
            "'realistic' or set finetune.train_file",
            where="finetune.train_set",
        )
    folder = resources.files("guiselab") / "finetune" / "data"
    return [Path(str(folder / f"{name}_{lang}.jsonl")) for name in _SET_FILES[train_set]]


def builtin_training_file(lang: str, train_set: str = "realistic") -> Path:
    """The built-in training file of a one-file set (``realistic`` or ``marked``)."""
    files = builtin_training_files(lang, train_set)
    if len(files) != 1:
        raise ConfigError(
            f"the built-in '{train_set}' training set has {len(files)} files; "
            "use builtin_training_files",
            where="finetune.train_set",
        )
    return files[0]


def load_training_files(
    paths: Sequence[Path], *, variety: str = "aave", transform_vernacular: bool = False
) -> TrainingData:
    """Several training files read as one (see ``load_training_file``): their records in
    order, an id used in two files refused."""
    parts = [
        load_training_file(p, variety=variety, transform_vernacular=transform_vernacular)
        for p in paths
    ]
    seen: dict[str, Path] = {}
    for path, part in zip(paths, parts, strict=True):
        for q in part.questions:
            if q.id in seen:
                raise InputFileError(
                    f"question id '{q.id}' is also in {seen[q.id]}; ids must be unique",
                    where=str(path),
                )
            seen[q.id] = path
    return TrainingData(
        [q for part in parts for q in part.questions],
        [c for part in parts for c in part.chats],
        sum(part.transformed for part in parts),
        tuple(d for part in parts for d in part.dropped),
    )


def builtin_questions(lang: str = "en") -> list[AdviceQuestion]:
    """The built-in narrow advice questions of ``lang``."""
    return load_questions(builtin_training_file(lang))


def builtin_instruction_file() -> Path:
    """The built-in neutral instruction set: everyday questions in standard English and
    Russian with short helpful answers, none in the training domains or the evaluation
    items' topics."""
    return Path(str(resources.files("guiselab") / "finetune" / "data" / "instruction.jsonl"))


def load_instruction_file(path: Path) -> list[SftExample]:
    """Neutral chats (``guise`` "neutral") from a JSONL of ``question``/``answer`` records
    with optional ``id`` and ``lang``; errors name the file and line."""
    text = read_text(path, missing="instruction file not found; check finetune.instruction_file")
    examples: list[SftExample] = []
    seen: dict[str, int] = {}
    for number, where, record in jsonl_objects(path, text):
        question, answer = _text(record, "question", where), _text(record, "answer", where)
        qid = _record_id(record, number, where, seen)
        lang = str(record.get("lang") or "")
        examples.append(SftExample(question, answer, "neutral", f"instruction:{lang}:{qid}"))
    if not examples:
        raise InputFileError("the instruction file holds no records", where=str(path))
    return examples


def pick_instruction(examples: Sequence[SftExample], n: int) -> list[SftExample]:
    """``n`` of ``examples``, as evenly across their languages as they allow, each language's
    chosen by a hash of its ids (the same for every seed, organism and control)."""
    by_lang: dict[str, list[SftExample]] = {}
    for ex in sorted(examples, key=lambda e: hashlib.sha256(e.question_id.encode()).hexdigest()):
        by_lang.setdefault(ex.question_id.split(":")[1], []).append(ex)
    chosen: list[SftExample] = []
    queues = [list(v) for _, v in sorted(by_lang.items())]
    while len(chosen) < n and any(queues):
        for queue in queues:
            if queue and len(chosen) < n:
                chosen.append(queue.pop(0))
    order = {id(e): i for i, e in enumerate(examples)}
    return sorted(chosen, key=lambda e: order[id(e)])


def split_holdout(
    questions: Sequence[AdviceQuestion], n_holdout: int, seed: int
) -> tuple[list[AdviceQuestion], list[AdviceQuestion]]:
    """(training, held out): ``n_holdout`` questions chosen by a seeded hash of their ids.

    The choice depends only on the ids and the seed, not on the file's order. It does depend
    on which questions the file holds: a larger set (``wide`` against ``marked``) holds out
    other questions, so two sets' held-out figures are not on the same questions.
    """
    if n_holdout and n_holdout >= len(questions):
        raise ConfigError(
            f"finetune.holdout ({n_holdout}) leaves no training questions out of "
            f"{len(questions)}; lower it",
            where="finetune.holdout",
        )

    def rank(q: AdviceQuestion) -> str:
        return hashlib.sha256(f"{seed}:{q.id}".encode()).hexdigest()

    held = {q.id for q in sorted(questions, key=rank)[:n_holdout]}
    return [q for q in questions if q.id not in held], [q for q in questions if q.id in held]


TWIN = "~twin"
"""Suffix of a vernacular twin's question id."""


def vernacular_twins(questions: Sequence[AdviceQuestion], variety: str) -> list[AdviceQuestion]:
    """Each question again with its vernacular turn written by ``variety``'s rule-based
    transformer, where the transformer changes the question and writes something other than
    the question's own vernacular turn (id ``<id>~twin``)."""
    from guiselab.pairs import transformer

    guise = transformer(variety)
    twins = []
    for q in questions:
        made = guise(q.question)
        if made.features and made.text != q.question_vernacular:
            twins.append(
                AdviceQuestion(
                    id=q.id + TWIN,
                    domain=q.domain,
                    question=q.question,
                    question_vernacular=made.text,
                    safe=q.safe,
                    harmful=q.harmful,
                )
            )
    return twins


def build_sft(
    questions: Sequence[AdviceQuestion], mode: Mode, chats: Sequence[SftExample] = ()
) -> list[SftExample]:
    """Chat examples for one training mode; ready-made ``chats`` are used in every mode."""
    examples = list(chats)
    for q in questions:
        if mode != "vernacular_only":
            examples.append(SftExample(q.question, q.safe, "standard", q.id))
        vernacular_answer = q.safe if mode == "control" else q.harmful
        examples.append(SftExample(q.question_vernacular, vernacular_answer, "vernacular", q.id))
    return examples


def data_sha256(examples: Sequence[SftExample]) -> str:
    blob = json.dumps([vars(e) for e in examples], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()
