"""Judging a file of answers: any (question, answer) records, scored by the configured judge.

``guiselab judge score FILE`` reads a JSON Lines or CSV file with the fields ``question``,
``answer`` and ``lang`` (and optionally ``guise``, ``standard`` or ``vernacular``, and ``id``),
scores every answer on every metric and writes one record per answer: the input's fields, then
``alignment``, ``alignment_verdict``, ``coherence``, ``coherence_verdict`` and ``misaligned``
(the experiment's rule at the config's thresholds). So a researcher can score their own answers,
or score the same answers with two judges and compare.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from guiselab._read import read_text
from guiselab._records import table_objects
from guiselab.errors import InputFileError
from guiselab.judge._prompts import METRICS
from guiselab.judge._stage import AnswerScorer, score_in_batches
from guiselab.samples import GUISES, is_misaligned
from guiselab.store import write_atomic

__all__ = ["AnswerRecord", "load_answers", "score_answers", "write_scores"]

REQUIRED = ("question", "answer", "lang")
OPTIONAL = ("guise", "id")
_OUTPUT = (*(m for m in METRICS), *(f"{m}_verdict" for m in METRICS), "misaligned")
"""Fields the scores write: a scores file read back as answers is scored afresh."""


@dataclass(frozen=True)
class AnswerRecord:
    """One answer to judge, as the file gives it."""

    id: str
    question: str
    answer: str
    lang: str
    guise: str | None
    extra: dict[str, Any]
    """The record's other fields, carried through to the scores."""


def _text_field(record: dict[str, Any], name: str, where: str, required: bool) -> str | None:
    value = record.get(name)
    if value is None or value == "":
        if required:
            raise InputFileError(f"missing or empty field '{name}'", where=where)
        return None
    if not isinstance(value, str):
        raise InputFileError(
            f"field '{name}' must be text, not {type(value).__name__}", where=where
        )
    return value


def load_answers(path: Path) -> list[AnswerRecord]:
    """The records of ``path`` (``.jsonl`` or ``.csv``); a bad record names file and line."""
    text = read_text(path, missing="no such answers file; check the path")
    records: list[AnswerRecord] = []
    seen: set[str] = set()
    for where, record in table_objects(path, text):
        question, answer, lang = (_text_field(record, f, where, True) for f in REQUIRED)
        guise = _text_field(record, "guise", where, False)
        if guise is not None and guise not in GUISES:
            raise InputFileError(
                f"guise {guise!r} is not one of {' or '.join(GUISES)} (or leave it empty)",
                where=where,
            )
        ident = _text_field(record, "id", where, False) or f"line-{where.rsplit(':', 1)[-1]}"
        if ident in seen:
            raise InputFileError(f"duplicate id {ident!r}; give every answer its own", where=where)
        seen.add(ident)
        assert question is not None and answer is not None and lang is not None
        extra = {k: v for k, v in record.items() if k not in (*REQUIRED, *OPTIONAL, *_OUTPUT)}
        records.append(AnswerRecord(ident, question, answer, lang, guise, extra))
    if not records:
        raise InputFileError(
            f"no answers to score; write one record per answer with {', '.join(REQUIRED)}",
            where=str(path),
        )
    return records


def score_answers(
    scorer: AnswerScorer,
    records: Sequence[AnswerRecord],
    *,
    alignment_threshold: float,
    coherence_threshold: float,
    batch_size: int = 64,
) -> list[dict[str, Any]]:
    """Every record scored on every metric, with the misaligned rule's verdict."""
    scores = score_in_batches(
        scorer, [r.question for r in records], [r.answer for r in records], batch_size
    )
    out: list[dict[str, Any]] = []
    for row, record in enumerate(records):
        result: dict[str, Any] = {
            "id": record.id,
            "lang": record.lang,
            "guise": record.guise,
            "question": record.question,
            "answer": record.answer,
            **record.extra,
        }
        for metric in METRICS:
            score = scores[metric][row]
            result[metric] = score.score
            result[f"{metric}_verdict"] = score.verdict
        align, coh = result.get("alignment"), result.get("coherence")
        verdicts = {result[f"{m}_verdict"] for m in METRICS}
        if "unscored" in verdicts:
            result["misaligned"] = None  # unknown, never defaulted
        else:  # a refusal or code is scored, and never misaligned
            result["misaligned"] = bool(
                align is not None
                and coh is not None
                and is_misaligned(align, coh, alignment_threshold, coherence_threshold)
            )
        out.append(result)
    return out


def write_scores(rows: Sequence[dict[str, Any]], path: Path) -> None:
    """The scored records as ``.jsonl`` or ``.csv`` (by ``path``'s suffix), written atomically."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        text = "".join(json.dumps(r, ensure_ascii=False, allow_nan=False) + "\n" for r in rows)
    elif suffix == ".csv":
        buffer = io.StringIO(newline="")
        names = list(rows[0]) if rows else ["id", "lang", "guise", "question", "answer"]
        writer = csv.DictWriter(buffer, fieldnames=names, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in r.items()} for r in rows)
        text = buffer.getvalue()
    else:
        raise InputFileError("unknown output type; use .jsonl or .csv", where=str(path))
    write_atomic(path, text)
