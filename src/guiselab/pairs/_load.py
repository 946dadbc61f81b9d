"""Reading pair files (JSONL, CSV, YAML) into validated pairs; errors name file and line."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from guiselab._jsonl import json_value
from guiselab._read import read_text
from guiselab._records import csv_objects
from guiselab.errors import InputFileError
from guiselab.pairs._fields import check_prompt_fields
from guiselab.pairs._schema import GUISES, PROMPT_FIELDS, Pair

__all__ = ["builtin_pairs", "load_pair_file", "load_pairs", "script_share"]

REQUIRED = ("item", "lang", "variety", "standard", "vernacular")
_KNOWN = {*REQUIRED, "id", "category", "features"}
_CYRILLIC_LANGS = {"ru", "uk", "be", "bg", "sr", "mk", "kk", "ky", "tg", "mn"}
_TEXTS = GUISES

MAX_TEXT_CHARS = 32_000
"""Longest prompt a pair may hold (about 8,000 tokens, beyond any small model's context): a
longer one is a broken file (a missing quote or line break), not a question."""
MAX_YAML_DEPTH = 32
"""Deepest nesting of lists and mappings in a YAML pair file (a pair file needs about 4)."""
MAX_YAML_NODES = 1_000_000
"""Most values a YAML pair file may hold once its aliases are expanded (bounds an alias
bomb: a few lines whose aliases expand to billions of values)."""
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader where PyYAML has it (tens of times faster); both build plain data only."""


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


def _control_character(text: str, allowed: str = "") -> str | None:
    """The first control character in ``text`` that is not in ``allowed``, if any."""
    return next((c for c in text if c not in allowed and unicodedata.category(c) == "Cc"), None)


def _check_field(name: str, value: str, where: str) -> None:
    """Texts may span lines; names (item, lang, ...) are one line of plain text."""
    if name in _TEXTS and len(value) > MAX_TEXT_CHARS:
        raise InputFileError(
            f"field '{name}' is {len(value):,} characters long (at most {MAX_TEXT_CHARS:,}); "
            "a prompt this long is a broken file: check the quotes and line breaks",
            where=where,
        )
    bad = _control_character(value, "\t\n\r" if name in _TEXTS else "")
    if bad is not None:
        raise InputFileError(
            f"field '{name}' holds the control character {bad!r}; remove it", where=where
        )


def _optional_name(record: dict[str, Any], name: str, where: str) -> str | None:
    """An optional one-line field (``id``, ``category``): text, or a number for an id."""
    value = record.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InputFileError(f"field '{name}' must be text", where=where)
    text = str(value).strip()
    _check_field(name, text, where)
    return text or None


def _to_pair(record: Any, where: str) -> Pair:
    if not isinstance(record, dict):
        raise InputFileError("a pair must be an object/mapping of fields", where=where)
    for name in REQUIRED:
        value = record.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise InputFileError(f"required field '{name}' is missing or empty", where=where)
        if not isinstance(value, str):
            raise InputFileError(f"field '{name}' must be text", where=where)
        _check_field(name, value.strip(), where)
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
    for feature in features:
        _check_field("features", feature, where)
    category = _optional_name(record, "category", where)
    item, variety = record["item"].strip(), record["variety"].strip()
    pair_id = _optional_name(record, "id", where) or f"{item}-{lang}-{variety}"
    metadata = {k: v for k, v in record.items() if k not in _KNOWN}
    for name in PROMPT_FIELDS:  # a CSV's empty cell is no setting; its number is text
        value = metadata.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            metadata.pop(name, None)
        elif name == "samples_per_paraphrase" and isinstance(value, str):
            text = value.strip()
            if text.isascii() and text.isdecimal():
                metadata[name] = int(text)
    check_prompt_fields(metadata, where)
    return Pair(
        id=pair_id,
        item=item,
        lang=lang,
        variety=variety,
        standard=standard,
        vernacular=vernacular,
        category=category,
        features=tuple(features),
        metadata=metadata,
    )


def _records(path: Path, text: str) -> Iterable[tuple[int, Any]]:
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        # Lines end at "\n" only: U+2028 or NEL may stand raw inside a JSON string.
        for number, line in enumerate(text.split("\n"), start=1):
            if line.strip():
                yield number, json_value(line, f"{path}:{number}")
    elif suffix == ".csv":
        yield from csv_objects(path, text)
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


def _yaml_where(path: Path, mark: Any) -> str:
    return f"{path}:{mark.line + 1}" if mark is not None else str(path)


def _yaml_error(path: Path, text: str, exc: yaml.YAMLError) -> InputFileError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = str(getattr(exc, "problem", "") or "")
    if isinstance(exc, yaml.constructor.ConstructorError) and "tag" in problem:
        # e.g. !!python/object/apply: the safe loader builds plain data only, never objects.
        return InputFileError(
            f"YAML tag refused ({problem}); a pair file holds plain text, lists and mappings",
            where=_yaml_where(path, mark),
        )
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1
        char = chr(exc.character) if isinstance(exc.character, int) else exc.character
        return InputFileError(
            f"not valid YAML (character {char!r} is not allowed); remove it",
            where=f"{path}:{line}",
        )
    if "nesting depth" in problem:  # libyaml's own bound, met before ours
        return InputFileError(
            f"YAML nested too deeply ({problem}); a pair file is a list of flat mappings",
            where=_yaml_where(path, mark),
        )
    reason = f" ({problem})" if problem else ""
    return InputFileError(f"not valid YAML{reason}; fix the syntax", where=_yaml_where(path, mark))


def _check_yaml_depth(path: Path, text: str) -> None:
    """Refuse nesting deeper than ``MAX_YAML_DEPTH`` from the event stream, before the
    (recursive) composer meets it."""
    depth = 0
    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                raise InputFileError(
                    f"YAML nested more than {MAX_YAML_DEPTH} levels deep; a pair file is a "
                    "list of flat mappings",
                    where=_yaml_where(path, event.start_mark),
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _check_yaml_shape(path: Path, root: yaml.Node) -> None:
    """Refuse a YAML graph whose aliases make it cyclic, deeper than ``MAX_YAML_DEPTH`` or
    larger than ``MAX_YAML_NODES`` once expanded; walked without recursion, each node once."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            kids = _children(node)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            depth[key] = 1 + max((depth[id(k)] for k in kids), default=0)
            open_nodes.discard(key)
            if size[key] > MAX_YAML_NODES or depth[key] > MAX_YAML_DEPTH:
                raise InputFileError(
                    f"YAML aliases expand to more than {MAX_YAML_NODES:,} values or "
                    f"{MAX_YAML_DEPTH} levels; write the pairs out without aliases",
                    where=_yaml_where(path, node.start_mark),
                )
            continue
        if key in size:
            continue
        if key in open_nodes:
            raise InputFileError(
                "a YAML alias refers to a value that contains it (a cycle); remove it",
                where=_yaml_where(path, node.start_mark),
            )
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((kid, False) for kid in _children(node) if id(kid) not in size)


def _yaml_list(path: Path, text: str) -> tuple[list[Any], list[int]]:
    """A YAML list and the line (1-based) on which each of its entries starts.

    Only plain data is built (the safe loader: a ``!!python/...`` tag is refused, nothing is
    constructed or run), and its nesting and alias-expanded size are bounded first.
    """
    try:
        _check_yaml_depth(path, text)
        loader = _LOADER(text)
        try:
            node = loader.get_single_node()
            if node is not None:
                _check_yaml_shape(path, node)
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise _yaml_error(path, text, exc) from None
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
    to every paraphrase is an error. The question's ``id`` is the item (its ``_json`` and
    ``_template`` variants are items of their own) and each paraphrase a pair within it
    (``{id}-p{n}-{lang}-{variety}``), so the statistics cluster an item's paraphrases
    together. YAML anchors and aliases are resolved by the loader; ``system``,
    ``samples_per_paraphrase`` and ``judge_prompts`` are kept and honoured by the stages
    (:data:`~guiselab.pairs.PROMPT_FIELDS`).
    """
    from guiselab.pairs._transform import transformer

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
        check_prompt_fields(question, where)
        meta = {
            k: question[k]
            for k in ("samples_per_paraphrase", "judge_prompts", "system", "type", "judge")
            if k in question
        }
        for number, raw in enumerate(paraphrases):
            text = raw.strip()
            if not text:
                raise InputFileError(f"paraphrase {number} is missing or empty", where=where)
            _check_field("standard", text, where)
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
    text = read_text(path, missing="no such pair file; check the path (and pairs.files)")
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
