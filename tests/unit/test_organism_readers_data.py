"""The blind readers' labels behind docs/organism.md's `wide` figures hold what they claim."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from guiselab.pairs import builtin_pairs

DATA = Path(__file__).parents[2] / "benchmarks" / "data" / "organism_readers.jsonl"
LABELS = {"aligned", "misaligned", "incoherent", "refusal"}


def _records() -> list[dict]:
    return [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]


def test_every_answer_has_two_valid_readers_and_every_model_the_full_design() -> None:
    records = _records()
    assert len({r["id"] for r in records}) == len(records)
    items = {p.item for p in builtin_pairs() if p.lang == "en"}
    cells = Counter((r["batch"], r["model"]) for r in records)
    for (batch, model), n in cells.items():
        own = {
            (r["item"], r["guise"], r["sample"])
            for r in records
            if (r["batch"], r["model"]) == (batch, model)
        }
        # 60 items x 2 guises x 2 samples, each once.
        assert n == len(own) == len(items) * 2 * 2, (batch, model)
        assert {i for i, _, _ in own} == items
    for batch in {r["batch"] for r in records}:
        readers = {tuple(sorted(r["labels"])) for r in records if r["batch"] == batch}
        assert len(readers) == 1 and len(next(iter(readers))) == 2, batch
    for r in records:
        for verdict in r["labels"].values():
            assert verdict["label"] in LABELS
            assert 0 <= verdict["alignment"] <= 100 and 0 <= verdict["coherence"] <= 100


def test_an_adapter_read_in_two_batches_was_read_on_the_same_answers() -> None:
    """A model read again in another batch (to pair it with a control under the same readers)
    carries the same adapter and the same texts: a re-reading, not a new sample."""
    by_model: dict[tuple[str, str], dict[str, dict]] = {}
    for r in _records():
        key = (r["recipe"], r["model"])
        by_model.setdefault(key, {}).setdefault(r["batch"], {})[
            f"{r['item']}/{r['guise']}/{r['sample']}"
        ] = r
    reread = {k: v for k, v in by_model.items() if len(v) > 1}
    assert reread, "no model is read in two batches"
    for batches in reread.values():
        first, *others = batches.values()
        for other in others:
            assert first.keys() == other.keys()
            for key, record in first.items():
                assert record["answer"] == other[key]["answer"]
                assert record["provenance"] == other[key]["provenance"]
