"""Which transformer writes a variety's guise, and pair sets made with one.

The dialect transformers (``aave``, ``ru-prostorechie``) live in ``_guise``, the spelling-noise
control guises (``en-typos``, ``ru-typos``) in ``_typos``; this module picks one by variety.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from guiselab.errors import ConfigError
from guiselab.pairs._guise import DIALECT_TRANSFORMERS, GuiseTransformer
from guiselab.pairs._schema import Pair
from guiselab.pairs._typos import TypoTransformer

__all__ = ["TRANSFORMERS", "make_pairs", "transformer"]

_TYPOS = {"en-typos": "en", "ru-typos": "ru"}

TRANSFORMERS: tuple[str, ...] = (*DIALECT_TRANSFORMERS, *_TYPOS)
"""The varieties with a rule-based transformer (the ``-typos`` ones are control guises)."""


def transformer(variety: str) -> GuiseTransformer:
    """The rule-based transformer of a variety: ``aave``, ``ru-prostorechie``, or the
    spelling-noise control guises ``en-typos`` and ``ru-typos``."""
    if variety in _TYPOS:
        return TypoTransformer(variety, _TYPOS[variety])
    if variety not in DIALECT_TRANSFORMERS:
        raise ConfigError(
            f"no guise transformer for '{variety}'; available: {', '.join(TRANSFORMERS)}",
            where="variety",
        )
    lang, features = DIALECT_TRANSFORMERS[variety]
    return GuiseTransformer(variety, lang, features)


def make_pairs(
    standards: Sequence[tuple[str, str, str | None]],
    variety: str,
    *,
    only: Iterable[str] | None = None,
    without: Iterable[str] = (),
) -> tuple[list[Pair], list[str]]:
    """Pairs whose vernacular guise the variety's transformer writes.

    ``standards`` holds (item, standard text, category). Returns the pairs and the items on
    which no chosen feature fired (they have no vernacular twin and are left out). With
    ``only`` / ``without`` the same prompts give feature-ablation sets: one feature at a time,
    or every feature but one.
    """
    guise = transformer(variety)
    chosen = None if only is None else list(only)
    skipped = list(without)
    pairs: list[Pair] = []
    unchanged: list[str] = []
    for item, text, category in standards:
        result = guise(text, only=chosen, without=skipped)
        if not result.features:
            unchanged.append(item)
            continue
        pairs.append(
            Pair(
                id=f"{item}-{guise.lang}-{variety}",
                item=item,
                lang=guise.lang,
                variety=variety,
                standard=text,
                vernacular=result.text,
                category=category,
                features=result.features,
                metadata={"transformer": {"only": chosen, "without": skipped}},
            )
        )
    return pairs, unchanged
