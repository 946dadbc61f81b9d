"""``guiselab export``: a finished run's answers in another tool's format."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from guiselab.errors import GuiselabError

__all__ = ["export"]


class Format(StrEnum):
    inspect_log = "inspect-log"
    hf_dataset = "hf-dataset"


def export(
    run_dir: Annotated[Path, typer.Argument(help="A finished run directory.")],
    format: Annotated[
        Format,
        typer.Option(
            "--format",
            help="inspect-log: one Inspect eval log per model (inspect view, samples_df; "
            "needs the inspect extra); hf-dataset: Parquet shards and a dataset card.",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Directory to write into.")],
) -> None:
    """Export a finished run's judged answers as Inspect eval logs or a Hugging Face dataset."""
    if format is Format.inspect_log:
        try:
            from guiselab.inspect import export_inspect_logs
        except ImportError as exc:
            raise GuiselabError(
                f"Inspect logs need inspect-ai ({exc.name} is not installed); "
                "pip install 'guiselab[inspect]'",
                where="--format",
            ) from None
        for path in export_inspect_logs(run_dir, out):
            typer.echo(f"wrote {path}")
    else:
        from guiselab.export import export_hf_dataset

        for path in export_hf_dataset(run_dir, out):
            typer.echo(f"wrote {path}")
