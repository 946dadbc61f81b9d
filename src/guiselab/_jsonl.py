"""Reading JSON Lines input files: one object per line, errors naming file and line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from guiselab.errors import InputFileError

__all__ = ["json_value", "jsonl_objects"]


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value; write a number or null")


def json_value(line: str, where: str) -> Any:
    """One line of JSON; what Python's parser takes beyond the standard (NaN, Infinity) is
    refused, and nesting too deep for the parser or a number too long for an int is an error
    naming ``where``, not a crash."""
    try:
        return json.loads(line, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise InputFileError(
            f"not valid JSON ({exc.msg} at column {exc.colno}); write one JSON object per line",
            where=where,
        ) from None
    except ValueError as exc:  # NaN / Infinity, or an integer of more than 4,300 digits
        reason = str(exc).split(":")[0].split(";")[0]
        raise InputFileError(f"not valid JSON here ({reason})", where=where) from None
    except RecursionError:
        raise InputFileError(
            "JSON nested too deeply to read; a record is a flat object of fields", where=where
        ) from None


def jsonl_objects(path: Path | str, text: str) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """(line number, ``file:line``, object) for every non-blank line of ``text`` (read from
    ``path``).

    Lines end at ``\\n`` only: U+2028 or NEL may stand raw inside a JSON string, and line
    numbers must match the user's editor.
    """
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        record = json_value(line, where)
        if not isinstance(record, dict):
            raise InputFileError("each line must be a JSON object", where=where)
        yield number, where, record
