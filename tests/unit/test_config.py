from pathlib import Path

import pytest

from guiselab.config import ExperimentConfig, config_to_toml, load_config, preset_names
from guiselab.errors import ConfigError


def test_presets_load_and_differ() -> None:
    assert set(preset_names()) >= {"smoke", "default", "paper"}
    smoke, default, paper = (load_config(None, p) for p in ("smoke", "default", "paper"))
    assert smoke.models.base == "embedded:smollm2"
    assert default.models.base == "embedded:gemma3-270m"
    assert paper.generation.samples_per_prompt == 100
    assert paper.finetune.rslora and paper.finetune.rank == 32
    assert paper.probe.sampled_controls == 20 and default.probe.sampled_controls == 1


def test_unknown_key_is_named(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[generation]\nsampels_per_prompt = 3\n")
    with pytest.raises(ConfigError, match=r"generation\.sampels_per_prompt"):
        load_config(path)


def test_wrong_type_is_named(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[generation]\nmax_new_tokens = "many"\n')
    with pytest.raises(ConfigError, match=r"generation\.max_new_tokens.*'many'"):
        load_config(path)


def test_unknown_preset() -> None:
    with pytest.raises(ConfigError, match="no preset named 'nosuch'"):
        load_config(None, "nosuch")


def test_file_overrides_preset_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('preset = "smoke"\n[generation]\nsamples_per_prompt = 2\n')
    cfg = load_config(path)
    assert cfg.generation.samples_per_prompt == 2
    assert cfg.models.base == "embedded:smollm2"
    saved = tmp_path / "saved.toml"
    saved.write_text(config_to_toml(cfg))
    assert load_config(saved) == cfg


def test_every_field_has_a_docstring() -> None:
    def walk(model: type) -> None:
        for name, field in model.model_fields.items():  # type: ignore[attr-defined]
            assert field.description, f"{model.__name__}.{name} has no docstring"
            ann = field.annotation
            if isinstance(ann, type) and hasattr(ann, "model_fields"):
                walk(ann)

    walk(ExperimentConfig)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('[api]\napi_key_env = "sk-proj-SENTINEL123"\n', "must name an environment variable"),
        ('[judge]\napi_key_env = "sk-proj-SENTINEL123"\n', "must name an environment variable"),
        ('[api]\napi_key = "sk-proj-SENTINEL123"\n', "reads API keys only from environment"),
        ('[judge]\ntoken = "sk-proj-SENTINEL123"\n', "reads API keys only from environment"),
    ],
)
def test_a_key_written_into_the_config_is_refused_and_not_echoed(
    tmp_path: Path, text: str, needle: str
) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=needle) as caught:
        load_config(path)
    assert "SENTINEL" not in str(caught.value)


def test_an_environment_variable_name_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[api]\napi_key_env = "MY_PROVIDER_KEY_2"\n')
    assert load_config(path).api.api_key_env == "MY_PROVIDER_KEY_2"


@pytest.mark.parametrize(
    ("probe", "needle"),
    [
        ("layers = [3, 5, 3]", r"probe\.layers names layer 3 more than once"),
        ("steer_layers = [4, 4]", r"probe\.steer_layers names layer 4 more than once"),
        ("layers = [0, 8]\nsteer_layers = [8, 9]", r"probe\.steer_layers \[9\] are not in"),
        ("layers = [-1]", r"probe\.layers"),
    ],
)
def test_probe_layers_are_checked(tmp_path: Path, probe: str, needle: str) -> None:
    """A layer listed twice would steer twice (and be counted twice by `guiselab plan`); an
    intervention at an unmeasured layer has no direction to add and was skipped silently."""
    (tmp_path / "c.toml").write_text(f"[probe]\n{probe}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=needle) as caught:
        load_config(tmp_path / "c.toml")
    assert str(caught.value).startswith(f"{tmp_path / 'c.toml'}:")
