"""The ``guiselab`` command: parses arguments, calls :mod:`guiselab.api` (or, for planning,
pairs and reports, the package that owns the command), prints."""

from __future__ import annotations

from typing import Annotated

import typer

from guiselab.cli._bench import bench
from guiselab.cli._common import quiet_libraries, run_app
from guiselab.cli._export import export
from guiselab.cli._pairs import pairs_app
from guiselab.cli._plan import plan
from guiselab.cli._stages import (
    analyze,
    finetune,
    generate,
    init,
    judge,
    probe,
    report,
    run,
    status,
)
from guiselab.config import preset_names

__all__ = ["app", "main", "preset_names"]

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Matched-guise experiments on dialect-conditioned misalignment in language models.",
)


@app.callback()
def _options(
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            help="Let the libraries' progress bars, logging and warnings through "
            "(given before the command: guiselab --verbose run ...).",
        ),
    ] = False,
) -> None:
    quiet_libraries(verbose)


app.add_typer(pairs_app, name="pairs")
# Registration order is the order ``guiselab --help`` lists the commands in.
for _command in (
    run,
    plan,
    init,
    status,
    finetune,
    generate,
    judge,
    probe,
    analyze,
    report,
    export,
    bench,
):
    app.command()(_command)


def main() -> None:
    """Entry point: user errors become one line on stderr and exit code 2."""
    run_app(app)
