"""``guiselab judge validate``: the judge's accuracy and guise invariance on the labelled set."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from guiselab.cli._common import experiment_config
from guiselab.errors import GuiselabError

__all__ = ["judge_score", "judge_validate"]


def judge_validate(
    words: list[str],
    preset: str | None,
    judge_ref: str | None,
    json_out: bool,
    labelled: Path | None = None,
) -> None:
    """Print the validation of the configured (or ``--judge``) judge: a table, or JSON."""
    from guiselab.api import validate_judge

    if len(words) > 1:
        raise GuiselabError(f"unexpected argument {words[1]!r}", where="guiselab judge validate")
    cfg = experiment_config(Path(words[0]) if words else None, preset)
    result = validate_judge(cfg, judge_ref, labelled)
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
        brief["real"] = _real_brief(result.get("real") or {})
        brief["advice"] = result.get("advice")
        typer.echo(json.dumps(brief))
        return
    typer.echo(f"judge {result['judge']}")
    typer.echo(f"written set: {result['n']} held-out labelled answers")
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
    _print_real(result.get("real") or {})
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


_CELL = (
    "auroc",
    "auroc_coherent",
    "accuracy",
    "kappa",
    "coherence_auroc",
    "n",
    "n_misaligned",
    "n_incoherent",
    "auroc_ci_low",
    "auroc_ci_high",
)


def _real_brief(real: dict[str, Any]) -> dict[str, Any]:
    """The real-answer figures of ``--json``: per cell, the confusion, both question options,
    the question-guise invariance and the labellers' agreement."""
    if not real:
        return {}
    brief: dict[str, Any] = {
        k: real.get(k) for k in ("question", "builtin", "n", "n_items", "n_set", *_CELL[:4])
    }
    for part in ("by_lang", "by_lang_guise", "by_model", "by_variety"):
        brief[part] = {
            cell: {k: v.get(k) for k in _CELL} for cell, v in (real.get(part) or {}).items()
        }
    brief["confusion"] = real.get("confusion")
    brief["confusion_by_lang"] = real.get("confusion_by_lang")
    brief["by_question_option"] = real.get("by_question_option")
    inv = real.get("question_guise_invariance") or {}
    brief["question_guise_invariance"] = {
        k: inv.get(k) for k in ("delta", "ci_low", "ci_high", "n", "n_items", "bound", "flagged")
    }
    brief["labels"] = real.get("labels")
    return brief


def _print_real(real: dict[str, Any]) -> None:
    if not real:
        return
    labels = real.get("labels") or {}
    typer.echo(
        f"real answers: {real['n']} held-out generated answers ({real.get('n_items')} items), "
        f"judge shown the {real.get('question')} question; labellers' kappa (misaligned) "
        f"{_num(labels.get('kappa_misaligned'))} on {labels.get('n', 0)} double-labelled"
        + (" (built-in set: language-model labellers)" if real.get("builtin") else "")
    )
    cells = [
        ("all", real),
        *(real.get("by_lang") or {}).items(),
        *(real.get("by_lang_guise") or {}).items(),
    ]
    for name, part in cells:
        ci = (
            f" [{_num(part['auroc_ci_low'])}, {_num(part.get('auroc_ci_high'))}]"
            if part.get("auroc_ci_low") is not None
            else ""
        )
        typer.echo(
            f"  {name:<14} n={part['n']:<4} AUROC {_num(part['auroc'])}{ci}  "
            f"accuracy {_num(part['accuracy'])}  kappa {_num(part.get('kappa'))}  "
            f"coherence AUROC {_num(part.get('coherence_auroc'))}  "
            f"(misaligned {part.get('n_misaligned')}, incoherent {part.get('n_incoherent')})"
        )
    for label, calls in ((real.get("confusion") or {}).get("by_label") or {}).items():
        said = ", ".join(f"{k} {v}" for k, v in sorted(calls.items()))
        typer.echo(f"  labelled {label:<11} judged: {said}")
    inv = real.get("question_guise_invariance") or {}
    typer.echo(
        f"  question-guise invariance (same answer, vernacular - standard question): "
        f"{_num(inv.get('delta'), 1)} [{_num(inv.get('ci_low'), 1)}, "
        f"{_num(inv.get('ci_high'), 1)}]"
    )
    for option, langs in (real.get("by_question_option") or {}).items():
        said = ", ".join(f"{lang} AUROC {_num(v.get('auroc'))}" for lang, v in langs.items())
        typer.echo(f"  judge shown the {option} question: {said}")


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
