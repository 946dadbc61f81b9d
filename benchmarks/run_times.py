"""Wall time and peak memory of `guiselab run` per preset, side by side, on this machine.

Each preset runs cold (a new run directory; the embedded weights already converted in the
user cache), then once more on the finished directory (the no-work rerun). Writes the
"run times" section of docs/benchmarks.md.

    python benchmarks/run_times.py [--presets smoke default]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- run-times:start -->", "<!-- run-times:end -->"


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _timed_run(preset: str, out: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS in GiB) of one `guiselab run` in a child process."""
    cmd = [
        sys.executable,
        "-m",
        "guiselab",
        "run",
        "--preset",
        preset,
        "--out",
        str(out),
        "--quiet",
    ]
    # ru_maxrss of RUSAGE_CHILDREN is the largest child so far; a fresh interpreter per preset
    # keeps the figures separate.
    probe = (
        "import resource, subprocess, sys, time, json;"
        "t = time.perf_counter();"
        f"r = subprocess.run({cmd!r});"
        "print(json.dumps([r.returncode, time.perf_counter() - t,"
        " resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    rc, seconds, rss_kib = json.loads(done.stdout.strip().splitlines()[-1])
    if rc != 0:
        raise SystemExit(f"guiselab run --preset {preset} failed ({rc}):\n{done.stderr[-3000:]}")
    return seconds, rss_kib / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--presets", nargs="+", default=["smoke", "default"])
    parser.add_argument(
        "--keep", type=Path, help="Keep the run directories under this folder (default: discard)."
    )
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for preset in args.presets:
            out = (args.keep or Path(tmp)) / preset
            if out.exists():
                raise SystemExit(f"{out} exists; a cold run needs a new directory")
            cold, rss = _timed_run(preset, out)
            rerun, _ = _timed_run(preset, out)
            manifest = json.loads((out / "manifest.json").read_text())
            stages = manifest["timings_s"]
            results = json.loads((out / "results.json").read_text())
            rows.append(
                (
                    preset,
                    cold,
                    rerun,
                    rss,
                    stages,
                    manifest["counts"],
                    results["decision"]["outcome"],
                )
            )
            print(
                f"{preset}: {cold:.0f} s cold, {rerun:.1f} s rerun, {rss:.2f} GiB peak", flush=True
            )
    lines = [
        START,
        "## Run times (`benchmarks/run_times.py`)",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} cores ({_cpu()}), "
        f"Python {platform.python_version()}, no GPU; embedded weights already in the cache.",
        "",
        "| preset | cold run | rerun (finished dir) | peak RSS | finetune | generate | judge "
        "| analysis | generations | judgments | decision |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for preset, cold, rerun, rss, stages, counts, outcome in rows:
        lines.append(
            f"| {preset} | {cold / 60:.1f} min | {rerun:.1f} s | {rss:.2f} GiB "
            f"| {stages.get('finetune', 0):.0f} s | {stages.get('generate', 0):.0f} s "
            f"| {stages.get('judge', 0):.0f} s | {stages.get('analysis', 0):.1f} s "
            f"| {counts['generations']} | {counts['judgments']} | {outcome} |"
        )
    lines.append(END)
    section = "\n".join(lines)
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n\n"
    if START in text:
        head, rest = text.split(START, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(text)
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
