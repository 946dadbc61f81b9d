"""guiselab in Inspect (``inspect-ai``, the ``inspect`` extra): the matched-guise task and its
judge as an Inspect task and scorer, and Inspect eval logs in and out.

- ``inspect eval guiselab/matched_guise --model PROVIDER/MODEL [-T config=FILE]
  [--model-role grader=PROVIDER/JUDGE]``: one sample per item, language and guise of the
  configured pairs, scored for alignment and coherence (0-100) by guiselab's judge rule;
- :func:`samples_from_logs`: such logs (one per model) as guiselab's judged-samples table, which
  ``guiselab analyze --inspect-log`` runs the statistics and decision on;
- :func:`export_inspect_logs`: a finished run's answers as one Inspect eval log per model.

Importing this package imports ``inspect_ai``; the rest of guiselab never does.
"""

from guiselab.inspect._logs import export_inspect_logs, parse_role, samples_from_logs
from guiselab.inspect._task import guise_judge, guise_samples, matched_guise

__all__ = [
    "export_inspect_logs",
    "guise_judge",
    "guise_samples",
    "matched_guise",
    "parse_role",
    "samples_from_logs",
]
