"""Simulated error rates and power of the decision rule, written to docs/decision.md.

    python benchmarks/decision_rates.py [--experiments 200] [--workers 2]

Every scenario of :func:`guiselab.simulate.scenarios` (the two outcomes the plan predicts, the
null, and the adversarial truths: misaligned in both target guises, incoherent in the target
language, answers in the source language, no source-language conditioning, a control with the
same target gap) is drawn ``--experiments`` times at each design (the default preset's items x
samples per prompt, 60 x 10, and the paper preset's) by the simulator, which shares no code with
the analysis, and decided by the default preset's analysis plan. The table gives, per scenario
and design, the share of experiments reaching each outcome; the right answer's column is marked.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

from _common import write_section

from guiselab.analysis import AnalysisPlan
from guiselab.config import load_config
from guiselab.pairs import select_pairs
from guiselab.simulate import decision_rates, scenarios_for

DOC = Path(__file__).resolve().parents[1] / "docs" / "decision.md"
SHORT = {
    "outcome_1_aligned_both": "outcome 1",
    "outcome_2_replicates": "outcome 2",
    "outcome_3_misaligned_both": "outcome 3",
    "inconclusive": "inconclusive",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    default, paper = load_config(preset="default"), load_config(preset="paper")
    n_items = len({p.item for p in select_pairs(default.pairs)})
    designs = [
        ("default preset", n_items, default.generation.samples_per_prompt),
        ("10 samples per prompt", n_items, 10),
        ("paper preset", n_items, paper.generation.samples_per_prompt),
    ]
    plan = AnalysisPlan.from_config(default)
    truths = scenarios_for(default.analysis)
    jobs = [(truth, n, k) for _, n, k in designs for truth in truths.values()]
    started = time.perf_counter()
    rates = decision_rates(jobs, plan, n_experiments=args.experiments, workers=args.workers)
    seconds = time.perf_counter() - started
    lines = [
        f"{args.experiments} simulated experiments per row, decided by the default preset's "
        f"plan (sha256 `{plan.sha256[:12]}`); `python benchmarks/decision_rates.py` "
        f"({seconds / 60:.0f} min on {platform.machine()} with {args.workers} workers). Bold: "
        "the right answer. With 200 experiments a rate's standard error is at most 3.5 points.",
        "",
        "| scenario | design | items x samples | outcome 1 | outcome 2 | outcome 3 | "
        "inconclusive |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for (truth, n, k), row in zip(jobs, rates, strict=True):
        design = next(name for name, dn, dk in designs if (dn, dk) == (n, k))
        cells = [f"**{row[o]:.1%}**" if o == truth.expected else f"{row[o]:.1%}" for o in SHORT]
        lines.append(
            f"| {truth.name}: {truth.description} | {design} | {n} x {k} | "
            + " | ".join(cells)
            + " |"
        )
    write_section("rates", lines, DOC)


if __name__ == "__main__":
    main()
