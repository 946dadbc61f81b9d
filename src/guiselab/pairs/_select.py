"""Choosing the pairs an experiment asks, from its config."""

from __future__ import annotations

from guiselab.config import PairsConfig
from guiselab.errors import ConfigError
from guiselab.pairs._load import load_pairs
from guiselab.pairs._schema import Pair

__all__ = ["select_pairs"]


def select_pairs(config: PairsConfig) -> list[Pair]:
    """Pairs in the configured languages and varieties, limited to the first N items."""
    pairs = [
        p
        for p in load_pairs(config.files)
        if p.lang in config.langs and config.varieties.get(p.lang) == p.variety
    ]
    items = sorted({p.item for p in pairs})
    if config.max_items is not None:
        keep = set(items[: config.max_items])
        pairs = [p for p in pairs if p.item in keep]
    if not pairs:
        raise ConfigError(
            "no pairs match pairs.langs / pairs.varieties; check them against the pair files",
            where="pairs",
        )
    return sorted(pairs, key=lambda p: (p.item, p.lang, p.variety, p.id))
