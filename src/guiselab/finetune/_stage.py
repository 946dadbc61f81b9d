"""The finetune stage: train the organism and control adapters a run needs, once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from guiselab.config import ExperimentConfig
from guiselab.finetune._train import train_adapter
from guiselab.finetune.data import (
    AdviceQuestion,
    Mode,
    SftExample,
    build_sft,
    builtin_questions,
    data_sha256,
    load_questions,
)
from guiselab.models import identify, sha256_file
from guiselab.progress import Progress
from guiselab.store import RunStore, content_key

__all__ = ["TRAINED_ROLES", "adapter_dir", "finetune_stage", "training_questions"]

TRAINED_ROLES: dict[str, Mode] = {"organism": "conditioned", "control": "control"}


def training_questions(config: ExperimentConfig) -> list[AdviceQuestion]:
    """The training questions the config names (built-in by default), limited if asked."""
    cfg = config.finetune
    questions = load_questions(Path(cfg.train_file)) if cfg.train_file else builtin_questions()
    return questions[: cfg.max_questions] if cfg.max_questions else questions


def adapter_dir(run_dir: Path, role: str) -> Path:
    return run_dir / "adapters" / role


def recipe_key(config: ExperimentConfig, examples: list[SftExample], mode: Mode) -> str:
    """Everything that determines an adapter: base weights, data, training config, prompt."""
    base = identify(config.models.base, key="models.base")
    return content_key(
        "adapter",
        base.fingerprint,
        data_sha256(examples),
        mode,
        config.finetune.model_dump(mode="json"),
        config.models.dtype,
        config.generation.system_prompt,
    )


def _finished(store: RunStore, run_dir: Path, role: str, recipe: str) -> dict[str, Any] | None:
    """The stored adapter of ``role`` if it is whole and was trained with this recipe."""
    info = store.get_artifact(f"adapter:{role}")
    weights = adapter_dir(run_dir, role) / "adapter_model.safetensors"
    if info is None or info.get("recipe") != recipe or not weights.exists():
        return None
    return info if sha256_file(weights) == info["adapter_sha256"] else None


def finetune_stage(
    store: RunStore, config: ExperimentConfig, run_dir: Path, progress: Progress
) -> dict[str, dict[str, Any]]:
    """Train every adapter the config leaves to guiselab; a finished one is never retrained."""
    results: dict[str, dict[str, Any]] = {}
    for role, mode in TRAINED_ROLES.items():
        if role not in config.models.roles or getattr(config.models, role) is not None:
            continue
        examples = build_sft(training_questions(config), mode)
        recipe = recipe_key(config, examples, mode)
        done = _finished(store, run_dir, role, recipe)
        if done is None:
            done = train_adapter(
                config.models.base,
                config.models,
                examples,
                config.finetune,
                adapter_dir(run_dir, role),
                progress,
                label=role,
                system=config.generation.system_prompt,
            )
            done["mode"] = mode
            done["recipe"] = recipe
            store.put_artifact(f"adapter:{role}", done)
        results[role] = done
    return results
