"""SIGKILL at random points of every stage, resume, and get what an uninterrupted run gets;
two runs on one directory at once.

A tiny random model keeps each process to seconds, so the chain of 23 kills and resumes below
goes through the whole pipeline (finetune, sanity, generate, judge, probe, analysis, report)
in a few minutes.
"""

from __future__ import annotations

import fcntl
import os
import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from _tinyrun import GENERATIONS, assert_same_run, guiselab

pytestmark = pytest.mark.integration

CRASHPOINT = Path(__file__).parents[1] / "_crashpoint.py"
# Kills per stage: at least 20 in all, spread over finetune, generate, judge and probe.
QUOTAS = {
    "finetune": 5,
    "sanity": 1,
    "generate": 5,
    "judge": 4,
    "probe": 6,
    "analysis": 1,
    "report": 1,
}


def _killed_at(log: Path, stage: str, nth: int, *args: str) -> int:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, str(CRASHPOINT), str(log), stage, str(nth), "--", *args]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode in (0, -9), done.stderr[-3000:]
    return done.returncode


def test_killed_everywhere_then_resumed_equals_uninterrupted(
    tiny_config: Path, tiny_reference: Path, tmp_path: Path
) -> None:
    crashed, log = tmp_path / "crashed", tmp_path / "kills.log"
    rng = random.Random(int(os.environ.get("GUISELAB_CRASH_SEED", "0")))
    plan = [(stage, rng.randint(1, 6)) for stage, n in QUOTAS.items() for _ in range(n)]
    args = ("run", str(tiny_config), "--out", str(crashed), "--quiet")
    for stage, nth in plan:
        assert _killed_at(log, stage, nth, *args) == -9, f"{stage} #{nth}: the run ended first"
        # Whatever the kill interrupted, the store opens and holds only whole rows.
        with sqlite3.connect(crashed / "guiselab.sqlite") as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    done = guiselab(*args)
    assert done.returncode == 0, done.stderr[-3000:]

    landed = [line.split("\t") for line in log.read_text().splitlines()]
    assert len(landed) == len(plan) >= 20
    for stage in ("finetune", "generate", "judge", "probe"):
        assert sum(s == stage for s, *_ in landed) >= 4, (stage, landed)
    kinds = {label.split(":")[0] for _, label, _ in landed}
    assert {"commit", "advance", "replace"} <= kinds, landed
    print("kills:", ", ".join(f"{stage} {label}" for stage, label, _ in landed))
    assert_same_run(crashed, tiny_reference)


def _locked(run_dir: Path) -> bool:
    path = run_dir / ".guiselab.lock"
    if not path.exists():
        return False
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def test_a_second_run_on_the_same_directory_is_refused(
    tiny_config: Path, tiny_reference: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    args = ("run", str(tiny_config), "--out", str(run_dir), "--quiet")
    first = subprocess.Popen(
        [sys.executable, "-m", "guiselab", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    try:
        deadline = time.time() + 120
        while not _locked(run_dir) and time.time() < deadline and first.poll() is None:
            time.sleep(0.05)
        assert _locked(run_dir), "the first run never took the lock"
        second = guiselab(*args)
        assert second.returncode == 2
        assert second.stderr.strip().splitlines() == [
            f"error: {run_dir}: another guiselab process is working in this run directory; "
            "wait for it to finish or use another --out"
        ]
        watching = guiselab("status", str(run_dir))  # reading while it writes is fine
        assert watching.returncode == 0, watching.stderr
        assert first.wait(timeout=600) == 0
    finally:
        first.kill()
        first.wait()
    assert_same_run(run_dir, tiny_reference)
    with sqlite3.connect(run_dir / "guiselab.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM generations").fetchone()[0] == GENERATIONS
