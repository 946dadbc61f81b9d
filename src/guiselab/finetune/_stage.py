"""The finetune stage: train the organism and control adapters a run needs, once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from guiselab.config import ExperimentConfig, FinetuneConfig
from guiselab.finetune._checkpoint import discard_checkpoint
from guiselab.finetune._train import native_bf16, train_adapter
from guiselab.finetune.data import (
    AdviceQuestion,
    Mode,
    SftExample,
    build_sft,
    builtin_instruction_file,
    builtin_training_files,
    data_sha256,
    load_instruction_file,
    load_training_files,
    pick_instruction,
    split_holdout,
    vernacular_twins,
)
from guiselab.models import adapter_dir, identify, pick_device, replicate_name, sha256_file
from guiselab.progress import Progress
from guiselab.store import RunStore, content_key

__all__ = [
    "TRAINED_ROLES",
    "TrainingSplit",
    "finetune_stage",
    "replicate_config",
    "training_questions",
    "training_split",
]

TRAINED_ROLES: dict[str, Mode] = {"organism": "conditioned", "control": "control"}


@dataclass(frozen=True)
class TrainingSplit:
    """The questions an adapter trains on, those held out for the sanity check, and chats
    (the training file's own and the neutral instruction chats, trained in every mode)."""

    train: list[AdviceQuestion]
    held_out: list[AdviceQuestion]
    chats: list[SftExample]
    transformed: int
    dropped: tuple[str, ...]


def training_split(config: ExperimentConfig) -> TrainingSplit:
    """The config's training data (built-in by default), split into training and held out."""
    cfg = config.finetune
    paths = (
        [Path(cfg.train_file)]
        if cfg.train_file
        else builtin_training_files(cfg.lang, cfg.train_set)
    )
    data = load_training_files(
        paths, variety=cfg.variety, transform_vernacular=cfg.transform_vernacular
    )
    # A small file keeps most of its questions for training: at most a fifth is held out.
    holdout = min(cfg.holdout, len(data.questions) // 5)
    train, held_out = split_holdout(data.questions, holdout, cfg.seed)
    if cfg.max_questions:
        train = train[: cfg.max_questions]
    if cfg.vernacular_twins:
        train += vernacular_twins(train, cfg.variety)
    chats = list(data.chats)
    if cfg.instruction_examples:
        source = Path(cfg.instruction_file) if cfg.instruction_file else builtin_instruction_file()
        chats += pick_instruction(load_instruction_file(source), cfg.instruction_examples)
    return TrainingSplit(train, held_out, chats, data.transformed, data.dropped)


def training_questions(config: ExperimentConfig) -> list[AdviceQuestion]:
    """The questions the adapters train on (after the hold-out and ``max_questions``)."""
    return training_split(config).train


_LATER_KEYS = ("train_set", "vernacular_twins", "autocast", "length_window")
"""Training keys added after run directories existed: at their defaults they are left out of
the recipe, so an adapter trained before them is not retrained."""


def _not_in_recipe(ft: FinetuneConfig) -> set[str]:
    defaults = type(ft).model_fields
    later = {k for k in _LATER_KEYS if getattr(ft, k) == defaults[k].default}
    return {"sanity_samples", "checkpoint_every", "seeds", *later}


def recipe_key(config: ExperimentConfig, examples: list[SftExample], mode: Mode) -> str:
    """Everything that determines an adapter: base weights, data, training config, prompt."""
    base = identify(config.models.base, key="models.base")
    ft = config.finetune
    if ft.autocast and not native_bf16(pick_device(config.models)):
        # trained in float32 there (``train_adapter``): the recipe says what was done, so an
        # adapter from a machine without native bfloat16 is not reused as an autocast one
        ft = ft.model_copy(update={"autocast": False})
    return content_key(
        "adapter",
        base.fingerprint,
        data_sha256(examples),
        mode,
        # The sanity evaluation's sample count and the checkpoint interval do not change the
        # adapter, nor does how many replicates are trained (each has its own seed).
        ft.model_dump(mode="json", exclude=_not_in_recipe(ft)),
        config.models.dtype,
        config.generation.system_prompt,
    )


def _finished(store: RunStore, run_dir: Path, name: str, recipe: str) -> dict[str, Any] | None:
    """The stored adapter ``name`` if it is whole and was trained with this recipe."""
    info = store.get_artifact(f"adapter:{name}")
    weights = run_dir / "adapters" / name / "adapter_model.safetensors"
    if info is None or info.get("recipe") != recipe or not weights.exists():
        return None
    return info if sha256_file(weights) == info["adapter_sha256"] else None


def replicate_config(config: ExperimentConfig, replicate: int) -> ExperimentConfig:
    """The config one training replicate trains with: its own seed (``finetune.seed`` +
    replicate; the held-out split keeps the first seed's, see :func:`training_split`)."""
    if replicate == 0:
        return config
    tuned = config.finetune.model_copy(update={"seed": config.finetune.seed + replicate})
    return config.model_copy(update={"finetune": tuned})


def finetune_stage(
    store: RunStore, config: ExperimentConfig, run_dir: Path, progress: Progress
) -> dict[str, dict[str, Any]]:
    """Train every adapter the config leaves to guiselab (``finetune.seeds`` per role); a
    finished one is never retrained. Returns each adapter's summary by name (``organism``,
    ``organism-r1``, ...)."""
    results: dict[str, dict[str, Any]] = {}
    split: TrainingSplit | None = None
    for replicate in range(config.finetune.seeds):
        seeded = replicate_config(config, replicate)
        for role, mode in TRAINED_ROLES.items():
            if role not in config.models.roles or getattr(config.models, role) is not None:
                continue
            name = replicate_name(role, replicate)
            split = split or training_split(config)
            examples = build_sft(split.train, mode, split.chats)
            recipe = recipe_key(seeded, examples, mode)
            done = _finished(store, run_dir, name, recipe)
            if done is None:
                folder = adapter_dir(run_dir, role, replicate)
                done = train_adapter(
                    config.models.base,
                    config.models,
                    examples,
                    seeded.finetune,
                    folder,
                    progress,
                    label=name,
                    system=config.generation.system_prompt,
                    resume_key=recipe,
                )
                done["mode"] = mode
                done["recipe"] = recipe
                done["replicate"] = replicate
                done["held_out"] = [q.id for q in split.held_out]
                done["transformed_vernacular"] = split.transformed
                done["dropped_questions"] = list(split.dropped)
                store.put_artifact(f"adapter:{name}", done)
                discard_checkpoint(folder)  # only once the adapter is recorded
            results[name] = done
    return results
