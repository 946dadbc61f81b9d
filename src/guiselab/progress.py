"""Progress display for long stages: rich bars with counts and ETA, or nothing (--quiet)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

__all__ = ["Advance", "NullProgress", "Progress", "RichProgress"]

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
