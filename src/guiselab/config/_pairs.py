"""The ``[pairs]`` section: which contrastive pairs the experiment asks."""

from __future__ import annotations

from pydantic import Field

from guiselab.config._section import Section

__all__ = ["PairsConfig"]


class PairsConfig(Section):
    """Which contrastive pairs the experiment asks."""

    files: list[str] = Field(default_factory=list)
    """Pair files (JSONL, CSV or YAML) to use; empty means the built-in corpus."""
    langs: list[str] = Field(default_factory=lambda: ["en", "ru"])
    """Languages to evaluate (ISO 639-1); pairs in other languages are left out."""
    varieties: dict[str, str] = Field(
        default_factory=lambda: {"en": "aave", "ru": "ru-prostorechie"}
    )
    """The vernacular variety used per language, e.g. ``{en = "aave"}``; the built-in corpus
    also has ``ru = "ru-surzhyk"`` (one variety per language per run)."""
    max_items: int | None = Field(default=None, ge=1)
    """Use only the first N items (sorted by id); None uses every item."""
    check_meaning: bool = True
    """Before a run, check each pair's guises for meaning equivalence with multilingual
    embeddings (as ``guiselab pairs validate`` does); failing pairs are warned about and
    recorded in ``manifest.json``, not dropped."""
