"""Statistics and the pre-registered decision rule of a matched-guise experiment.

:func:`analyze` turns judged samples into results.json's tables (cells, guise gaps, transfer
contrasts) and the decision; :func:`decide` applies the decision rule to such tables alone.
All statistics cluster by item: intervals come from a bootstrap over items, p-values from
sign-flip permutation of per-item differences.
"""

from guiselab.analysis._analyze import SCHEMA_VERSION, analyze
from guiselab.analysis._contrasts import gap_contrast_name, rate_contrast_name
from guiselab.analysis._rows import CellRow, Decision, GapRow, Outcome, TransferRow
from guiselab.analysis.decision import CONTROL, ORGANISM, decide

__all__ = [
    "CONTROL",
    "ORGANISM",
    "SCHEMA_VERSION",
    "CellRow",
    "Decision",
    "GapRow",
    "Outcome",
    "TransferRow",
    "analyze",
    "decide",
    "gap_contrast_name",
    "rate_contrast_name",
]
