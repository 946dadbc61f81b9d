"""Reading pair files (JSONL, CSV, YAML) into validated pairs; errors name file and line."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from guiselab.errors import InputFileError
from guiselab.pairs._schema import Pair

__all__ = ["builtin_pairs", "load_pair_file", "load_pairs", "script_share"]

REQUIRED = ("item", "lang", "variety", "standard", "vernacular")
_KNOWN = {*REQUIRED, "id", "category", "features"}
_CYRILLIC_LANGS = {"ru", "uk", "be", "bg", "sr", "mk", "kk", "ky", "tg", "mn"}


def script_share(text: str) -> tuple[float, float]:
    """(Cyrillic share, Latin share) of the letters in ``text``."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return 0.0, 0.0
    cyr = sum("\u0400" <= c <= "\u04ff" for c in letters)
    lat = sum(c.isascii() for c in letters)
    return cyr / len(letters), lat / len(letters)


def _expected_script(lang: str) -> str:
    return "Cyrillic" if lang in _CYRILLIC_LANGS else "Latin"


def _check_script(lang: str, text: str, where: str, field_name: str) -> None:
    cyr, lat = script_share(text)
    script = _expected_script(lang)
    share = cyr if script == "Cyrillic" else lat
    if share < 0.5:
        raise InputFileError(
            f"'{field_name}' is not in the {script} script that lang '{lang}' needs; "
            "fix the lang code or the text",
            where=where,
        )


def _to_pair(record: Any, where: str) -> Pair:
    if not isinstance(record, dict):
        raise InputFileError("a pair must be an object/mapping of fields", where=where)
    for name in REQUIRED:
        value = record.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise InputFileError(f"required field '{name}' is missing or empty", where=where)
        if not isinstance(value, str):
            raise InputFileError(f"field '{name}' must be text", where=where)
    standard, vernacular = record["standard"].strip(), record["vernacular"].strip()
    if standard == vernacular:
        raise InputFileError(
            "'standard' and 'vernacular' are identical; a pair must differ in variety",
            where=where,
        )
    lang = record["lang"].strip()
    _check_script(lang, standard, where, "standard")
    _check_script(lang, vernacular, where, "vernacular")
    features = record.get("features") or []
    if isinstance(features, str):
        features = [f.strip() for f in features.split(";") if f.strip()]
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        raise InputFileError("'features' must be a list of feature names", where=where)
    category = record.get("category")
    item, variety = record["item"].strip(), record["variety"].strip()
    pair_id = str(record.get("id") or f"{item}-{lang}-{variety}")
    return Pair(
        id=pair_id,
        item=item,
        lang=lang,
        variety=variety,
        standard=standard,
        vernacular=vernacular,
        category=str(category) if category else None,
        features=tuple(features),
        metadata={k: v for k, v in record.items() if k not in _KNOWN},
    )


def _records(path: Path, text: str) -> Iterable[tuple[int, Any]]:
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputFileError(
                    f"not valid JSON ({exc.msg}); one JSON object per line",
                    where=f"{path}:{number}",
                ) from None
    elif suffix == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        for row in reader:
            yield reader.line_num, {k: v for k, v in row.items() if k is not None}
    elif suffix in (".yaml", ".yml"):
        data, lines = _yaml_list(path, text)
        if data and isinstance(data[0], dict) and "paraphrases" in data[0]:
            yield from _em_records(path, data, lines)
            return
        yield from zip(lines, data, strict=True)
    else:
        raise InputFileError(
            "unknown pair file type; use .jsonl, .csv, .yaml or .yml", where=str(path)
        )


