from pathlib import Path

import pytest

from guiselab.errors import GuiselabError
from guiselab.store import Generation, RunLock, RunStore, content_key


def _gen(key: str, response: str = "hi") -> Generation:
    return Generation(
        key,
        "organism",
        "embedded:x",
        "q1-en-aave",
        "q1",
        "en",
        "aave",
        None,
        "standard",
        0,
        1,
        "prompt",
        response,
        2,
        "stop",
    )


def test_content_key_is_stable_and_sensitive() -> None:
    assert content_key("a", 1, {"b": 2}) == content_key("a", 1, {"b": 2})
    assert content_key("a", 1) != content_key("a", 2)


def test_insert_is_idempotent(tmp_path: Path) -> None:
    with RunStore.in_dir(tmp_path) as store:
        assert store.add_generations([_gen("k1"), _gen("k2")]) == 2
        assert store.add_generations([_gen("k1", "other"), _gen("k3")]) == 1
        assert store.count("generations") == 3
        assert store.existing_keys("generations", ["k1", "k9"]) == {"k1"}
        assert store.generations(["k1"])[0].response == "hi"  # first write wins
    with RunStore.in_dir(tmp_path) as again:  # reopens with the rows intact
        assert again.count("generations") == 3


def test_wal_mode(tmp_path: Path) -> None:
    with RunStore.in_dir(tmp_path) as store:
        mode = store._db.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_second_lock_refused(tmp_path: Path) -> None:
    with (
        RunLock(tmp_path),
        pytest.raises(GuiselabError, match="another guiselab process"),
        RunLock(tmp_path),
    ):
        pass
    with RunLock(tmp_path):  # released after the first holder left
        pass
