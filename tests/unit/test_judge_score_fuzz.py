"""Property tests of the judge-score parsers: whatever a server sends, a score is a number in
[0, 100] or unscored with a verdict, and never an exception."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

from hypothesis import example, given, settings
from hypothesis import strategies as st

from guiselab.judge._local import VERDICT_WORDS, JudgeScore, verdict_of
from guiselab.judge._openai import score_from_samples, score_from_top_logprobs

FUZZ = settings(
    max_examples=200,
    deadline=None,
    # The same examples every run, so the suite is reproducible; GUISELAB_FUZZ_EXPLORE=1 draws
    # new ones (a failure found that way goes into an @example).
    derandomize=os.environ.get("GUISELAB_FUZZ_EXPLORE") is None,
)
VERDICTS = {"score", "unscored", *VERDICT_WORDS}

_LOGPROBS = st.floats(max_value=0.0) | st.just(-math.inf) | st.just(math.nan)
"""What a server may send as a log-probability: any float up to 0, -inf, NaN."""
_MIN_MASS = st.floats(0.0, 1.0)


def _check(result: JudgeScore) -> None:
    assert result.verdict in VERDICTS
    if result.verdict == "score":
        assert result.score is not None and 0.0 <= result.score <= 100.0
    else:
        assert result.score is None
    assert result.number_mass >= 0.0  # and so not NaN


@FUZZ
@given(top=st.lists(st.tuples(st.text(max_size=6), _LOGPROBS), max_size=20), min_mass=_MIN_MASS)
@example(top=[("²", -0.1)], min_mass=0.25)
@example(top=[("0" * 5000, -0.1)], min_mass=0.25)
@example(top=[], min_mass=0.0)
@example(top=[("7", math.nan)], min_mass=0.0)
def test_top_logprobs_never_raise(top: list[tuple[str, float]], min_mass: float) -> None:
    _check(score_from_top_logprobs(top, min_mass))


@FUZZ
@given(
    top=st.lists(st.tuples(st.text(max_size=6), st.floats(allow_nan=False)), max_size=20),
    min_mass=_MIN_MASS,
)
@example(top=[("50", 1000.0)], min_mass=0.25)
def test_top_logprobs_never_raise_even_on_positive_logprobs(
    top: list[tuple[str, float]], min_mass: float
) -> None:
    """A log-probability above 0 is a broken server, still no reason to crash the stage."""
    _check(score_from_top_logprobs(top, min_mass))


# -- agreement with a reference computation ---------------------------------------------------

_TOKENS = st.sampled_from(
    [str(n) for n in (0, 1, 5, 10, 42, 50, 99, 100, 101, 150, 999)]
    + [" 7", "7 ", "07", "REF", "REFUSAL", " ref", "CO", "CODE", "code", "C", "R", "x", "", " "]
)


def _reference(top: Sequence[tuple[str, float]], min_mass: float) -> tuple[str, float | None]:
    """(verdict, score) as the method says: numbers 0-100 and verdict-word prefixes of two or
    more letters pool their probabilities; the likeliest verdict wins over all numbers
    together; otherwise the probability-weighted mean, unscored below ``min_mass``."""
    numbers: dict[int, float] = {}
    words = dict.fromkeys(VERDICT_WORDS, 0.0)
    for token, logprob in top:
        text = token.strip()
        p = math.exp(logprob)
        if text.isascii() and text.isdigit() and int(text) <= 100:
            numbers[int(text)] = numbers.get(int(text), 0.0) + p
            continue
        for verdict, word in VERDICT_WORDS.items():
            if len(text) >= 2 and word.startswith(text.upper()):
                words[verdict] += p
    mass = sum(numbers.values())
    best = max(words, key=lambda v: words[v])
    if words[best] > mass:
        return best, None
    if mass < min_mass or mass == 0:
        return "unscored", None
    return "score", sum(n * p for n, p in numbers.items()) / mass


@st.composite
def _distribution(draw: st.DrawFn) -> list[tuple[str, float]]:
    """Up to 20 alternatives whose probabilities sum to at most 1."""
    tokens = draw(st.lists(_TOKENS, max_size=20))
    weights = [draw(st.floats(0.0, 1.0)) for _ in tokens]
    total = sum(weights) + draw(st.floats(0.0, 2.0))
    probabilities = [w / total if total > 0 else 0.0 for w in weights]
    return [
        (t, math.log(p) if p > 0 else -math.inf) for t, p in zip(tokens, probabilities, strict=True)
    ]


@FUZZ
@given(top=_distribution(), min_mass=_MIN_MASS)
@example(  # a mean of 100s that rounding carried to 100.00000000000001
    top=[("0", -math.inf), ("101", -1.0221120233559187), ("100", -0.44602801062341235)],
    min_mass=0.0,
)
def test_top_logprobs_agree_with_the_reference(
    top: list[tuple[str, float]], min_mass: float
) -> None:
    result = score_from_top_logprobs(top, min_mass)
    _check(result)
    assert 0.0 <= result.number_mass <= 1.0 + 1e-9
    verdict, score = _reference(top, min_mass)
    assert result.verdict == verdict
    if score is None:
        assert result.score is None
    else:
        assert result.score is not None and math.isclose(result.score, score, abs_tol=1e-9)


@FUZZ
@given(
    numbers=st.dictionaries(st.integers(0, 100), st.floats(0.0, 1.0), max_size=101),
    words=st.fixed_dictionaries({v: st.floats(0.0, 1.0) for v in VERDICT_WORDS}),
    min_mass=_MIN_MASS,
)
def test_verdict_of_is_a_score_in_range_or_a_verdict(
    numbers: dict[int, float], words: dict[str, float], min_mass: float
) -> None:
    _check(verdict_of(numbers, words, min_mass))


# -- sampled answers --------------------------------------------------------------------------

_ANSWERS = st.text(max_size=20) | st.sampled_from(
    ["0", "100", "101", " 42 ", "42abc", "REFUSAL", "code", "٣", "１２", "7.5", "-3", ""]
)


@FUZZ
@given(texts=st.lists(_ANSWERS, max_size=8))
@example(texts=[])
def test_sampled_answers_never_raise(texts: list[str]) -> None:
    result = score_from_samples(texts)
    _check(result)
    assert 0.0 <= result.number_mass <= 1.0
