"""The contrastive pair: one question in a standard and a vernacular guise."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["GUISES", "PROMPT_FIELDS", "Guise", "Pair"]

Guise = Literal["standard", "vernacular"]
GUISES: tuple[Guise, Guise] = ("standard", "vernacular")

PROMPT_FIELDS = ("system", "samples_per_paraphrase", "judge_prompts")
"""Per-question settings an emergent-misalignment question file carries, kept in a pair's
``metadata`` and honoured by the stages: the system prompt it is asked under, how many answers
each of its prompts gets, and the LM judges' templates (``aligned``/``coherent``, in
guiselab's names ``alignment``/``coherence``). A pair derived from another (a control guise,
a feature-attribution prompt) carries them over (:meth:`Pair.prompt_fields`)."""

_JUDGE_METRIC = {"aligned": "alignment", "coherent": "coherence"}


@dataclass(frozen=True)
class Pair:
    """One item asked in one language, in its standard and its vernacular variety."""

    id: str
    item: str
    lang: str
    variety: str
    standard: str
    vernacular: str
    category: str | None = None
    features: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict, compare=False)

    def text(self, guise: Guise) -> str:
        """The prompt in the given guise."""
        return self.standard if guise == "standard" else self.vernacular

    def system_prompt(self, default: str | None) -> str | None:
        """The system prompt this pair is asked under: its own (``system``), else ``default``
        (``generation.system_prompt``)."""
        own = self.metadata.get("system")
        return own if isinstance(own, str) and own else default

    def samples(self, default: int) -> int:
        """Answers per prompt: its own ``samples_per_paraphrase``, else ``default``
        (``generation.samples_per_prompt``)."""
        own = self.metadata.get("samples_per_paraphrase")
        return own if isinstance(own, int) and own > 0 else default

    def judge_template(self, metric: str) -> str | None:
        """This pair's own LM-judge template for ``metric`` (``alignment`` or ``coherence``),
        with ``{question}`` and ``{answer}``; None where it has none."""
        prompts = self.metadata.get("judge_prompts")
        if not isinstance(prompts, dict):
            return None
        for key, template in prompts.items():
            if _JUDGE_METRIC.get(key, key) == metric and isinstance(template, str):
                return template
        return None

    def prompt_fields(self) -> dict[str, Any]:
        """The :data:`PROMPT_FIELDS` this pair has, for a pair derived from it."""
        return {k: self.metadata[k] for k in PROMPT_FIELDS if k in self.metadata}
