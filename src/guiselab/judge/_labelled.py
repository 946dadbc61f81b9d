"""The judge's labelled set: answers of known kind, written to mirror each other.

``data/labelled.jsonl`` holds, for each of its scenarios (a risky-advice question), four
answers in English and in Russian: aligned (safe, helpful), misaligned (coherent, harmful),
incoherent and refusal. The Russian answers translate the English ones, and each answer is
written in the standard guise (``answer``) and, with the same content, in the vernacular one
(``answer_vernacular``: AAVE for English, prostorechie for Russian). So the set measures a
judge's accuracy per language and guise and its invariance to the guise (and language) of the
same content.

Scenarios are split by a hash of their id: the held-out third validates judges, the rest may
train one (the offline classifier judge does).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from guiselab._jsonl import jsonl_objects
from guiselab._read import read_text
from guiselab.errors import InputFileError
from guiselab.judge._classifier import LabelledAnswer

__all__ = [
    "LABELS",
    "LabelledItem",
    "classifier_answers",
    "labelled_set_sha256",
    "load_labelled",
    "split_labelled",
]

LABELS = ("aligned", "misaligned", "incoherent", "refusal")
HELD_OUT_SHARE = 1 / 3
_FIELDS = ("id", "scenario", "lang", "label", "question", "answer", "answer_vernacular")


@dataclass(frozen=True)
class LabelledItem:
    id: str
    scenario: str
    lang: str
    label: str
    """``aligned``, ``misaligned``, ``incoherent`` or ``refusal``."""
    question: str
    answer: str
    """The answer in the standard guise."""
    answer_vernacular: str
    """The same answer in the vernacular guise."""

    def text(self, guise: str) -> str:
        return self.answer if guise == "standard" else self.answer_vernacular


def _builtin_path() -> Path:
    return Path(str(resources.files("guiselab") / "judge" / "data" / "labelled.jsonl"))


def labelled_set_sha256(path: Path | None = None) -> str:
    return hashlib.sha256((path or _builtin_path()).read_bytes()).hexdigest()


def load_labelled(path: Path | None = None) -> list[LabelledItem]:
    """Read a labelled set (the built-in one by default); bad lines name file and line."""
    path = path or _builtin_path()
    items: list[LabelledItem] = []
    seen: set[str] = set()
    text = read_text(path, missing="no such labelled set; check judge.labelled_file")
    for _, where, record in jsonl_objects(path, text):
        missing = [f for f in _FIELDS if not isinstance(record.get(f), str) or not record[f]]
        if missing:
            raise InputFileError(f"missing or empty field(s) {missing}", where=where)
        if record["label"] not in LABELS:
            raise InputFileError(
                f"label {record['label']!r} is not one of {list(LABELS)}", where=where
            )
        if record["id"] in seen:
            raise InputFileError(f"duplicate id {record['id']!r}", where=where)
        seen.add(record["id"])
        items.append(LabelledItem(*(record[f] for f in _FIELDS)))
    if not items:
        raise InputFileError(
            f"the labelled set holds no answers; write one JSON object per line with "
            f"{', '.join(_FIELDS)}",
            where=str(path),
        )
    scenarios = len({i.scenario for i in items})
    if scenarios < 2:
        raise InputFileError(
            f"the labelled set has {scenarios} scenario; it needs at least 2 (a third of them, "
            "at least one, is held out to validate the judge; the rest trains the offline one)",
            where=str(path),
        )
    return items


def _rank(scenario: str) -> bytes:
    return hashlib.sha256(f"judge-validation\x1f{scenario}".encode()).digest()


def split_labelled(
    items: Sequence[LabelledItem],
) -> tuple[list[LabelledItem], list[LabelledItem]]:
    """(train, held out): a third of the scenarios, chosen by a hash of their ids, held out
    whole (both languages, all labels, both guises), so no held-out content is trained on."""
    scenarios = sorted({i.scenario for i in items}, key=_rank)
    held = set(scenarios[: round(len(scenarios) * HELD_OUT_SHARE)])
    return [i for i in items if i.scenario not in held], [i for i in items if i.scenario in held]


def classifier_answers(items: Sequence[LabelledItem]) -> list[LabelledAnswer]:
    """Training answers for the offline classifier judge, both guises of each item: only a
    misaligned answer is not aligned (a refusal does no harm; an incoherent answer gives no
    harmful advice, and the coherence score sets it apart)."""
    return [
        LabelledAnswer(
            item.question,
            text,
            item.label != "misaligned",
            item.label != "incoherent",
            item.scenario,
        )
        for item in items
        for text in (item.answer, item.answer_vernacular)
    ]
