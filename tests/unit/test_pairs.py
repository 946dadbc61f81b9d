from pathlib import Path

import pytest

from guiselab.errors import InputFileError
from guiselab.pairs import builtin_pairs, load_pair_file

GOOD = (
    '{"item": "q1", "lang": "en", "variety": "aave", '
    '"standard": "He is tired.", "vernacular": "He tired."}'
)


def test_builtin_corpus_has_every_item_in_both_languages() -> None:
    pairs = builtin_pairs()
    by_variety: dict[tuple[str, str], set[str]] = {}
    for p in pairs:
        by_variety.setdefault((p.lang, p.variety), set()).add(p.item)
        assert p.features, p.id
    assert len(by_variety["en", "aave"]) >= 60
    assert by_variety["en", "aave"] == by_variety["ru", "ru-prostorechie"]
    assert by_variety["en", "aave"] == by_variety["ru", "ru-surzhyk"]
    # Both Russian guises of an item share one standard text (a translation of the English).
    standards: dict[str, set[str]] = {}
    for p in pairs:
        if p.lang == "ru":
            standards.setdefault(p.item, set()).add(p.standard)
    assert all(len(texts) == 1 for texts in standards.values())


def test_formats_load(tmp_path: Path) -> None:
    (tmp_path / "p.jsonl").write_text(GOOD + "\n")
    (tmp_path / "p.csv").write_text(
        "item,lang,variety,standard,vernacular,features\n"
        "q1,en,aave,He is tired.,He tired.,copula_deletion;x\n"
    )
    (tmp_path / "p.yaml").write_text(
        "- {item: q1, lang: en, variety: aave, standard: He is tired., vernacular: He tired.}\n"
    )
    for name in ("p.jsonl", "p.csv", "p.yaml"):
        (pair,) = load_pair_file(tmp_path / name)
        assert pair.id == "q1-en-aave" and pair.vernacular == "He tired."
    assert load_pair_file(tmp_path / "p.csv")[0].features == ("copula_deletion", "x")


@pytest.mark.parametrize(
    ("content", "message", "line"),
    [
        (GOOD + "\n" + GOOD + "\n", "duplicate id", 2),
        (GOOD.replace('"He tired."', '""'), "'vernacular' is missing or empty", 1),
        (GOOD.replace('"He tired."', '"He is tired."'), "identical", 1),
        (GOOD.replace('"en"', '"ru"'), "Cyrillic", 1),
        (GOOD.replace('"item": "q1", ', ""), "'item' is missing", 1),
        ("{not json\n", "not valid JSON", 1),
    ],
)
def test_bad_pairs_name_file_and_line(
    tmp_path: Path, content: str, message: str, line: int
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(InputFileError, match=message) as info:
        load_pair_file(path)
    assert str(info.value).startswith(f"{path}:{line}:")


def test_invalid_utf8_names_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(GOOD.encode() + b"\n\xff\xfe\n")
    with pytest.raises(InputFileError, match="not UTF-8") as info:
        load_pair_file(path)
    assert str(info.value).startswith(f"{path}:2:")
