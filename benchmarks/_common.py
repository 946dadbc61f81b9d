"""What every benchmark script shares: timing a guiselab command in a child process, and
replacing the script's own section of docs/benchmarks.md."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def cpu_name() -> str:
    """The CPU's model name: figures measured on different CPUs are not comparable."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def timed_guiselab(args: list[str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in GiB, stdout) of ``python -m guiselab ARGS``.

    The command runs under a fresh interpreter whose ``RUSAGE_CHILDREN`` holds only that
    command, so the peak memory is the command's own. A failure ends the benchmark.
    """
    cmd = [sys.executable, "-m", "guiselab", *args]
    probe = (
        "import resource, subprocess, sys, time, json;"
        "t = time.perf_counter();"
        f"r = subprocess.run({cmd!r}, capture_output=True, text=True);"
        "sys.stderr.write(r.stderr[-3000:]);"
        "print(json.dumps([r.returncode, time.perf_counter() - t,"
        " resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.stdout]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    rc, seconds, rss_kib, stdout = json.loads(done.stdout.strip().splitlines()[-1])
    if rc != 0:
        raise SystemExit(f"guiselab {' '.join(args)} failed ({rc}):\n{done.stderr[-3000:]}")
    return seconds, rss_kib / 2**20, stdout


def write_section(name: str, lines: list[str], doc: Path = DOC) -> None:
    """Put ``lines`` between the ``<!-- NAME:start/end -->`` markers of ``doc`` (by default
    docs/benchmarks.md)."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    section = "\n".join([start, *lines, end])
    text = doc.read_text() if doc.exists() else "# Benchmarks\n\n"
    if start in text:
        head, rest = text.split(start, 1)
        text = head + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    doc.parent.mkdir(exist_ok=True)
    doc.write_text(text)
    print(f"wrote {doc}")
