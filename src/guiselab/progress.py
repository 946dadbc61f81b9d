"""Progress display for long stages: rich bars with counts and ETA in a terminal, plain
timestamped lines in a log file (a batch job's), or nothing (--quiet)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol, TextIO

__all__ = ["Advance", "NullProgress", "PlainProgress", "Progress", "RichProgress", "progress_for"]

Advance = Callable[[int], None]


class Progress(Protocol):
    """Reports a stage's progress; ``task`` yields a function that advances the count."""

    def task(self, description: str, total: int) -> AbstractContextManager[Advance]: ...

    def log(self, message: str) -> None: ...


class NullProgress:
    """Shows nothing."""

    @contextmanager
    def task(self, description: str, total: int) -> Iterator[Advance]:
        yield lambda n: None

    def log(self, message: str) -> None:
        return None


class RichProgress:
    """A rich progress bar per stage on stderr."""

    def __init__(self) -> None:
        from rich.console import Console

        self._console = Console(stderr=True)

    @contextmanager
    def task(self, description: str, total: int) -> Iterator[Advance]:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as Bar

        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
        )
        with Bar(*columns, console=self._console, transient=False) as bar:
            task_id = bar.add_task(description, total=total)
            yield lambda n: bar.advance(task_id, n)

    def log(self, message: str) -> None:
        self._console.print(message)


class PlainProgress:
    """For a log file: one line when a stage starts and when it ends, and between them a line
    with the count, the rate and the ETA when the count moves ``every`` seconds or more after
    the last line, each line stamped with the time of day."""

    def __init__(
        self,
        stream: TextIO | None = None,
        every: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream, self._every, self._clock = stream, every, clock

    def _say(self, message: str) -> None:
        stream = self._stream if self._stream is not None else sys.stderr
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=stream, flush=True)

    @contextmanager
    def task(self, description: str, total: int) -> Iterator[Advance]:
        start = self._clock()
        state: dict[str, float] = {"done": 0, "said_at": start}
        self._say(f"{description}: started, {total} to do")

        def advance(n: int) -> None:
            state["done"] += n
            now = self._clock()
            if "base" not in state:
                # the rate counts from the first advance: a resumed stage first advances by
                # the work an earlier run did, which took no time in this one
                state["base"], state["base_at"] = state["done"], now
            elif now - state["said_at"] >= self._every and state["done"] < total:
                state["said_at"] = now
                rate = (state["done"] - state["base"]) / max(now - state["base_at"], 1e-9)
                self._say(f"{description}: {_counts(state['done'], total, rate)}")

        yield advance
        elapsed = self._clock() - start
        self._say(f"{description}: done, {state['done']}/{total} in {_duration(elapsed)}")

    def log(self, message: str) -> None:
        self._say(message)


def _counts(done: float, total: int, rate: float) -> str:
    """``done/total (pct), rate, ETA`` at ``rate`` items a second."""
    pct = 100 * done / total if total else 100.0
    eta = _duration((total - done) / rate) if rate > 0 else "unknown"
    per = f"{rate:.2f}/s" if rate >= 1 else f"{1 / rate:.1f} s each" if rate > 0 else "no rate yet"
    return f"{int(done)}/{total} ({pct:.0f}%), {per}, ETA {eta}"


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def progress_for(quiet: bool, stream: TextIO | None = None) -> Progress:
    """Nothing with ``quiet``; rich bars where ``stream`` (stderr) is a terminal; plain lines
    where it is not (a log file or a pipe)."""
    if quiet:
        return NullProgress()
    shown = stream if stream is not None else sys.stderr
    return RichProgress() if shown.isatty() else PlainProgress(stream)
