"""The corpus checks of a run's pairs, computed once per set of pairs and kept in its store."""

from __future__ import annotations

from typing import Any

from guiselab.config import ExperimentConfig
from guiselab.pairs._schema import Pair
from guiselab.pairs._validate import corpus_report
from guiselab.progress import Progress
from guiselab.store import RunStore, content_key

__all__ = ["check_pairs"]


def check_pairs(
    config: ExperimentConfig, store: RunStore, pairs: list[Pair], progress: Progress
) -> dict[str, Any] | None:
    """The corpus checks of the run's pairs, computed once per set of pairs and kept in the store.

    Failing pairs are logged as warnings (they stay in the run: the user's corpus is theirs to
    fix); the summary goes into ``manifest.json``.
    """
    if not config.pairs.check_meaning:
        return None
    key = content_key([[p.id, p.lang, p.variety, p.standard, p.vernacular] for p in pairs])
    saved: dict[str, Any] | None = store.get_meta("pairs_check")
    if saved is None or saved.get("key") != key:
        report = corpus_report(pairs).as_dict()
        saved = {
            "key": key,
            "pairs": report["counts"]["pairs"],
            "guise_similarity": report["guise_similarity"],
            "cross_language": report["cross_language"],
            "failures": report["failures"],
            "undocumented_features": report["undocumented_features"],
        }
        store.set_meta("pairs_check", saved)
        for failure in saved["failures"]:
            progress.log(f"warning: pair {failure['id']}: {'; '.join(failure['problems'])}")
    return saved
