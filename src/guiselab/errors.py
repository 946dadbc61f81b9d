"""Errors a user can cause. The CLI prints them as one line and exits with code 2."""

from __future__ import annotations

import errno
import os
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = [
    "STORAGE_ERRNOS",
    "ConfigError",
    "FailedRequests",
    "GuiselabError",
    "InputFileError",
    "ModelRefError",
    "RemoteError",
    "StorageError",
    "one_line",
    "storage_errors",
    "storage_failure",
]

_MAX_SHOWN = 600
"""Longest error text printed: a message quoting a huge value keeps its start and its end
(where the fix is said)."""


def one_line(text: str) -> str:
    """``text`` on one line: characters that are not printable (newlines, NUL, other controls,
    invisible format characters) are shown escaped, and an overlong text is cut in the middle.

    A message quotes what the user wrote (an id, a key, a value), and that may hold anything.
    """
    shown = "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)
    if len(shown) > _MAX_SHOWN:
        half = _MAX_SHOWN // 2
        shown = f"{shown[:half]} [... {len(shown) - 2 * half} characters ...] {shown[-half:]}"
    return shown


class GuiselabError(Exception):
    """A problem with the user's input: its message names the file/line/key and the fix."""

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.where = where
        self.message = message
        text = f"{where}: {message}" if where else message
        super().__init__(one_line(text))


class ConfigError(GuiselabError):
    """A config file, preset or option that cannot be used as given."""


class InputFileError(GuiselabError):
    """A pair file, training file or samples file that cannot be read as given."""


class ModelRefError(GuiselabError):
    """A model reference that names nothing loadable."""


class StorageError(Exception):
    """The run directory cannot be written (disk full, read-only, no permission): exit 1.

    Nothing finished is lost: the store writes in transactions and files are renamed into
    place whole, so the same command resumes once the directory is writable again.
    """

    def __init__(self, path: object, cause: BaseException, reason: str | None = None) -> None:
        self.path = str(path)
        reason = reason or getattr(cause, "strerror", None) or str(cause)
        super().__init__(
            one_line(
                f"{self.path}: cannot write ({reason}); free space or make the run directory "
                "writable (or choose another --out), then run the same command again: "
                "everything finished is kept"
            )
        )


STORAGE_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG}
)
"""The errors of a file system that cannot take a write."""


_SQLITE_STORAGE_WORDS = ("full", "readonly", "read-only", "disk i/o", "unable to open")
"""How SQLite says the disk is full or the file cannot be written."""


def storage_failure(exc: BaseException, path: object) -> StorageError | None:
    """``exc`` as a StorageError when it says the file system refused a write, else None.

    OSErrors carry their errno; SQLite says it in words; libraries that write from native code
    (safetensors) put the errno in their message as ``os error N``.
    """
    if isinstance(exc, StorageError):
        return exc
    if isinstance(exc, OSError):
        if exc.errno in STORAGE_ERRNOS:
            return StorageError(exc.filename or path, exc)
        return None
    if isinstance(exc, sqlite3.OperationalError):
        said = str(exc).lower()
        return StorageError(path, exc) if any(w in said for w in _SQLITE_STORAGE_WORDS) else None
    found = re.search(r"os error (\d+)", str(exc))
    if found and int(found.group(1)) in STORAGE_ERRNOS:
        return StorageError(path, exc, os.strerror(int(found.group(1))))
    return None


@contextmanager
def storage_errors(path: object) -> Iterator[None]:
    """Let what the block raises through, as a StorageError (naming ``path`` where the error
    names no file) when it is the file system refusing a write."""
    try:
        yield
    except Exception as exc:
        failure = storage_failure(exc, path)
        if failure is None or failure is exc:
            raise
        raise failure from exc


class RemoteError(Exception):
    """A remote service failed in a way the user should hear about in one line (exit 1)."""


class FailedRequests(RemoteError):
    """Requests that failed past their retry budget; the finished ones are kept, the failed
    ones are listed by ``guiselab status`` and asked again by the next run."""

    def __init__(self, what: str, failed: dict[str, str]) -> None:
        self.what = what
        self.failed = failed
        first = next(iter(failed.values()))
        super().__init__(
            one_line(
                f"{len(failed)} {what} failed after retries (first: {first}); the finished "
                "ones are kept: `guiselab status RUN_DIR` lists them, run the same command "
                "again to retry only the failed ones"
            )
        )
