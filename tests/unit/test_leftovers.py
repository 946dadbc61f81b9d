"""A killed process's temporaries are removed when the run opens again; targets stay."""

from __future__ import annotations

from pathlib import Path

from guiselab.finetune import training_state
from guiselab.finetune._checkpoint import note_step
from guiselab.rundir import _remove_leftovers


def test_temporaries_a_kill_left_are_removed_and_targets_kept(tmp_path: Path) -> None:
    adapters = tmp_path / "adapters"
    note_step(adapters / "organism", 3, 10, 1.5)  # the note of the step a training reached
    left = [
        tmp_path / ".results.json.abc.tmp",
        adapters / ".organism.progress.json.x1y2.tmp",  # a kill between write and rename
        adapters / "organism.partial",
        tmp_path / "figures" / "gap.png.tmp",
    ]
    for path in left:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("half", encoding="utf-8")
    kept = tmp_path / "results.json"
    kept.write_text("{}", encoding="utf-8")
    _remove_leftovers(tmp_path)
    assert [p for p in left if p.exists()] == []
    assert kept.read_text(encoding="utf-8") == "{}"
    state = training_state(adapters / "organism")
    assert state is not None and state["step"] == 3  # the note itself is a target, kept
