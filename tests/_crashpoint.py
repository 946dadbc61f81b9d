"""Run the ``guiselab`` CLI and SIGKILL it at a chosen write or progress event.

Usage: ``python _crashpoint.py KILL_LOG STAGE N -- guiselab-args...``

The process kills itself (SIGKILL: no cleanup, no ``finally``) at the ``N``-th event of pipeline
stage ``STAGE``, or at the first event of a later stage when ``STAGE`` has fewer than ``N``
events left to do, after appending ``stage label n`` to ``KILL_LOG``. ``STAGE`` ``none`` never
kills. Events are the moments a crash can corrupt something:

- ``commit:<what>``: inside a store transaction, after its rows are written and before COMMIT;
- ``replace:<file>`` / ``rename:<file>``: a temporary file or folder written in full, not yet
  renamed over its target (results, reports, activations, adapters, figures);
- ``advance:<task>``: a progress tick (a training step, a batch sampled or judged).
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

STAGES = ("finetune", "sanity", "generate", "judge", "probe", "analysis", "report")


def main() -> None:
    log, target, nth, sep, *args = sys.argv[1:]
    assert sep == "--", "usage: _crashpoint.py KILL_LOG STAGE N -- ARGS"
    import guiselab.pipeline as pipeline
    import guiselab.report as report
    from guiselab import cli, progress
    from guiselab.store import RunStore

    state: dict[str, Any] = {"stage": "setup", "count": 0, "what": []}
    wanted = int(nth)

    def event(label: str) -> None:
        stage = state["stage"]
        if target == "none" or stage not in STAGES:
            return
        if stage == target:
            state["count"] += 1
            if state["count"] < wanted:
                return
        elif STAGES.index(stage) < STAGES.index(target):
            return
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"{stage}\t{label}\t{state['count']}\n")
        os.kill(os.getpid(), signal.SIGKILL)

    def in_stage(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*a: Any, **k: Any) -> Any:
            outer, state["stage"] = state["stage"], name
            try:
                return fn(*a, **k)
            finally:
                state["stage"] = outer

        return wrapped

    for name, attr in (
        ("finetune", "run_finetune"),
        ("sanity", "run_sanity"),
        ("generate", "run_generate"),
        ("judge", "run_judge"),
        ("probe", "run_probe"),
        ("analysis", "run_analysis"),
        ("report", "write_manifest"),
    ):
        setattr(pipeline, attr, in_stage(name, getattr(pipeline, attr)))
    report.write_report = in_stage("report", report.write_report)

    transaction = RunStore._transaction

    @contextmanager
    def committing(self: RunStore) -> Iterator[Any]:
        with transaction(self) as db:
            yield db
            event(f"commit:{state['what'][-1] if state['what'] else 'meta'}")

    def labelled(method: str, label: Callable[..., str]) -> None:
        original = getattr(RunStore, method)

        def wrapped(self: RunStore, *a: Any, **k: Any) -> Any:
            state["what"].append(label(*a))
            try:
                return original(self, *a, **k)
            finally:
                state["what"].pop()

        setattr(RunStore, method, wrapped)

    RunStore._transaction = committing  # type: ignore[method-assign]
    labelled("_insert", lambda table, *_: table)
    labelled("put_artifact", lambda name, *_: f"artifact {name}")

    replace, rename = os.replace, os.rename

    def replacing(src: Any, dst: Any, **k: Any) -> None:
        event(f"replace:{Path(dst).name}")
        replace(src, dst, **k)

    def renaming(src: Any, dst: Any, **k: Any) -> None:
        event(f"rename:{Path(dst).name}")
        rename(src, dst, **k)

    os.replace, os.rename = replacing, renaming  # type: ignore[assignment]

    task = progress.NullProgress.task

    @contextmanager
    def ticking(self: Any, description: str, total: int) -> Iterator[Callable[[int], None]]:
        with task(self, description, total) as advance:

            def tick(n: int) -> None:
                advance(n)
                event(f"advance:{description}")

            yield tick

    progress.NullProgress.task = ticking  # type: ignore[method-assign,assignment]
    sys.argv = ["guiselab", *args]
    cli.main()


if __name__ == "__main__":
    main()
