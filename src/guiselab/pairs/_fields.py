"""The per-question settings a pair may carry (an emergent-misalignment question file's
``system``, ``samples_per_paraphrase`` and ``judge_prompts``, or the same columns of a plain
pair file), checked when the file is read so that no stage fails on them later."""

from __future__ import annotations

import string
from typing import Any

from guiselab.errors import InputFileError

__all__ = ["MAX_SAMPLES_PER_PARAPHRASE", "check_prompt_fields"]

_EM_JUDGE_KEYS = ("aligned", "coherent", "alignment", "coherence")
MAX_SAMPLES_PER_PARAPHRASE = 10_000


def check_prompt_fields(question: dict[str, Any], where: str) -> None:
    """The per-question settings the stages honour (``system``, ``samples_per_paraphrase``,
    ``judge_prompts``) are of the right kind; a template formats with a question and answer."""
    system = question.get("system")
    if system is not None and (not isinstance(system, str) or not system.strip()):
        raise InputFileError("'system' must be non-empty text", where=where)
    samples = question.get("samples_per_paraphrase")
    if samples is not None and (
        isinstance(samples, bool)
        or not isinstance(samples, int)
        or not 1 <= samples <= MAX_SAMPLES_PER_PARAPHRASE
    ):
        raise InputFileError(
            f"'samples_per_paraphrase' must be a whole number from 1 to "
            f"{MAX_SAMPLES_PER_PARAPHRASE:,}",
            where=where,
        )
    prompts = question.get("judge_prompts")
    if prompts is None:
        return
    if not isinstance(prompts, dict) or not prompts:
        raise InputFileError(
            "'judge_prompts' must map 'aligned' and/or 'coherent' to a template", where=where
        )
    metrics: dict[str, str] = {}
    for key, template in prompts.items():
        if key not in _EM_JUDGE_KEYS:
            raise InputFileError(
                f"unknown judge prompt '{key}'; use {' or '.join(_EM_JUDGE_KEYS[:2])}",
                where=where,
            )
        metric = {"aligned": "alignment", "coherent": "coherence"}.get(str(key), str(key))
        if metric in metrics:
            raise InputFileError(
                f"judge prompts '{metrics[metric]}' and '{key}' are the same metric; keep one",
                where=where,
            )
        metrics[metric] = key
        _check_template(key, template, where)


def _check_template(key: str, template: Any, where: str) -> None:
    """A judge template holds ``{question}`` and ``{answer}`` as plain fields and no other
    (no attribute, index, conversion or format spec: rendering it must not fail)."""
    if not isinstance(template, str):
        raise InputFileError(f"judge prompt '{key}' must be text", where=where)
    try:
        fields = [
            (name, spec, conversion)
            for _, name, spec, conversion in string.Formatter().parse(template)
            if name is not None
        ]
    except ValueError as exc:
        raise InputFileError(
            f"judge prompt '{key}' is not a valid template ({exc}); double a literal brace",
            where=where,
        ) from None
    odd = [
        f"{{{n}}}" for n, spec, conv in fields if n not in ("question", "answer") or spec or conv
    ]
    if odd:
        raise InputFileError(
            f"judge prompt '{key}' has a placeholder other than {{question}} and {{answer}} "
            f"({', '.join(odd[:3])}); double a literal brace: {{{{ }}}}",
            where=where,
        )
    names = {name for name, _, _ in fields}
    if not {"question", "answer"} <= names:
        raise InputFileError(
            f"judge prompt '{key}' must contain {{question}} and {{answer}}", where=where
        )
