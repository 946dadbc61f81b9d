"""What every command shares: its common options, the config it runs, progress display, and
the translation of errors into one line on stderr and an exit code."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from typing import Annotated, NoReturn

import click
import typer

from guiselab.config import ExperimentConfig, load_config
from guiselab.errors import GuiselabError, RemoteError, StorageError, storage_failure
from guiselab.progress import progress_for

__all__ = [
    "ConfigArg",
    "OutOpt",
    "PresetOpt",
    "QuietOpt",
    "experiment_config",
    "progress_for",
    "quiet_libraries",
    "run_app",
    "run_dir_of",
]

ConfigArg = Annotated[Path | None, typer.Argument(help="Experiment config (TOML).")]
PresetOpt = Annotated[
    str | None, typer.Option("--preset", help="Preset to start from: smoke, default or paper.")
]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Run directory (default runs/<name>).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", help="No progress bars or progress lines.")]


def quiet_libraries(verbose: bool) -> None:
    """Keep the libraries' progress bars (weights loading, shard writing), their logging
    below errors and their warnings out of what the user sees, unless ``verbose``: the
    terminal and a job's log show guiselab's own progress and summary."""
    if verbose:
        return
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    warnings.filterwarnings("ignore", module=r"(?!guiselab)")


def experiment_config(config: Path | None, preset: str | None) -> ExperimentConfig:
    """The config a command runs: the file and/or preset given, else the default preset."""
    return load_config(config, preset if preset else (None if config else "default"))


def run_dir_of(cfg: ExperimentConfig, out: Path | None) -> Path:
    """The run directory: ``--out``, else ``runs/<name>``."""
    return out if out is not None else Path("runs") / cfg.name


# Typer raises the exceptions of the click it runs on, which recent typer releases vendor as a
# copy of their own: catch both that copy's and click's.
_TYPER_CLICK = sys.modules[typer.BadParameter.__module__]
_ABORT = (click.exceptions.Abort, typer.Abort)
_NO_ARGS = tuple(
    module.NoArgsIsHelpError
    for module in (click.exceptions, _TYPER_CLICK)
    if hasattr(module, "NoArgsIsHelpError")
)
_USAGE = (click.exceptions.ClickException, _TYPER_CLICK.ClickException)


def run_app(app: typer.Typer) -> NoReturn:
    """Run ``app`` on the command line's arguments and exit with its code.

    User errors (a bad config, input file or argument) print one line on stderr and exit 2; a
    server or the disk failing exits 1; an interrupt exits 130.
    """
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        code = app(standalone_mode=False)
    except GuiselabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except (RemoteError, StorageError) as exc:  # a server or the disk failed: not the input
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except OSError as exc:  # a write outside a run directory (--out of a report) failed
        failure = storage_failure(exc, "the output directory")
        if failure is None:
            raise
        print(f"error: {failure}", file=sys.stderr)
        sys.exit(1)
    except _ABORT:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except _NO_ARGS as exc:  # `guiselab` alone, or a command group without its command
        message = exc.format_message()  # typer has printed the help already
        if message.strip():
            print(message)
        sys.exit(0)
    except _USAGE as exc:  # usage errors: missing argument, bad option, unknown command
        print(f"error: {exc.format_message()}", file=sys.stderr)
        sys.exit(2)
    if code == 130:  # typer turns Ctrl-C into exit code 130 itself
        print("interrupted", file=sys.stderr)
    sys.exit(code if isinstance(code, int) else 0)
