"""The run store: one SQLite file (WAL mode) that every stage reads and writes.

Rows are keyed by a content hash of everything that determines them, inserted with
``INSERT OR IGNORE`` inside a transaction per batch, so a stage killed at any point resumes
with no finished row lost and none written twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from guiselab.errors import GuiselabError, StorageError, storage_errors

__all__ = ["Generation", "Judgment", "RunLock", "RunStore", "content_key", "write_atomic"]

STORE_NAME = "guiselab.sqlite"
_SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS generations (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    model_ref TEXT NOT NULL,
    pair_id TEXT NOT NULL,
    item TEXT NOT NULL,
    lang TEXT NOT NULL,
    variety TEXT NOT NULL,
    category TEXT,
    guise TEXT NOT NULL CHECK (guise IN ('standard', 'vernacular')),
    sample INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    prompt TEXT NOT NULL,
    response TEXT NOT NULL,
    n_tokens INTEGER NOT NULL,
    finish_reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS judgments (
    key TEXT PRIMARY KEY,
    generation_key TEXT NOT NULL,
    judge TEXT NOT NULL,
    metric TEXT NOT NULL,
    score REAL,
    verdict TEXT NOT NULL,
    number_mass REAL NOT NULL,
    reason TEXT
);
CREATE INDEX IF NOT EXISTS judgments_by_generation ON judgments (generation_key);
CREATE TABLE IF NOT EXISTS artifacts (name TEXT PRIMARY KEY, info TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS failures (
    stage TEXT NOT NULL,
    key TEXT NOT NULL,
    what TEXT NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (stage, key)
);
"""


