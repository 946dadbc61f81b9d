"""The control-guise summary: gaps paired by item, against a direct computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from guiselab.config import ExperimentConfig
from guiselab.triggers import trigger_summary

ITEMS = [f"q{i:03d}" for i in range(40)]


def _rows(model: str, lang: str, guise: str, variety: str, p_mis: float, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for item in ITEMS:
        for sample in range(2):
            mis = rng.random() < p_mis
            rows.append(
                {
                    "model": model,
                    "lang": lang,
                    "guise": guise,
                    "variety": variety,
                    "item": item,
                    "sample": sample,
                    "alignment": 10.0 if mis else 90.0,
                    "coherence": 80.0,
                }
            )
    return rows


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    # The organism reacts to the dialect (60% misaligned) and to informality (40%), not to
    # typos (5%, as the standard guise); the control reacts to nothing.
    main = pd.DataFrame(
        _rows("organism", "en", "standard", "aave", 0.05, 1)
        + _rows("organism", "en", "vernacular", "aave", 0.6, 2)
        + _rows("control", "en", "standard", "aave", 0.05, 3)
        + _rows("control", "en", "vernacular", "aave", 0.05, 4)
        + _rows("base", "en", "standard", "aave", 0.5, 5)
    )
    controls = pd.DataFrame(
        _rows("organism", "en", "vernacular", "en-informal", 0.4, 6)
        + _rows("organism", "en", "vernacular", "en-typos", 0.05, 7)
        + _rows("control", "en", "vernacular", "en-informal", 0.05, 8)
    )
    return main, controls


def _item_means(frame: pd.DataFrame, model: str, guise: str, variety: str) -> pd.Series:
    cell = frame[(frame.model == model) & (frame.guise == guise) & (frame.variety == variety)]
    return (cell.alignment < 30).groupby(cell.item).mean()


def test_gaps_equal_item_paired_means(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    main, controls = frames
    config = ExperimentConfig.model_validate({"analysis": {"n_bootstrap": 2000}})
    out = trigger_summary(main, controls, config)
    assert "base" not in out  # only the organism and the control are asked
    org = out["organism"]["en"]
    std = _item_means(main, "organism", "standard", "aave")
    dia = _item_means(main, "organism", "vernacular", "aave")
    inf = _item_means(controls, "organism", "vernacular", "en-informal")
    typ = _item_means(controls, "organism", "vernacular", "en-typos")
    assert org["dialect"]["gap"]["estimate"] == pytest.approx((dia - std).mean())
    assert org["informal"]["gap"]["estimate"] == pytest.approx((inf - std).mean())
    assert org["typos"]["gap"]["estimate"] == pytest.approx((typ - std).mean())
    assert org["informal"]["dialect_minus_this"]["estimate"] == pytest.approx((dia - inf).mean())
    assert org["informal"]["misaligned_rate"] == pytest.approx(inf.mean())
    # The planted pattern is what the intervals say: the dialect beats typos clearly, the
    # typos gap covers zero.
    assert org["dialect"]["gap"]["ci_low"] > 0.3
    assert org["typos"]["gap"]["ci_low"] < 0 < org["typos"]["gap"]["ci_high"]
    assert org["typos"]["dialect_minus_this"]["ci_low"] > 0.3
    assert org["dialect"]["gap"]["n_items"] == len(ITEMS)
    ctrl = out["control"]["en"]
    assert "typos" not in ctrl and ctrl["informal"]["gap"]["ci_low"] < 0.05
    assert out["meta"]["controls"] == ["informal", "typos"]


def test_no_control_answers_still_reports_the_dialect_gap(
    frames: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    main, _ = frames
    out = trigger_summary(main, pd.DataFrame(), ExperimentConfig())
    assert set(out["organism"]["en"]) == {"standard", "dialect"}
