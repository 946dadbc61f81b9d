"""Model references: the strings a config uses to name a model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from guiselab.errors import ModelRefError

__all__ = ["JUDGE_SCHEMES", "MODEL_KINDS", "ModelRef", "parse_ref"]

JUDGE_SCHEMES = ("classifier", "openai")
"""Judge reference schemes besides a local model's reference: the config accepts them, and
``guiselab.judge.JUDGES`` builds each (a test checks that the two agree)."""

RefKind = Literal["embedded", "hf", "gguf", "openai"]
MODEL_KINDS: tuple[RefKind, ...] = ("embedded", "hf", "gguf", "openai")


@dataclass(frozen=True)
class ModelRef:
    """A parsed reference such as ``hf:/models/qwen@adapter=/runs/a/organism``."""

    kind: RefKind
    target: str
    adapter: str | None = None

    def __str__(self) -> str:
        text = f"{self.kind}:{self.target}"
        return f"{text}@adapter={self.adapter}" if self.adapter else text


def parse_ref(text: str, *, key: str = "model") -> ModelRef:
    """Parse ``kind:target[@adapter=path]``; a bad reference names the config key in the error."""
    kind, sep, rest = text.partition(":")
    if not sep or kind not in MODEL_KINDS or not rest:
        raise ModelRefError(
            f"'{text}' is not a model reference; write one of "
            + ", ".join(f"{k}:<...>" for k in MODEL_KINDS),
            where=key,
        )
    target, _, adapter_part = rest.partition("@adapter=")
    if "@adapter=" in rest and not adapter_part:
        raise ModelRefError(f"'{text}' names an empty adapter path", where=key)
    return ModelRef(kind=kind, target=target, adapter=adapter_part or None)
