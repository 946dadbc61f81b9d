"""Power of a configured design from the item variances a pilot run measured."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from guiselab.analysis._cells import item_table
from guiselab.analysis._checks import ORGANISM
from guiselab.analysis._contrasts import family_members
from guiselab.analysis._power import (
    gap_variance,
    items_for_equivalence,
    items_for_gap,
    power_equivalence,
    power_gap,
)
from guiselab.analysis._samples import prepare_samples
from guiselab.config import ExperimentConfig
from guiselab.errors import InputFileError
from guiselab.pairs import select_pairs
from guiselab.samples import SAMPLES_FILE, read_samples

__all__ = ["pilot_advice"]


def pilot_advice(
    config: ExperimentConfig, pilot: Path, samples_per_item: int, design: str
) -> dict[str, Any]:
    """Power of the configured design, from the item variances a pilot run measured.

    ``pilot`` is a finished run directory (its samples.parquet) or a samples file. The variance
    components come from the organism's target-language gap (or the first model and language
    with one); the design is this config's items and ``samples_per_item`` answers per item
    and guise (with several training seeds, the pooled count: ``guiselab.plan``'s
    ``samples_per_item``), described in the output by ``design``.
    """
    path = pilot / SAMPLES_FILE if pilot.is_dir() else pilot
    items = item_table(prepare_samples(read_samples(path), config.analysis))
    a = config.analysis
    keys = [("organism", a.target_lang), *sorted({(str(m), str(lg)) for m, lg, *_ in items.index})]
    variance, source = None, None
    for model, lang in keys:
        variance = gap_variance(items, model, lang)
        if variance is not None:
            source = f"{model}/{lang}"
            break
    if variance is None:
        raise InputFileError(
            "the pilot has no model and language with two or more items in both guises",
            where=str(path),
        )
    n = len({p.item for p in select_pairs(config.pairs)})
    sd = variance.sd(samples_per_item)
    # The Bonferroni level over the decision's confirmatory family (Holm's first step, so a
    # lower bound on each test's power under Holm), as results.json's power figures use.
    alpha = a.alpha / len(family_members(a, ORGANISM))
    rows: dict[str, Any] = {
        "pilot": f"{path} ({source}: {variance.n_items} items, misaligned rate "
        f"{variance.rate:.2f}, between-item sd {variance.tau2**0.5:.3f})",
        "design": f"{design}; item gap sd {sd:.3f}",
    }
    for gap in (0.05, 0.10, 0.20):
        rows[f"power to detect a {gap:.2f} gap"] = (
            f"{power_gap(gap, n, sd, alpha):.2f} (80% needs {items_for_gap(gap, sd, alpha)} items)"
        )
    margin = a.equivalence_margin
    rows[f"power to show equivalence (+-{margin:.2f})"] = (
        f"{power_equivalence(margin, n, sd, a.alpha):.2f} "
        f"(80% needs {items_for_equivalence(margin, sd, a.alpha)} items)"
    )
    return rows
