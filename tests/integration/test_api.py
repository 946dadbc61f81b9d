"""The Python API the CLI stands on: a run from a notebook holds what `guiselab run` writes."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import guiselab
from _tinyrun import assert_same_run
from guiselab.errors import ConfigError


def test_run_from_python_equals_the_cli_run_and_is_read_back(
    tiny_config: Path, tiny_reference: Path, tmp_path: Path
) -> None:
    run = guiselab.run(tiny_config, out=tmp_path / "run")
    assert isinstance(run, guiselab.Run) and run.path == tmp_path / "run"
    assert_same_run(run.path, tiny_reference)  # the same stages, the same bytes
    results = json.loads((run.path / "results.json").read_text(encoding="utf-8"))
    assert run.results == results and run.decision == results["decision"]
    samples = run.samples
    assert isinstance(samples, pd.DataFrame)
    # 3 items x 2 languages x 2 guises x 2 samples x 3 models, each with its scores
    assert len(samples) == 72 and {"alignment", "coherence", "response"} <= set(samples)
    assert set(samples["model"]) == {"base", "control", "organism"}
    # Reopened from its directory, with the config it recorded.
    again = guiselab.open_run(run.path)
    assert again.config == run.config
    assert again.analyze() == results  # a re-analysis under the frozen plan changes nothing
    assert any(line.startswith("generate") and "72/72" in line for line in again.status())
    html = again.report()
    assert html == run.path / "report.html" and html.stat().st_size > 0


def test_stages_one_by_one_reach_the_whole_run(
    tiny_config: Path, tiny_reference: Path, tmp_path: Path
) -> None:
    run = guiselab.open_run(tmp_path / "run", tiny_config)
    done = run.finetune()
    assert set(done["adapters"]) == {"organism", "control"} and done["sanity"] is not None
    assert run.generate() == 72
    assert run.judge() > 0
    assert run.finetune()["adapters"]["organism"]["steps"] == done["adapters"]["organism"]["steps"]
    results = run.run()  # the rest (probe, analysis, report); nothing done twice
    assert results == run.results
    assert_same_run(run.path, tiny_reference)


def test_a_preset_name_a_config_object_and_bad_input(tmp_path: Path) -> None:
    smoke = guiselab.open_run(tmp_path / "a", "smoke").config
    assert smoke.name == "smoke" and smoke == guiselab.load_config(None, "smoke")
    assert guiselab.open_run(tmp_path / "b", smoke).config is smoke
    with pytest.raises(ConfigError):
        guiselab.open_run(tmp_path / "not-a-run")  # no config.toml recorded there
    with pytest.raises(guiselab.InputFileError):
        _ = guiselab.Run(tmp_path, smoke).results  # nothing analyzed yet
