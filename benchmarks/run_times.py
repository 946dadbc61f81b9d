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
import tempfile
import time
from pathlib import Path

from _common import cpu_name, timed_guiselab, write_section


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
            command = ["run", "--preset", preset, "--out", str(out), "--quiet"]
            cold, rss, _ = timed_guiselab(command)
            rerun, _, _ = timed_guiselab(command)  # the finished directory: no work left
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
        "## Run times (`benchmarks/run_times.py`)",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} cores ({cpu_name()}), "
        f"Python {platform.python_version()}, no GPU; embedded weights already in the cache.",
        "",
        "| preset | cold run | rerun (finished dir) | peak RSS | finetune | sanity | generate "
        "| judge | controls | probe | analysis | generations | judgments | decision |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for preset, cold, rerun, rss, stages, counts, outcome in rows:
        lines.append(
            f"| {preset} | {cold / 60:.1f} min | {rerun:.1f} s | {rss:.2f} GiB "
            f"| {stages.get('finetune', 0):.0f} s | {stages.get('sanity', 0):.0f} s "
            f"| {stages.get('generate', 0):.0f} s | {stages.get('judge', 0):.0f} s "
            f"| {stages.get('controls', 0):.0f} s | {stages.get('probe', 0):.0f} s "
            f"| {stages.get('analysis', 0):.1f} s "
            f"| {counts['generations']} | {counts['judgments']} | {outcome} |"
        )
    write_section("run-times", lines)


if __name__ == "__main__":
    main()
