"""The report stage: a self-contained report.html and a report.md from a run directory.

``write_report(run_dir)`` reads ``results.json`` (and, when present, ``samples.parquet``,
``config.toml`` and ``manifest.json``) and writes both files beside them. Everything read from
the run is treated as untrusted text and escaped. ``write_comparison(run_dirs, out)`` sets
several runs side by side.
"""

from guiselab.report._compare import write_comparison
from guiselab.report._write import write_report

__all__ = ["write_comparison", "write_report"]
