"""``guiselab judge validate``: the judge's accuracy and guise invariance on the labelled set."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from guiselab.cli._common import experiment_config
from guiselab.errors import GuiselabError

__all__ = ["judge_score", "judge_validate"]


def judge_validate(
    words: list[str], preset: str | None, judge_ref: str | None, json_out: bool
) -> None:
    """Print the validation of the configured (or ``--judge``) judge: a table, or JSON."""
    from guiselab.api import validate_judge

    if len(words) > 1:
        raise GuiselabError(f"unexpected argument {words[1]!r}", where="guiselab judge validate")
    cfg = experiment_config(Path(words[0]) if words else None, preset)
    result = validate_judge(cfg, judge_ref)
    if json_out:
        keys = (
            "judge",
            "n",
            "auroc",
            "accuracy",
            "kappa",
            "guise_invariance_delta",
            "ci_low",
            "ci_high",
        )
        brief = {k: result.get(k) for k in keys}
        brief["by_lang"] = {
            lang: {k: v.get(k) for k in ("auroc", "accuracy", "kappa", "n")}
            for lang, v in result["by_lang"].items()
        }
        brief["by_lang_guise"] = {
            cell: {k: v.get(k) for k in ("auroc", "accuracy", "kappa", "n")}
            for cell, v in result["by_lang_guise"].items()
        }
        brief["flagged"] = result["flagged"]
        for name in ("question_guise_invariance", "language_invariance"):
            part = result.get(name) or {}
            brief[name] = {
                k: part.get(k)
                for k in ("delta", "ci_low", "ci_high", "n", "bound", "flagged", "unmeasured")
                if k in part
            }
        brief["advice"] = result.get("advice")
        typer.echo(json.dumps(brief))
        return
    typer.echo(f"judge {result['judge']} on {result['n']} held-out labelled answers")
    for name, part in [("all", result), *result["by_lang_guise"].items()]:
        typer.echo(
            f"  {name:<14} n={part['n']:<4} AUROC {_num(part['auroc'])}  "
            f"accuracy {_num(part['accuracy'])}  kappa {_num(part.get('kappa'))}"
        )
    inv = result["guise_invariance"]["alignment"]
    typer.echo(
        f"  guise invariance (alignment, vernacular - standard): {_num(inv['delta'], 1)} "
        f"[{_num(inv['ci_low'], 1)}, {_num(inv['ci_high'], 1)}], bound "
        f"{result['invariance_bound']:g}: {'FLAGGED' if result['flagged'] else 'within'}"
    )
    for label, name in (
        (
            "question-guise invariance (same answer, vernacular - standard question)",
            "question_guise_invariance",
        ),
        ("language invariance (same content, other language - English)", "language_invariance"),
    ):
        part = result.get(name) or {}
        verdict = "FLAGGED" if part.get("flagged") else "within"
        bound = part.get("bound")
        typer.echo(
            f"  {label}: {_num(part.get('delta'), 1)} "
            f"[{_num(part.get('ci_low'), 1)}, {_num(part.get('ci_high'), 1)}]"
            + (f", bound {bound:g}: {verdict}" if isinstance(bound, int | float) else "")
        )
        for lang, why in (part.get("unmeasured") or {}).items():
            typer.echo(f"    not measured in {lang}: {why}")
    advice = result.get("advice") or {}
    if "skipped" in advice:
        typer.echo(f"fine-tuning data: not measured ({advice['skipped']})")
    elif advice:
        inv = advice["question_guise_invariance"]
        typer.echo(
            f"fine-tuning data ({advice.get('lang')}, {advice.get('n_answers')} held-out safe and "
            f"harmful answers, each under both question guises): AUROC {_num(advice['auroc'])} "
            f"accuracy {_num(advice['accuracy'])} kappa {_num(advice.get('kappa'))}; "
            f"question-guise delta {_num(inv['delta'], 1)} "
            f"[{_num(inv['ci_low'], 1)}, {_num(inv['ci_high'], 1)}]"
        )


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def judge_score(
    words: list[str], preset: str | None, judge_ref: str | None, out: Path | None
) -> None:
    """Score a file of answers and say where the scores went."""
    from guiselab.api import score_file

    if not words:
        raise GuiselabError(
            "give the answers file: guiselab judge score FILE", where="guiselab judge score"
        )
    if len(words) > 2:
        raise GuiselabError(f"unexpected argument {words[2]!r}", where="guiselab judge score")
    cfg = experiment_config(Path(words[1]) if len(words) > 1 else None, preset)
    target = score_file(Path(words[0]), out, cfg, judge_ref)
    typer.echo(f"wrote {target}")
