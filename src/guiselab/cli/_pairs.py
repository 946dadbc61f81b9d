"""``guiselab pairs``: list, show, validate, transform, describe and export contrastive pairs."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from guiselab.cli._common import ConfigArg, PresetOpt, experiment_config
from guiselab.errors import GuiselabError

__all__ = ["pairs_app"]

pairs_app = typer.Typer(no_args_is_help=True, help="Inspect and validate contrastive pairs.")


@pairs_app.command("list")
def pairs_list(config: ConfigArg = None, preset: PresetOpt = None) -> None:
    """List the pairs an experiment uses (built-in corpus by default)."""
    from guiselab.pairs import load_pairs

    cfg = experiment_config(config, preset)
    pairs = load_pairs(cfg.pairs.files)
    for p in pairs:
        typer.echo(f"{p.id}\t{p.item}\t{p.lang}\t{p.variety}\t{p.category or ''}\t{p.standard}")
    items: dict[str, set[str]] = {}
    for p in pairs:
        items.setdefault(p.lang, set()).add(p.item)
    per_lang = ", ".join(f"{lang}: {len(ids)}" for lang, ids in sorted(items.items()))
    total = len({p.item for p in pairs})
    typer.echo(f"# {len(pairs)} pairs, {total} items; items per language: {per_lang}")


@pairs_app.command("show")
def pairs_show(pair_id: str, config: ConfigArg = None) -> None:
    """Show one pair in full."""
    from guiselab.pairs import load_pairs

    cfg = experiment_config(config, None)
    for p in load_pairs(cfg.pairs.files):
        if p.id == pair_id:
            typer.echo(
                json.dumps({**vars(p), "features": list(p.features)}, ensure_ascii=False, indent=2)
            )
            return
    raise GuiselabError(f"no pair with id '{pair_id}'; see `guiselab pairs list`", where="ID")


@pairs_app.command("validate")
def pairs_validate(
    files: Annotated[
        list[Path] | None, typer.Argument(help="Pair files (default: the built-in corpus).")
    ] = None,
    embeddings: Annotated[
        bool, typer.Option(help="Also check meaning equivalence with multilingual embeddings.")
    ] = True,
    json_out: Annotated[bool, typer.Option("--json", help="Print the checks as JSON.")] = False,
) -> None:
    """Check pair files: schema (exit 2 on the first error), then form and meaning checks.

    Exit 1 when a pair fails the form or meaning checks (each failure is printed).
    """
    from guiselab.pairs import corpus_report, load_pairs

    pairs = load_pairs(files or [])
    if not embeddings:
        typer.echo(f"{len(pairs)} pairs, {len({p.item for p in pairs})} items: schema ok")
        return
    report = corpus_report(pairs)
    if json_out:
        typer.echo(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    else:
        typer.echo(f"{len(pairs)} pairs, {len({p.item for p in pairs})} items: schema ok")
        for check in report.failures:
            typer.echo(f"{check.pair_id}: " + "; ".join(check.problems))
        for variety, names in report.undocumented.items():
            typer.echo(f"note: {variety} features not documented in guiselab: {', '.join(names)}")
        passed = len(report.checks) - len(report.failures)
        typer.echo(f"{passed}/{len(report.checks)} pairs pass the form and meaning checks")
    if report.failures:
        raise typer.Exit(1)


@pairs_app.command("transform")
def pairs_transform(
    source: Annotated[
        Path, typer.Argument(help="A pair file (its standard texts) or a .txt, one prompt a line.")
    ],
    variety: Annotated[str, typer.Option(help="aave or ru-prostorechie.")],
    only: Annotated[
        list[str] | None, typer.Option(help="Apply only this feature (repeatable).")
    ] = None,
    without: Annotated[
        list[str] | None, typer.Option(help="Switch this feature off (repeatable).")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="File (default: stdout).")] = None,
) -> None:
    """Write pairs whose vernacular guise the rule-based transformer makes (JSONL).

    With --only / --without the same prompts give feature-ablation pair sets.
    """
    from guiselab._read import read_text
    from guiselab.errors import InputFileError
    from guiselab.pairs import export_pairs, load_pair_file, make_pairs, transformer

    lang = transformer(variety).lang
    standards: list[tuple[str, str, str | None]] = []
    if source.suffix.lower() == ".txt":
        lines = read_text(source, missing="no such prompts file; check the path").splitlines()
        standards = [(f"t{n:04d}", t.strip(), None) for n, t in enumerate(lines, 1) if t.strip()]
    else:
        seen: set[str] = set()
        for pair in load_pair_file(source):
            if pair.lang == lang and pair.item not in seen:
                seen.add(pair.item)
                standards.append((pair.item, pair.standard, pair.category))
    if not standards:
        raise InputFileError(f"no standard prompts in lang '{lang}'", where=str(source))
    pairs, unchanged = make_pairs(standards, variety, only=only, without=without or ())
    text = export_pairs(pairs, "jsonl")
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
    typer.echo(
        f"{len(pairs)} pairs; {len(unchanged)} prompts left out (no feature fired)", err=True
    )


@pairs_app.command("card")
def pairs_card(
    config: ConfigArg = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """A dataset card: counts per language / variety / category, features, similarities."""
    from guiselab.pairs import card_markdown, corpus_report, load_pairs

    cfg = experiment_config(config, None)
    report = corpus_report(load_pairs(cfg.pairs.files))
    text = (
        json.dumps(report.as_dict(), indent=2, ensure_ascii=False)
        if json_out
        else (card_markdown(report))
    )
    typer.echo(text)


@pairs_app.command("export")
def pairs_export(
    fmt: Annotated[str, typer.Option("--format", help="jsonl, csv or inspect.")] = "jsonl",
    out: Annotated[Path | None, typer.Option("--out", help="File (default: stdout).")] = None,
    config: ConfigArg = None,
) -> None:
    """Export the pairs as JSONL, CSV, or an Inspect AI dataset (one sample per guise)."""
    from guiselab.pairs import export_pairs, load_pairs

    if fmt not in ("jsonl", "csv", "inspect"):
        raise GuiselabError(f"unknown format '{fmt}'; use jsonl, csv or inspect", where="--format")
    cfg = experiment_config(config, None)
    text = export_pairs(load_pairs(cfg.pairs.files), fmt)  # type: ignore[arg-type]
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}", err=True)
