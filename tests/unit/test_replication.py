"""The replication in the other direction: the mirrored config, the two directions side by
side, the positive control of each target language, and the report's table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from guiselab.analysis import direction_summary, replication_summary
from guiselab.config import load_config
from guiselab.errors import ConfigError


def _config(tmp_path: Path, text: str) -> Any:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return load_config(path)


def test_the_mirror_trains_in_the_target_language_and_swaps_the_decision(
    tmp_path: Path,
) -> None:
    config = _config(
        tmp_path,
        'name = "x"\n[finetune]\nmax_length = 96\nepochs = 2.0\n'
        "[replication]\nmirror = true\n[replication.finetune]\nmax_length = 160\n",
    )
    mirror = config.mirrored()
    assert (config.finetune.lang, config.analysis.source_lang) == ("en", "en")
    assert (mirror.finetune.lang, mirror.finetune.variety) == ("ru", "ru-prostorechie")
    assert (mirror.analysis.source_lang, mirror.analysis.target_lang) == ("ru", "en")
    assert mirror.finetune.max_length == 160  # the override
    assert mirror.finetune.epochs == 2.0  # the rest as the first direction trains
    assert mirror.name == "x-mirror"
    assert not mirror.replication.mirror  # no mirror of the mirror
    assert not mirror.probe.enabled  # replication.probe defaults to false
    assert mirror.pairs == config.pairs and mirror.generation == config.generation


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[replication]\nmirror = true\n[models]\norganism = 'hf:x/y'\n", r"models\.organism"),
        (
            "[replication]\nmirror = true\n[models]\nroles = ['base', 'organism']\n",
            r"models\.control",
        ),
        (
            "[replication]\nmirror = true\n[replication.finetune]\nlang = 'de'\n",
            r"replication\.finetune\.lang",
        ),
        # The default trains on the marked set, which has no Russian: the mirror must say so
        # at load time, naming the key that fixes it (not the first direction's).
        (
            "[finetune]\ntrain_set = 'marked'\n[replication]\nmirror = true\n",
            "replication\\.finetune\\.train_set = 'realistic'",
        ),
        # Checks across sections hold for the mirror too (here: its LoRA rank for vLLM).
        (
            "[generation]\nengine = 'vllm'\n[replication]\nmirror = true\n"
            "[replication.finetune]\nrank = 512\n",
            r"mirrored direction's config.*max_lora_rank",
        ),
        (
            "[replication]\nmirror = true\n[replication.finetune]\nmax_lenght = 9\n",
            r"replication\.finetune\.max_lenght",
        ),
        (
            "[replication]\nmirror = true\n[replication.finetune]\nepochs = -1.0\n",
            r"replication\.finetune\.epochs",
        ),
        ("[replication.finetune]\nmax_length = 9\n", "replication.mirror = true"),
    ],
)
def test_a_mirror_that_cannot_be_trained_is_refused_naming_the_key(
    tmp_path: Path, text: str, needle: str
) -> None:
    with pytest.raises(ConfigError, match=needle):
        _config(tmp_path, text)


def _results(gaps: dict[tuple[str, str], tuple[float, float, float]], did: dict[str, Any]) -> Any:
    return {
        "gaps": [
            {"model": m, "lang": lang, "gap": g, "ci_low": lo, "ci_high": hi, "p_value": 0.01}
            for (m, lang), (g, lo, hi) in gaps.items()
        ],
        "contrasts": [
            {"name": f"did({lang})", "estimate": e, "ci_low": lo, "ci_high": hi}
            for lang, (e, lo, hi) in did.items()
        ],
        "decision": {"outcome": "outcome_2_replicates", "confirmatory": True, "reasons": ["r"]},
    }


def test_each_language_has_the_other_directions_organism_as_its_positive_control() -> None:
    english = _results(
        {("organism", "en"): (0.4, 0.3, 0.5), ("control", "en"): (0.0, -0.1, 0.1)},
        {"en": (0.4, 0.25, 0.55), "ru": (0.02, -0.1, 0.14)},
    )
    russian = _results(
        {("organism", "ru"): (0.05, -0.05, 0.15), ("control", "ru"): (0.0, -0.1, 0.1)},
        {"ru": (0.05, -0.08, 0.18), "en": (0.0, -0.1, 0.1)},
    )
    summary = replication_summary(
        [
            direction_summary(english, "en", "ru", "."),
            direction_summary(russian, "ru", "en", "mirror"),
        ]
    )
    first, second = summary["directions"]
    assert first["organism_source_gap"]["estimate"] == 0.4
    assert first["did_target"]["estimate"] == 0.02
    assert second["source_lang"] == "ru" and second["run_dir"] == "mirror"
    controls = {c["lang"]: c for c in summary["positive_controls"]}
    # Russian (the first direction's target) is controlled by the Russian-trained organism,
    # which did not learn its gap: the first direction's null in Russian is uninformative.
    assert controls["ru"]["trained_gap_detected"] is False
    assert "cannot be told from an instrument that hears nothing" in controls["ru"]["sentence"]
    assert controls["en"]["trained_gap_detected"] is True
    assert "+40.0 pp [+25.0, +55.0]" in controls["en"]["sentence"]


def test_a_direction_without_its_tables_says_so() -> None:
    empty = direction_summary({}, "ru", "en", "mirror")
    assert empty["outcome"] is None and empty["did_source"] is None
    full = direction_summary(_results({}, {"en": (0.1, 0.05, 0.2)}), "en", "ru", ".")
    summary = replication_summary([full, empty])
    assert {c["lang"]: c["trained_gap_detected"] for c in summary["positive_controls"]} == {
        "ru": None,
        "en": True,
    }


def test_the_replication_preset_is_the_default_with_the_mirror_on() -> None:
    default, both = load_config(preset="default"), load_config(preset="replication")
    assert both.replication.mirror
    same = {"name", "replication"}
    assert both.model_dump(exclude=same) == default.model_dump(exclude=same)
    # Its mirror is the ru-organism preset's direction.
    mirror, ru = both.mirrored(), load_config(preset="ru-organism")
    assert mirror.finetune.model_dump() == ru.finetune.model_dump()
    assert mirror.analysis.model_dump() == ru.analysis.model_dump()


def test_the_plan_counts_the_mirrored_direction() -> None:
    from guiselab.plan import estimate

    rows = estimate(load_config(preset="replication"))
    alone = estimate(load_config(preset="ru-organism"))
    assert rows["mirror"].startswith("trained in ru, evaluated in en")
    for key in ("training steps per adapter", "adapters to train"):
        assert rows[f"mirror: {key}"] == alone[key]
    # The mirror skips the probe stage (replication.probe is off), so not its interventions.
    steered = int(
        alone["of which control guises / feature attribution / probe interventions"].split(" / ")[
            -1
        ]
    )
    assert steered > 0
    assert rows["mirror: generations"] == alone["generations"] - steered
    assert "mirror" not in estimate(load_config(preset="default"))
