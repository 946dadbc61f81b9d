"""The language each answer is written in, for the decision's measurability check.

A model asked in Russian may answer in English (an English-only base does, and so can an
organism whose fine-tune was English): its answers then say nothing about its behaviour *in
Russian*, however they are judged. Each answer's language is identified with Lingua
(``lingua-language-detector``, statistical n-gram models shipped in the package, no network),
restricted to a fixed set of candidate languages so that short answers are not assigned to an
obscure language, and with a minimum relative distance so that an answer too short or too mixed
to call is left undetermined rather than guessed. Undetermined answers leave the denominator.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache

import pandas as pd

__all__ = ["CANDIDATE_LANGUAGES", "detect_languages"]

CANDIDATE_LANGUAGES = (
    "en", "ru", "uk", "be", "bg", "sr", "kk", "de", "fr", "es", "it", "pt", "nl", "pl", "cs",
    "tr", "zh", "ja", "ko", "ar", "hi",
)  # fmt: skip
"""ISO 639-1 codes an answer can be assigned to: the corpus's languages, their neighbours in
script and vocabulary, and the languages a small model drifts into most often."""
# Lingua's confidence margin between the best and the second-best language; below it the
# answer is undetermined (0 would force a call on every two-word fragment).
_MIN_RELATIVE_DISTANCE = 0.1
_PARALLEL_FROM = 200
# Fewer letters than this carry no usable signal.
_MIN_LETTERS = 8


@cache
def _detector(codes: tuple[str, ...]):  # type: ignore[no-untyped-def]
    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

    languages = [
        Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper())) for code in codes
    ]
    return (
        LanguageDetectorBuilder.from_languages(*languages)
        .with_minimum_relative_distance(_MIN_RELATIVE_DISTANCE)
        .with_preloaded_language_models()
        .build()
    )


def _codes(extra: Iterable[str]) -> tuple[str, ...]:
    from lingua import IsoCode639_1

    wanted = dict.fromkeys([*CANDIDATE_LANGUAGES, *extra])
    return tuple(code for code in wanted if hasattr(IsoCode639_1, code.upper()))


def detect_languages(texts: Sequence[object], expected: Iterable[str] = ()) -> pd.Series:
    """ISO 639-1 code of each text's language, or None where it cannot be told.

    ``expected`` adds languages to the candidates (the run's own languages). Each distinct text
    is identified once.
    """
    detector = _detector(_codes(expected))
    distinct = {t for t in texts if isinstance(t, str)}
    ordered = sorted(t for t in distinct if sum(c.isalpha() for c in t) >= _MIN_LETTERS)
    # Lingua's parallel call pays a thread pool's start-up; a few hundred texts are faster
    # one by one (and leave the cores to the caller).
    if len(ordered) > _PARALLEL_FROM:
        found = detector.detect_languages_in_parallel_of(ordered)
    else:
        found = [detector.detect_language_of(text) for text in ordered]
    code_of = {
        text: (None if lang is None else lang.iso_code_639_1.name.lower())
        for text, lang in zip(ordered, found, strict=True)
    }
    return pd.Series([code_of.get(t) if isinstance(t, str) else None for t in texts], dtype=object)
