"""A run directory that fills up, or turns read-only, in the middle of a run.

The directory is a size-limited tmpfs: the disk really fills at whatever write comes next
(store transaction, adapter, activations, report). Mounting needs root; where it is not
allowed the test says so and the injected-fault tests in tests/unit/test_store.py remain.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from _tinyrun import assert_same_run, guiselab

pytestmark = pytest.mark.integration


_KILLED_WRITER = """
import os, sys
from pathlib import Path
from guiselab.store import RunStore
store = RunStore.in_dir(Path(sys.argv[1]))
store._db.execute("PRAGMA wal_autocheckpoint = 0")
store.set_failures("judge", {"k": "HTTP 500 after 6 attempts"},
                   {"k": "alignment of organism q1 vernacular sample 0"})
os._exit(0)  # no close, no checkpoint: the row stays in the WAL
"""


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, check=False)


@pytest.fixture()
def small_disk(tmp_path: Path) -> Iterator[Path]:
    point = tmp_path / "disk"
    point.mkdir()
    mounted = _mount("-t", "tmpfs", "-o", "size=120k", "tmpfs", str(point))
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a size-limited tmpfs here: {mounted.stderr.strip()}")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], check=False)


def test_full_then_freed_disk_resumes_to_the_uninterrupted_result(
    small_disk: Path, tiny_config: Path, tiny_reference: Path
) -> None:
    run_dir = small_disk / "run"
    args = ("run", str(tiny_config), "--out", str(run_dir), "--quiet")
    failures = []
    for size in ("120k", "240k", "360k", "480k", "600k", "16m"):
        assert _mount("-o", f"remount,size={size}", str(small_disk)).returncode == 0
        done = guiselab(*args)
        if done.returncode == 0:
            break
        assert done.returncode == 1, done.stderr[-3000:]
        line = done.stderr.strip().splitlines()[-1]
        assert line.startswith(f"error: {run_dir}"), line
        assert "No space left on device" in line or "database or disk is full" in line, line
        assert "Traceback" not in done.stderr
        status = guiselab("status", str(run_dir))  # the store still opens
        assert status.returncode == 0, status.stderr
        failures.append(line.split(": cannot write")[0].removeprefix(f"error: {run_dir}"))
    else:
        pytest.fail("the run never finished")
    # The disk filled in several places (store, adapters, ...) before it was big enough.
    assert len(failures) >= 3, failures
    print("disk full while writing:", failures)
    assert_same_run(run_dir, tiny_reference)


def test_read_only_run_directory_is_a_clear_error(
    small_disk: Path, tiny_config: Path, tiny_reference: Path
) -> None:
    run_dir = small_disk / "run"
    assert _mount("-o", "remount,size=16m", str(small_disk)).returncode == 0
    subprocess.run(["cp", "-a", str(tiny_reference), str(run_dir)], check=True)
    # A writer killed with rows still in the WAL (no checkpoint at close): status must see them.
    subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(run_dir)], check=False, timeout=120)
    assert (run_dir / "guiselab.sqlite-wal").stat().st_size > 0
    before = (run_dir / "guiselab.sqlite").read_bytes()
    assert _mount("-o", "remount,ro", str(small_disk)).returncode == 0
    for args in (("run", str(tiny_config), "--out", str(run_dir)), ("analyze", str(run_dir))):
        done = guiselab(*args, "--quiet") if args[0] == "run" else guiselab(*args)
        assert done.returncode == 1, done.stderr[-2000:]
        assert done.stderr.strip().splitlines() == [
            f"error: {run_dir}: cannot write (Read-only file system); free space or make the "
            "run directory writable (or choose another --out), then run the same command "
            "again: everything finished is kept"
        ]
    status = guiselab("status", str(run_dir))
    assert status.returncode == 0, status.stderr
    assert "results.json       present" in status.stdout
    assert "failed judge       1 after retries" in status.stdout  # the row in the WAL
    assert "alignment of organism q1 vernacular sample 0: HTTP 500" in status.stdout
    assert _mount("-o", "remount,rw", str(small_disk)).returncode == 0
    assert (run_dir / "guiselab.sqlite").read_bytes() == before
    rerun = guiselab("run", str(tiny_config), "--out", str(run_dir), "--quiet")
    assert rerun.returncode == 0, rerun.stderr[-2000:]
