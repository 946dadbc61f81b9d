"""Generation through Ray actors on a local 2-CPU cluster matches in-process generation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from guiselab.config import ExperimentConfig
from guiselab.generate import generate_stage
from guiselab.models import model_sources
from guiselab.pairs import select_pairs
from guiselab.progress import NullProgress
from guiselab.store import RunStore

ray = pytest.importorskip("ray", reason="the ray extra is not installed")


@pytest.fixture(scope="module")
def local_cluster() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _config(tiny_model_dir: Path, executor: str, temperature: float) -> ExperimentConfig:
    return ExperimentConfig.model_validate(
        {
            "pairs": {"max_items": 3},
            "models": {
                "base": f"hf:{tiny_model_dir}",
                "roles": ["base"],
                "device": "cpu",
                "dtype": "float32",
            },
            "generation": {
                "samples_per_prompt": 2,
                "max_new_tokens": 6,
                "batch_size": 5,
                "temperature": temperature,
                "executor": executor,
                "ray_actors": 2,
            },
        }
    )


def _generate(config: ExperimentConfig, run: Path) -> dict[str, str]:
    pairs = select_pairs(config.pairs)
    with RunStore.in_dir(run) as store:
        generate_stage(store, config, pairs, model_sources(config, run), NullProgress())
        again = store.count("generations")
        generate_stage(store, config, pairs, model_sources(config, run), NullProgress())
        assert store.count("generations") == again  # a rerun adds nothing
        return {g.key: g.response for g in store.generations()}


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_ray_executor_gives_the_same_keys_and_texts(
    local_cluster: None, tiny_model_dir: Path, tmp_path: Path, temperature: float
) -> None:
    here = _generate(_config(tiny_model_dir, "local", temperature), tmp_path / "local")
    there = _generate(_config(tiny_model_dir, "ray", temperature), tmp_path / "ray")
    assert len(here) == 3 * 2 * 2 * 2  # items x languages x guises x samples
    assert there == here
