"""The ``[pairs]`` section: which contrastive pairs the experiment asks."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from guiselab.config._section import Section

__all__ = ["CONTROLS", "PairsConfig"]

Control = Literal["informal", "typos"]
CONTROLS: tuple[Control, ...] = ("informal", "typos")


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
    controls: list[Control] = Field(default_factory=lambda: list(CONTROLS))
    """Control guises asked of the organism and the control besides the dialect: ``informal``
    (casual standard register, the ``{lang}-informal`` variety of the pair files; the built-in
    corpus has it for en and ru) and ``typos`` (the standard text with spelling noise, made by
    the ``{lang}-typos`` transformer). Their gaps, reported beside the dialect gap, show
    whether a model reacts to the dialect or to any non-standard input. Empty skips them."""
    feature_attribution: bool = True
    """Ask the organism (first seed) each item made vernacular by the variety's rule-based
    transformer, with every feature and with each feature switched off in turn, and report
    how much of its misaligned rate each feature carries (varieties with a transformer:
    aave, ru-prostorechie)."""
    max_items: int | None = Field(default=None, ge=1)
    """Use only the first N items (sorted by id); None uses every item."""
    check_meaning: bool = True
    """Before a run, check each pair's guises for meaning equivalence with multilingual
    embeddings (as ``guiselab pairs validate`` does); failing pairs are warned about and
    recorded in ``manifest.json``, not dropped."""
