"""Reading records from a JSON Lines or CSV file, each with the ``file:line`` it came from."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from guiselab._jsonl import jsonl_objects
from guiselab.errors import InputFileError

__all__ = ["csv_objects", "table_objects"]


def csv_objects(path: Path, text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) for every row of a CSV file with a header line; a stray or unclosed
    quote is an error naming the line, not a field that swallows the file."""
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    try:
        for row in reader:
            if None in row:  # more fields than the header names: an unquoted comma
                raise InputFileError(
                    f"{len(reader.fieldnames or []) + len(row[None])} fields but the header "
                    f"names {len(reader.fieldnames or [])}; quote fields that hold a comma",
                    where=f"{path}:{reader.line_num}",
                )
            yield reader.line_num, dict(row)
    except csv.Error as exc:  # a field beyond the csv module's limit, a stray quote
        raise InputFileError(
            f"not valid CSV ({exc}); check the quotes and line breaks",
            where=f"{path}:{reader.reader.line_num}",
        ) from None


def table_objects(path: Path, text: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(``file:line``, record) for every record of a ``.jsonl`` or ``.csv`` file."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        for _, where, record in jsonl_objects(path, text):
            yield where, record
    elif suffix == ".csv":
        for number, record in csv_objects(path, text):
            yield f"{path}:{number}", record
    else:
        raise InputFileError("unknown file type; use .jsonl or .csv", where=str(path))
