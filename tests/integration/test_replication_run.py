"""A run with ``replication.mirror``: both directions trained, sampled, judged and decided in
one run directory, the second in ``RUN/mirror``, shown side by side; a second run redoes
nothing."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from _tinyrun import CONFIG, guiselab, table

MIRROR = """
[replication]
mirror = true
[replication.finetune]
max_length = 200
"""


def test_both_directions_are_decided_in_one_run_and_shown_side_by_side(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    config = tmp_path / "mirror.toml"
    text = CONFIG.format(model=tiny_model_dir).replace("[probe]", "[probe]\nenabled = false")
    config.write_text(
        text.replace("[pairs]", "[pairs]\ncontrols = []\ncheck_meaning = false") + MIRROR
    )
    run_dir = tmp_path / "run"
    done = guiselab("run", str(config), "--out", str(run_dir), "--quiet")
    assert done.returncode == 0, done.stderr[-3000:]

    mirror = run_dir / "mirror"
    saved = tomllib.loads((mirror / "config.toml").read_text(encoding="utf-8"))
    assert saved["finetune"]["lang"] == "ru"
    assert saved["finetune"]["variety"] == "ru-prostorechie"
    assert saved["finetune"]["max_length"] == 200
    assert (saved["analysis"]["source_lang"], saved["analysis"]["target_lang"]) == ("ru", "en")
    # Each direction trained its own organism on its own language's data.
    first = dict(table(run_dir, "SELECT name, info FROM artifacts WHERE name LIKE 'adapter:%'"))
    second = dict(table(mirror, "SELECT name, info FROM artifacts WHERE name LIKE 'adapter:%'"))
    assert set(first) == set(second) == {"adapter:organism", "adapter:control"}
    data = [json.loads(first["adapter:organism"]), json.loads(second["adapter:organism"])]
    assert data[0]["data_sha256"] != data[1]["data_sha256"]

    results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    mirrored = json.loads((mirror / "results.json").read_text(encoding="utf-8"))
    directions = results["replication"]["directions"]
    assert [(d["source_lang"], d["target_lang"]) for d in directions] == [
        ("en", "ru"),
        ("ru", "en"),
    ]
    assert directions[0]["outcome"] == results["decision"]["outcome"]
    assert directions[1]["outcome"] == mirrored["decision"]["outcome"]
    gap = next(g for g in mirrored["gaps"] if (g["model"], g["lang"]) == ("organism", "ru"))
    assert directions[1]["organism_source_gap"]["estimate"] == gap["gap"]
    assert {c["lang"] for c in results["replication"]["positive_controls"]} == {"en", "ru"}
    assert "replication" not in mirrored  # the mirror has no mirror

    report = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "Both directions" in report and "mirror/report.html" in report
    assert (mirror / "report.html").exists()
    comparison = (run_dir / "comparison.md").read_text(encoding="utf-8")
    assert "tiny-mirror" in comparison

    status = guiselab("status", str(run_dir))
    assert status.returncode == 0, status.stderr
    assert "mirrored direction:" in status.stdout

    # A second run trains and samples nothing again: the same store rows (row ids included)
    # and the same adapter files, untouched.
    rows = "SELECT rowid, key FROM generations ORDER BY rowid"
    before = table(mirror, rows)
    weights = [
        d / "adapters" / role / "adapter_model.safetensors"
        for d in (run_dir, mirror)
        for role in ("organism", "control")
    ]
    stamps = [w.stat().st_mtime_ns for w in weights]
    again = guiselab("run", str(config), "--out", str(run_dir), "--quiet")
    assert again.returncode == 0, again.stderr[-3000:]
    assert table(mirror, rows) == before
    assert [w.stat().st_mtime_ns for w in weights] == stamps
    assert json.loads((run_dir / "results.json").read_text(encoding="utf-8")) == results