def _yaml_list(path: Path, text: str) -> tuple[list[Any], list[int]]:
    """A YAML list and the line (1-based) on which each of its entries starts."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark_line = getattr(getattr(exc, "problem_mark", None), "line", None)
        where = f"{path}:{mark_line + 1}" if mark_line is not None else str(path)
        raise InputFileError("not valid YAML; fix the syntax", where=where) from None
    if not isinstance(data, list) or not isinstance(node, yaml.SequenceNode):
        raise InputFileError("a YAML pair file must be a list of pairs", where=str(path))
    return data, [entry.start_mark.line + 1 for entry in node.value]


EM_VARIETIES = {"en": "aave", "ru": "ru-prostorechie"}
"""The variety the guise transformer writes for an EM-style question in each language."""


def _em_records(path: Path, questions: list[Any], lines: list[int]) -> Iterable[tuple[int, Any]]:
    """Pairs from emergent-misalignment-style question YAML.

    Each paraphrase is a standard-guise prompt (English, or the question's ``lang``); its
    vernacular twin comes from that language's guise transformer (``EM_VARIETIES``). A
    paraphrase on which no rule fires has no twin and is left out; a file where that happens
    to every paraphrase is an error.
    """
    from guiselab.pairs._guise import transformer

    made = 0
    for line, question in zip(lines, questions, strict=True):
        where = f"{path}:{line}"
        if not isinstance(question, dict) or not isinstance(question.get("id"), str):
            raise InputFileError("each question needs a string 'id'", where=where)
        paraphrases = question.get("paraphrases")
        if not isinstance(paraphrases, list) or not all(isinstance(p, str) for p in paraphrases):
            raise InputFileError(
                "required field 'paraphrases' is missing or not a list of strings", where=where
            )
        lang = str(question.get("lang", "en"))
        if lang not in EM_VARIETIES:
            raise InputFileError(
                f"no guise transformer for lang '{lang}'; use one of {sorted(EM_VARIETIES)} "
                "or write the pairs by hand in the pair-file format",
                where=where,
            )
        guise = transformer(EM_VARIETIES[lang])
        meta = {
            k: question[k]
            for k in ("samples_per_paraphrase", "judge_prompts", "system", "type")
            if k in question
        }
        for number, raw in enumerate(paraphrases):
            text = raw.strip()
            if not text:
                raise InputFileError(f"paraphrase {number} is missing or empty", where=where)
            _check_script(lang, text, where, f"paraphrase {number}")
            twin = guise(text)
            if not twin.features:
                continue
            made += 1
            yield (
                line,
                {
                    "id": f"{question['id']}-p{number}-{lang}-{guise.variety}",
                    "item": question["id"],
                    "lang": lang,
                    "variety": guise.variety,
                    "standard": text,
                    "vernacular": twin.text,
                    "features": list(twin.features),
                    "category": question.get("category", "open-ended"),
                    **meta,
                },
            )
    if not made:
        raise InputFileError(
            "no paraphrase could be put in a vernacular guise by the transformer; write the "
            "pairs by hand in the pair-file format",
            where=str(path),
        )


def load_pair_file(path: Path) -> list[Pair]:
    """Read and validate one pair file. Errors carry ``file:line``."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputFileError(f"cannot read the file ({exc.strerror})", where=str(path)) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputFileError("not UTF-8 text; re-save as UTF-8", where=f"{path}:{line}") from None
    pairs: list[Pair] = []
    seen: dict[str, int] = {}
    for number, record in _records(path, text):
        where = f"{path}:{number}"
        pair = _to_pair(record, where)
        if pair.id in seen:
            raise InputFileError(
                f"duplicate id '{pair.id}' (first on line {seen[pair.id]}); ids must be unique",
                where=where,
            )
        seen[pair.id] = number
        pairs.append(pair)
    if not pairs:
        raise InputFileError("the file holds no pairs", where=str(path))
    return pairs


def builtin_pairs() -> list[Pair]:
    """The corpus shipped with guiselab."""
    folder = resources.files("guiselab") / "pairs" / "data"
    pairs: list[Pair] = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".jsonl"):
            pairs += load_pair_file(Path(str(entry)))
    return pairs


def load_pairs(files: Iterable[str | Path]) -> list[Pair]:
    """Pairs from the given files, or the built-in corpus when none are given."""
    paths = [Path(f) for f in files]
    if not paths:
        return builtin_pairs()
    pairs: list[Pair] = []
    owner: dict[str, Path] = {}
    for path in paths:
        for pair in load_pair_file(path):
            if pair.id in owner:
                raise InputFileError(
                    f"duplicate id '{pair.id}' (also in {owner[pair.id]})", where=str(path)
                )
            owner[pair.id] = path
            pairs.append(pair)
    return pairs
