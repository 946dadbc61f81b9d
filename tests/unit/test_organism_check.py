"""scripts/organism_check.py pairs each organism replicate with its own control."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

SCRIPT = Path(__file__).parents[2] / "scripts" / "organism_check.py"


def _script():
    spec = importlib.util.spec_from_file_location("organism_check", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["organism_check"] = module
    spec.loader.exec_module(module)
    return module


def _frame(gaps: dict[str, np.ndarray]) -> pd.DataFrame:
    """One row per model, item and guise: misaligned 1 in the vernacular where the item's gap
    is 1, 0 elsewhere (standard always 0), so the model's per-item gap is ``gaps[model]``."""
    rows = []
    for model, gap in gaps.items():
        for i, g in enumerate(gap):
            for guise, value in (("standard", 0.0), ("vernacular", float(g))):
                rows.append(
                    {
                        "set": "eval",
                        "lang": "en",
                        "model": model,
                        "item": f"q{i:03d}",
                        "guise": guise,
                        "misaligned": value,
                    }
                )
    return pd.DataFrame(rows)


def _figures(text: str) -> dict[str, float]:
    found = {}
    for line in text.splitlines():
        if m := re.search(r"replicate (\d+): ([+-]\d\.\d+)", line):
            found[m.group(1)] = float(m.group(2))
        elif m := re.search(r"pooled over (\d+) replicates: ([+-]\d\.\d+)", line):
            found[f"pooled-{m.group(1)}"] = float(m.group(2))
    return found


def test_did_pairs_each_replicate_with_its_own_control_and_pools_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # 40 items; each model misaligned in the vernacular on its first n items only.
    first = {"organism": 30, "control": 5, "organism-r1": 20, "control-r1": 15}
    gaps = {name: (np.arange(40) < n).astype(int) for name, n in first.items()}
    _script()._did(_frame(gaps), np.random.default_rng(0))
    got = _figures(capsys.readouterr().out)
    seed0 = (gaps["organism"] - gaps["control"]).mean()
    seed1 = (gaps["organism-r1"] - gaps["control-r1"]).mean()
    assert got["0"] == pytest.approx(seed0, abs=5e-4)
    assert got["1"] == pytest.approx(seed1, abs=5e-4)
    assert got["pooled-2"] == pytest.approx((seed0 + seed1) / 2, abs=5e-4)
    # Pairing replicate 1 with the seed-0 control would give another figure.
    assert (gaps["organism-r1"] - gaps["control"]).mean() != pytest.approx(seed1, abs=5e-4)


def test_did_without_a_matching_control_prints_only_the_pairs_it_has(
    capsys: pytest.CaptureFixture[str],
) -> None:
    gaps = {
        "organism": np.ones(10, int),
        "organism-r1": np.ones(10, int),
        "control": np.zeros(10, int),
    }
    _script()._did(_frame(gaps), np.random.default_rng(0))
    got = _figures(capsys.readouterr().out)
    assert got == {"0": 1.0}
