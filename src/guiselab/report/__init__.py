"""The report stage: a self-contained report.html and a report.md from a run directory.

``write_report(run_dir)`` reads ``results.json`` (and, when present, ``samples.parquet``,
``config.toml`` and ``manifest.json``) and writes both files beside them. Everything read from
the run is treated as untrusted text and escaped.
"""

from guiselab.report._write import write_report

__all__ = ["write_report"]
