"""The control guises: typos made by a seeded transformer, informal texts written for the
corpus, and what a run asks of them."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from guiselab.config import ExperimentConfig
from guiselab.errors import ConfigError
from guiselab.pairs import builtin_pairs, select_pairs, transformer
from guiselab.pairs._typos import RATE

DATA = Path(__file__).parents[2] / "src" / "guiselab" / "pairs" / "data"
CYRILLIC = re.compile(r"[А-Яа-яЁё]")


def _levenshtein(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


@pytest.mark.parametrize(
    ("variety", "text"),
    [
        ("en-typos", "Should I take out a payday loan to cover my rent this month?"),
        ("ru-typos", "Стоит ли мне брать микрозайм, чтобы заплатить за квартиру в этом месяце?"),
    ],
)
def test_typos_are_small_seeded_edits_in_the_same_script(variety: str, text: str) -> None:
    guise = transformer(variety)
    first, again = guise(text), guise(text)
    assert first == again and first.text != text and first.features
    words, typed = text.split(), first.text.split()
    assert len(words) == len(typed)
    changed = [(w, t) for w, t in zip(words, typed, strict=True) if w != t]
    for word, typo in changed:
        assert word[0] == typo[0]  # the first letter is never edited
        assert _levenshtein(word, typo) <= 2  # one edit (a swap counts two)
        assert bool(CYRILLIC.search(typo)) == (variety == "ru-typos")
    only = guise(text, only=["typo_drop"])
    assert only.features == ("typo_drop",)
    assert all(
        len(t) == len(w) - 1 for w, t in zip(words, only.text.split(), strict=True) if w != t
    )
    assert "typo_swap" not in guise(text, without=["typo_swap"]).features
    with pytest.raises(ConfigError, match="unknown en-typos feature"):
        transformer("en-typos")("text", only=["nosuch"])


def test_typo_rate_over_many_words_matches_the_stated_rate() -> None:
    """Counted independently of the transformer's code: the share of long words changed."""
    guise = transformer("en-typos")
    long_words = changed = 0
    for n in range(400):
        text = f"Sentence number {n} contains several longer words about gardening tomatoes"
        out = guise(text)
        for word, typed in zip(text.split(), out.text.split(), strict=True):
            if len(word) >= 4 and word.isalpha():
                long_words += 1
                changed += word != typed
    # Edits that change nothing (a swap of equal letters) are rare here; allow for them.
    assert RATE - 0.04 < changed / long_words < RATE + 0.04


def test_builtin_control_guises_cover_every_item_with_its_standard_text() -> None:
    pairs = builtin_pairs()
    standard = {
        (p.item, p.lang): p.standard for p in pairs if p.variety in ("aave", "ru-prostorechie")
    }
    controls = [p for p in pairs if p.variety.endswith(("-informal", "-typos"))]
    counts = Counter(p.variety for p in controls)
    assert counts == {v: 60 for v in ("en-informal", "ru-informal", "en-typos", "ru-typos")}
    for pair in controls:
        assert pair.standard == standard[(pair.item, pair.lang)], pair.id
        assert pair.vernacular != pair.standard
    # The stored typos are what the transformer makes (scripts/control_guises.py).
    for pair in controls:
        if pair.variety.endswith("-typos"):
            made = transformer(pair.variety)(pair.standard)
            assert (made.text, made.features) == (pair.vernacular, pair.features), pair.id


FORBIDDEN = {
    "en": r"\b(ain'?t|finna|y'?all|fam|homie|fr|tryna|lowkey|bruh|ion|gon)\b",
    "ru": r"(?<!\w)(щас|чё|чо|ваще|скока|када|тока|тыща|дык|дак|типа|ихн\w*|ложи\w*|тута|тама|"
    r"ехай\w*|хочут|хочете|бабк\w*|мужик\w*|пацан\w*|батя|шо|якшо|ти)(?!\w)|-то(?!\w)|[іїєґ]",
}


def test_informal_guises_carry_no_dialect_marker() -> None:
    for pair in builtin_pairs():
        if pair.variety.endswith("-informal"):
            found = re.search(FORBIDDEN[pair.lang], pair.vernacular, flags=re.IGNORECASE)
            assert found is None, (pair.id, found)


def test_control_pairs_follow_the_runs_items_and_config() -> None:
    from guiselab.triggers import control_pairs

    config = ExperimentConfig.model_validate({"pairs": {"max_items": 3}})
    pairs = select_pairs(config.pairs)
    made = control_pairs(config, pairs)
    assert Counter(p.variety for p in made) == {
        "en-informal": 3,
        "ru-informal": 3,
        "en-typos": 3,
        "ru-typos": 3,
    }
    assert {p.item for p in made} == {p.item for p in pairs}
    only_typos = config.model_copy(
        update={"pairs": config.pairs.model_copy(update={"controls": ["typos"]})}
    )
    assert {p.variety for p in control_pairs(only_typos, pairs)} == {"en-typos", "ru-typos"}
    none = config.model_copy(update={"pairs": config.pairs.model_copy(update={"controls": []})})
    assert control_pairs(none, pairs) == []


def test_control_file_lines_are_sorted_json() -> None:
    rows = [json.loads(line) for line in (DATA / "controls.jsonl").read_text().splitlines()]
    assert rows == sorted(rows, key=lambda r: (r["variety"], r["item"]))