def content_key(*parts: Any) -> str:
    """sha256 of the canonical JSON of ``parts``: the identity of a row."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Generation:
    """One sampled answer."""

    key: str
    model: str
    model_ref: str
    pair_id: str
    item: str
    lang: str
    variety: str
    category: str | None
    guise: str
    sample: int
    seed: int
    prompt: str
    response: str
    n_tokens: int
    finish_reason: str


@dataclass(frozen=True)
class Judgment:
    """One judge score of one answer on one metric; ``score`` is None when unscored."""

    key: str
    generation_key: str
    judge: str
    metric: str
    score: float | None
    verdict: str
    number_mass: float
    reason: str | None


class RunLock:
    """An exclusive lock on a run directory, held while a stage writes to it."""

    def __init__(self, run_dir: Path) -> None:
        self._path = run_dir / ".guiselab.lock"
        self._handle: Any = None

    def __enter__(self) -> RunLock:
        try:
            self._handle = self._path.open("a")
        except OSError as exc:
            raise StorageError(self._path.parent, exc) from exc
        try:
            fcntl.flock(self._handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._handle.close()
            raise GuiselabError(
                "another guiselab process is working in this run directory; wait for it to "
                "finish or use another --out",
                where=str(self._path.parent),
            ) from None
        return self

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._handle, fcntl.LOCK_UN)
        self._handle.close()


class RunStore:
    """The run directory's SQLite store."""

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = path
        self._copy: tempfile.TemporaryDirectory[str] | None = None
        if read_only:
            self._db, self._copy = _connect_read_only(path)
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None, timeout=30.0)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except (sqlite3.OperationalError, OSError) as exc:
            raise StorageError(path, exc) from exc
        except sqlite3.DatabaseError as exc:  # "file is not a database"
            raise GuiselabError(
                f"not a guiselab run store ({exc}); choose another --out, or restore the file",
                where=str(path),
            ) from None
        version = self.get_meta("schema")
        if version is None:
            self.set_meta("schema", _SCHEMA_VERSION)
        elif version != _SCHEMA_VERSION:
            raise GuiselabError(
                f"store schema {version} is not the {_SCHEMA_VERSION} this guiselab writes; "
                "use a matching guiselab version or a new run directory",
                where=str(path),
            )

    @classmethod
    def in_dir(cls, run_dir: Path, *, read_only: bool = False) -> RunStore:
        """The store of a run directory (created if absent, unless ``read_only``: then no row
        can be written, and it opens on a read-only file system too)."""
        return cls(run_dir / STORE_NAME, read_only=read_only)

    def close(self) -> None:
        self._db.close()
        if self._copy is not None:
            self._copy.cleanup()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: all of it is stored or none (a full disk included)."""
        with storage_errors(self.path):
            try:
                self._db.execute("BEGIN IMMEDIATE")
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:  # SQLite may have rolled back already
                    self._db.execute("ROLLBACK")
                raise

    # -- meta and artifacts -------------------------------------------------------------------

    def get_meta(self, key: str) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row["value"])

    def set_meta(self, key: str, value: Any) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, json.dumps(value))
            )

    def get_artifact(self, name: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT info FROM artifacts WHERE name = ?", (name,)).fetchone()
        return None if row is None else dict(json.loads(row["info"]))

    def put_artifact(self, name: str, info: dict[str, Any]) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO artifacts (name, info) VALUES (?, ?)",
                (name, json.dumps(info)),
            )

    # -- generations and judgments -------------------------------------------------------------

    def existing_keys(self, table: str, keys: Iterable[str]) -> set[str]:
        """The subset of ``keys`` already stored in ``table`` (generations or judgments)."""
        if table not in ("generations", "judgments"):
            raise ValueError(table)
        wanted = list(keys)
        found: set[str] = set()
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(f"SELECT key FROM {table} WHERE key IN ({marks})", chunk)
            found.update(r["key"] for r in rows)
        return found

    def add_generations(self, rows: Iterable[Generation]) -> int:
        """Insert finished generations in one transaction; returns how many were new."""
        return self._insert("generations", [asdict(r) for r in rows])

    def add_judgments(self, rows: Iterable[Judgment]) -> int:
        """Insert finished judgments in one transaction; returns how many were new."""
        return self._insert("judgments", [asdict(r) for r in rows])

    def _insert(self, table: str, records: list[dict[str, Any]]) -> int:
        if not records:
            return 0
        cols = list(records[0])
        sql = (
            f"INSERT OR IGNORE INTO {table} ({', '.join(cols)}) "
            f"VALUES ({', '.join('?' * len(cols))})"
        )
        with self._transaction() as db:
            before = db.total_changes
            db.executemany(sql, [tuple(r[c] for c in cols) for r in records])
            return db.total_changes - before

    def generations(self, keys: Iterable[str] | None = None) -> list[Generation]:
        """Stored generations (all, or those with the given keys), in key order."""
        if keys is None:
            rows = self._db.execute("SELECT * FROM generations ORDER BY key").fetchall()
        else:
            wanted = list(keys)
            rows = []
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows += self._db.execute(
                    f"SELECT * FROM generations WHERE key IN ({marks})", chunk
                ).fetchall()
            rows.sort(key=lambda r: r["key"])
        return [Generation(**dict(r)) for r in rows]

    def judgments(self) -> list[Judgment]:
        rows = self._db.execute("SELECT * FROM judgments ORDER BY key").fetchall()
        return [Judgment(**dict(r)) for r in rows]

    # -- requests that failed past their retries -----------------------------------------------

    def set_failures(
        self, stage: str, failed: dict[str, str], what: dict[str, str] | None = None
    ) -> None:
        """Replace ``stage``'s failed requests (store key -> reason; ``what`` says what each
        key is, for people) with those of its last pass: a stage asks for every pending row
        each time, so what did not fail now is done."""
        what = what or {}
        with self._transaction() as db:
            db.execute("DELETE FROM failures WHERE stage = ?", (stage,))
            db.executemany(
                "INSERT INTO failures (stage, key, what, reason) VALUES (?, ?, ?, ?)",
                [(stage, k, what.get(k, k[:16]), reason) for k, reason in sorted(failed.items())],
            )

    def failures(self) -> list[tuple[str, str, str, str]]:
        """(stage, key, what, reason) of every request that failed past its retries and is not
        redone yet (none in a store written before failures were recorded)."""
        try:
            rows = self._db.execute(
                "SELECT stage, key, what, reason FROM failures ORDER BY stage, what, key"
            ).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise
        return [(r["stage"], r["key"], r["what"], r["reason"]) for r in rows]

    def count(self, table: str) -> int:
        if table not in ("generations", "judgments"):
            raise ValueError(table)
        return int(self._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``.

    A reader sees the old file or the new one, never half of one, even if the writer is killed.
    """
    with storage_errors(path):
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
                with contextlib.suppress(OSError):  # mkstemp makes it private; the target isn't
                    os.fchmod(handle.fileno(), 0o666 & ~_UMASK)
                handle.write(text)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _connect_read_only(
    path: Path,
) -> tuple[sqlite3.Connection, tempfile.TemporaryDirectory[str] | None]:
    """A connection that cannot write a row, and the temporary copy it reads, if any.

    Read-only mode first. Where even that cannot work (a read-only file system: a reader of a
    WAL database must create its index file), the store and its WAL are copied to a temporary
    folder and read there, so rows a killed writer left in the WAL are seen too.
    """
    try:
        db = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
        db.execute("SELECT COUNT(*) FROM meta").fetchone()
        db.row_factory = sqlite3.Row
        return db, None
    except sqlite3.DatabaseError:
        pass
    copy = tempfile.TemporaryDirectory(prefix="guiselab-store-")
    try:
        for suffix in ("", "-wal"):
            source = path.with_name(path.name + suffix)
            if source.exists():
                shutil.copyfile(source, Path(copy.name) / (STORE_NAME + suffix))
        db = sqlite3.connect(Path(copy.name) / STORE_NAME)
        db.execute("SELECT COUNT(*) FROM meta").fetchone()
    except (sqlite3.DatabaseError, OSError) as exc:
        copy.cleanup()
        raise GuiselabError(f"cannot read the run store ({exc})", where=str(path)) from None
    db.row_factory = sqlite3.Row
    return db, copy


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()
"""The process's umask, read once at import (setting it to read it is not thread-safe)."""
