"""A tiny-model config and one uninterrupted run of it, shared by the reliability tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from _tinyrun import CONFIG, guiselab


@pytest.fixture(scope="session")
def tiny_config(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tiny-config") / "tiny.toml"
    path.write_text(CONFIG.format(model=tiny_model_dir))
    return path


@pytest.fixture(scope="session")
def tiny_reference(tiny_config: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny run, uninterrupted: what every killed or starved run must end up holding."""
    run_dir = tmp_path_factory.mktemp("tiny-reference") / "run"
    done = guiselab("run", str(tiny_config), "--out", str(run_dir), "--quiet")
    assert done.returncode == 0, done.stderr[-3000:]
    return run_dir
