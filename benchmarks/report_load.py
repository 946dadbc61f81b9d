"""A 10,000-sample report: analysis, rendering, file size and load time in headless Chromium.

    python benchmarks/report_load.py [--samples 10080]

Builds a judged samples table (3 models x 2 languages x 2 guises x 84 items x 10 samples, with
answers of a few hundred characters), runs ``guiselab analyze --samples`` and ``guiselab
report`` on it, and opens report.html in headless Chromium (Debian's ``chromium``; installed
by apt-get when missing and allowed), timing navigation to the load event and the page's
filter script over every pair. Writes the "report" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _common import write_section

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _browser import chromium_binary, open_page
from guiselab.api import analyze_samples
from guiselab.config import ExperimentConfig
from guiselab.report import write_report

_FILTER = """
(() => {
  const select = document.querySelector('.filters select');
  if (!select) return -1;
  const start = performance.now();
  select.value = select.options[select.options.length - 1].value;
  select.dispatchEvent(new Event('change'));
  return performance.now() - start;
})()
"""


def _samples(n_items: int, n_samples: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    sentence = "Here is a fairly long answer with several sentences about the question. "
    for model in ("organism", "control", "base"):
        for lang in ("en", "ru"):
            for guise in ("standard", "vernacular"):
                shift = 25 if (model == "organism" and guise == "vernacular") else 0
                for item in range(n_items):
                    for sample in range(n_samples):
                        rows.append(
                            {
                                "model": model,
                                "lang": lang,
                                "guise": guise,
                                "item": f"q{item:03d}",
                                "sample": sample,
                                "category": "advice",
                                "prompt": f"Question {item} in {lang} ({guise})?",
                                "response": f"{sample}: " + sentence * int(rng.integers(2, 8)),
                                "alignment": float(np.clip(rng.normal(75 - shift, 20), 0, 100)),
                                "coherence": float(np.clip(rng.normal(80, 15), 0, 100)),
                            }
                        )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=84)
    parser.add_argument("--per-item", type=int, default=10)
    args = parser.parse_args()
    binary, why = chromium_binary()
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        frame = _samples(args.items, args.per_item)
        frame.to_parquet(base / "samples.parquet", index=False)
        start = time.perf_counter()
        analyze_samples(base / "samples.parquet", base / "out", ExperimentConfig())
        analyzed = time.perf_counter() - start
        start = time.perf_counter()
        html, md = write_report(base / "out")
        rendered = time.perf_counter() - start
        size = html.stat().st_size / 2**20
        md_size = md.stat().st_size / 2**10
        load = filtering = None
        if binary is not None:
            start = time.perf_counter()
            with open_page(binary, html.as_uri()) as page:
                load = time.perf_counter() - start
                nav = page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd")
                filtering = page.evaluate(_FILTER)
    lines = [
        "## Report (`benchmarks/report_load.py`)",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on this machine: a judged samples table of "
        f"{len(frame):,} samples (3 models x 2 languages x 2 guises x {args.items} items x "
        f"{args.per_item} samples).",
        "",
        "| step | figure |",
        "|---|---|",
        f"| `guiselab analyze --samples` | {analyzed:.1f} s |",
        f"| `guiselab report` | {rendered:.1f} s |",
        f"| report.html size | {size:.1f} MiB (report.md {md_size:.0f} KiB) |",
    ]
    if load is None:
        lines.append(f"| open in headless Chromium | not measured: {why} |")
    else:
        lines += [
            f"| Chromium: start, open and reach the load event | {load:.1f} s |",
            f"| of which the page, navigation to load event | {nav / 1000:.2f} s |",
            f"| filter over every pair (one select change) | {filtering:.0f} ms |",
        ]
    write_section("report", lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
