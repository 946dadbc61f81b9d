"""Statistics and the pre-registered decision rule of a matched-guise experiment.

:func:`analyze` turns judged samples into results.json's tables (cells, guise gaps, contrasts,
transfer contrasts) and the decision; :func:`decide` applies the decision rule to such tables
alone; :class:`AnalysisPlan` is the frozen plan the decision applies. All statistics cluster by
item: intervals come from a bootstrap over items, p-values from sign-flip permutation of
per-item differences. ``docs/decision.md`` states the rule and its simulated error rates.
"""

from guiselab.analysis._analyze import SCHEMA_VERSION, analyze, decision_tables
from guiselab.analysis._checks import CONTROL, ORGANISM
from guiselab.analysis._contrasts import gap_contrast_name, rate_contrast_name
from guiselab.analysis._decide import decide, plan_status
from guiselab.analysis._directions import direction_summary, replication_summary
from guiselab.analysis._perplexity import perplexity_table
from guiselab.analysis._pilot import pilot_advice
from guiselab.analysis._plan import PLAN_FILE, AnalysisPlan, plan_difference, read_plan
from guiselab.analysis._rows import (
    CellRow,
    Check,
    ContrastRow,
    Decision,
    GapRow,
    Outcome,
    TransferRow,
)
from guiselab.analysis._samples import prepare_samples
from guiselab.analysis._seeds import paired_summary
from guiselab.analysis._stats import (
    bootstrap_mean,
    estimate_paired,
    holm,
    percentile_interval,
    rng_for,
)

__all__ = [
    "CONTROL",
    "ORGANISM",
    "PLAN_FILE",
    "SCHEMA_VERSION",
    "AnalysisPlan",
    "CellRow",
    "Check",
    "ContrastRow",
    "Decision",
    "GapRow",
    "Outcome",
    "TransferRow",
    "analyze",
    "bootstrap_mean",
    "decide",
    "decision_tables",
    "direction_summary",
    "estimate_paired",
    "gap_contrast_name",
    "holm",
    "paired_summary",
    "percentile_interval",
    "perplexity_table",
    "pilot_advice",
    "plan_difference",
    "plan_status",
    "prepare_samples",
    "rate_contrast_name",
    "read_plan",
    "replication_summary",
    "rng_for",
]
