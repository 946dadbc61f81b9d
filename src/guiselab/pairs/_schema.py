"""The contrastive pair: one question in a standard and a vernacular guise."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["GUISES", "Guise", "Pair"]

Guise = Literal["standard", "vernacular"]
GUISES: tuple[Guise, Guise] = ("standard", "vernacular")


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
