import errno
import os
from pathlib import Path

import pytest

from guiselab.errors import GuiselabError, StorageError
from guiselab.store import Generation, RunLock, RunStore, content_key, write_atomic


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


def test_a_full_disk_keeps_every_finished_row_and_the_store_resumes(tmp_path: Path) -> None:
    with RunStore.in_dir(tmp_path) as store:
        store.add_generations([_gen(f"k{i}") for i in range(5)])
        store.add_generations([_gen("k5")])  # a page or two of WAL: a real SQLITE_FULL below
        pages = store._db.execute("PRAGMA page_count").fetchone()[0]
        store._db.execute(f"PRAGMA max_page_count = {pages}")
        big = [_gen(f"big{i}", "x" * 20_000) for i in range(20)]
        with pytest.raises(StorageError, match=r"cannot write .*full.*run the same command"):
            store.add_generations(big)
        with pytest.raises(StorageError):
            store.set_failures("generate", {f"k{i}": "x" * 5000 for i in range(200)})
        assert store.count("generations") == 6  # the failed batch left nothing behind
        assert store.failures() == []
    with RunStore.in_dir(tmp_path) as again:  # space freed: the same batch goes in whole
        assert again._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert again.add_generations(big) == 20 and again.count("generations") == 26


def test_an_atomic_write_that_fails_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "results.json"
    write_atomic(target, "old")

    def full(*args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(StorageError, match=r"results\.json: cannot write \(No space left"):
        write_atomic(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no temporary left


def test_a_read_only_store_reads_without_changing_it(tmp_path: Path) -> None:
    with RunStore.in_dir(tmp_path) as store:
        store.add_generations([_gen("k1")])
        store.set_failures("judge", {"j1": "HTTP 500 after 6 attempts"}, {"j1": "alignment of x"})
    before = (tmp_path / "guiselab.sqlite").read_bytes()
    with RunStore.in_dir(tmp_path, read_only=True) as reader:
        assert reader.count("generations") == 1
        assert reader.failures() == [("judge", "j1", "alignment of x", "HTTP 500 after 6 attempts")]
        with pytest.raises(StorageError, match="readonly database"):
            reader.add_generations([_gen("k2")])
    assert (tmp_path / "guiselab.sqlite").read_bytes() == before


def test_failures_are_replaced_per_stage(tmp_path: Path) -> None:
    with RunStore.in_dir(tmp_path) as store:
        store.set_failures("generate", {"a": "HTTP 500", "b": "ReadTimeout"})
        store.set_failures("judge", {"c": "malformed response body"})
        store.set_failures("generate", {"b": "ReadTimeout"})  # a succeeded on the next pass
        assert store.failures() == [
            ("generate", "b", "b", "ReadTimeout"),  # nothing said what b is: its key stands
            ("judge", "c", "c", "malformed response body"),
        ]


def test_a_store_from_before_failures_were_recorded_lists_none(tmp_path: Path) -> None:
    with RunStore.in_dir(tmp_path) as store:
        store.add_generations([_gen("k1")])
        store._db.execute("DROP TABLE failures")
    with RunStore.in_dir(tmp_path, read_only=True) as reader:
        assert reader.failures() == [] and reader.count("generations") == 1


def test_a_file_that_is_not_a_store_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "guiselab.sqlite").write_bytes(b"not a database at all" * 100)
    with pytest.raises(GuiselabError, match="not a guiselab run store"):
        RunStore.in_dir(tmp_path)
