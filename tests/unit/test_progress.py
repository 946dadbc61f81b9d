"""Progress for a log file: plain, time-stamped lines when a stage starts, as it goes (with the
count, rate and ETA) and when it ends; rich bars only on a terminal."""

from __future__ import annotations

import io
import re

from guiselab.progress import NullProgress, PlainProgress, RichProgress, progress_for


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_stage_in_a_log_gets_start_progress_and_end_lines_with_rate_and_eta() -> None:
    out, clock = io.StringIO(), _Clock()
    progress = PlainProgress(out, every=30.0, clock=clock)
    with progress.task("finetune organism", total=100) as advance:
        for _ in range(100):
            clock.now += 2.0  # two seconds a step: a line every 15 steps
            advance(1)
    lines = out.getvalue().splitlines()
    assert all(re.match(r"\[\d\d:\d\d:\d\d\] finetune organism: ", line) for line in lines)
    body = [line.split("] ", 1)[1] for line in lines]
    assert body[0] == "finetune organism: started, 100 to do"
    assert body[1] == "finetune organism: 15/100 (15%), 2.0 s each, ETA 2:50"
    assert body[-1] == "finetune organism: done, 100/100 in 3:20"
    assert len(body) == 2 + 6  # every 15 steps up to 90, never at the end itself


def test_fast_stages_give_rates_per_second_and_hours_when_long() -> None:
    out, clock = io.StringIO(), _Clock()
    with PlainProgress(out, every=60.0, clock=clock).task("judge", total=100_000) as advance:
        clock.now = 10.0
        advance(100)  # the rate counts from here
        clock.now = 70.0
        advance(600)
    assert "judge: 700/100000 (1%), 10.00/s, ETA 2:45:30" in out.getvalue()


def test_the_display_follows_the_stream() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert isinstance(progress_for(False, Terminal()), RichProgress)
    assert isinstance(progress_for(False, io.StringIO()), PlainProgress)
    assert isinstance(progress_for(True, Terminal()), NullProgress)


def test_a_resumed_stage_counts_its_rate_from_this_run_only() -> None:
    # 90 of 100 steps were done by a killed run: they took no time in this one
    out, clock = io.StringIO(), _Clock()
    with PlainProgress(out, every=30.0, clock=clock).task("finetune x", total=100) as advance:
        advance(90)
        for _ in range(5):
            clock.now += 10.0
            advance(1)
    assert "finetune x: 93/100 (93%), 10.0 s each, ETA 1:10" in out.getvalue()
