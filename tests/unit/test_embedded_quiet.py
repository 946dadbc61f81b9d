"""The first use of an embedded model converts it without a library's progress bar."""

from __future__ import annotations

from pathlib import Path

import pytest

from guiselab.models import materialize


def test_the_first_conversion_draws_no_library_bar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GUISELAB_CACHE", str(tmp_path))
    folder, digest = materialize("smollm2")
    out, err = capfd.readouterr()
    assert (folder / "model.safetensors").exists() and len(digest) == 64
    assert "GGUF" not in err + out and "it/s" not in err + out
