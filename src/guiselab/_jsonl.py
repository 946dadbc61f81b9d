"""Reading JSON Lines input files: one object per line, errors naming file and line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from guiselab.errors import InputFileError

__all__ = ["jsonl_objects"]


def jsonl_objects(path: Path | str, text: str) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """(line number, ``file:line``, object) for every non-blank line of ``text`` (read from
    ``path``)."""
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
        yield number, where, record
