"""What Inspect's entry point loads: the task and scorer, so that ``inspect eval
guiselab/matched_guise`` finds them."""

from guiselab.inspect._task import guise_judge, matched_guise

__all__ = ["guise_judge", "matched_guise"]
