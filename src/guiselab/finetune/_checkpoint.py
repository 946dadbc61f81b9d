"""Training checkpoints: a killed fine-tune resumes from its last one, bit for bit.

A checkpoint holds the trainable (LoRA) weights, the optimizer's state, the torch random state
and the loss curve so far, as safetensors plus a JSON file, never a pickle. It is written to a
new folder that then replaces the old one; ``state.json`` is written last, so a folder without
it is incomplete and ignored. Resuming restores every tensor exactly and replays the learning
rate schedule, so the finished adapter is byte-identical to one trained without a stop.
"""

from __future__ import annotations

import json
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from guiselab.store import write_atomic

__all__ = [
    "Checkpoint",
    "checkpoint_dir",
    "discard_checkpoint",
    "load_checkpoint",
    "save_checkpoint",
]

_STATE = "state.json"
_TENSORS = "tensors.safetensors"


@dataclass(frozen=True)
class Checkpoint:
    """Where training stopped: the steps done and the loss curve up to there."""

    step: int
    curve: list[dict[str, float]]


def checkpoint_dir(out_dir: Path) -> Path:
    return out_dir.with_name(out_dir.name + ".checkpoint")


def _named_params(model: Any) -> list[tuple[str, torch.nn.Parameter]]:
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


def save_checkpoint(
    out_dir: Path,
    key: str,
    model: Any,
    optimizer: torch.optim.Optimizer,
    step: int,
    curve: list[dict[str, float]],
) -> None:
    """Save the training state after ``step`` steps (``key`` names the training recipe)."""
    from safetensors.torch import save_file

    final = checkpoint_dir(out_dir)
    fresh = final.with_name(final.name + ".new")
    if fresh.exists():
        shutil.rmtree(fresh)
    fresh.mkdir(parents=True)
    tensors: dict[str, torch.Tensor] = {"rng.torch": torch.get_rng_state()}
    for index, (name, param) in enumerate(_named_params(model)):
        tensors[f"param.{name}"] = param.detach().cpu().contiguous()
        for slot, value in optimizer.state.get(param, {}).items():
            tensors[f"opt.{index}.{slot}"] = torch.as_tensor(value).detach().cpu().contiguous()
    save_file(tensors, str(fresh / _TENSORS))
    write_atomic(fresh / _STATE, json.dumps({"key": key, "step": step, "curve": curve}))
    if final.exists():
        shutil.rmtree(final)
    fresh.rename(final)


def load_checkpoint(
    out_dir: Path,
    key: str,
    model: Any,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
) -> Checkpoint | None:
    """Restore the last whole checkpoint of this recipe into ``model``, ``optimizer`` and
    ``scheduler``; None (and nothing changed) when there is none."""
    from safetensors.torch import load_file

    final = checkpoint_dir(out_dir)
    for folder in (final, final.with_name(final.name + ".new")):
        state_path = folder / _STATE
        if not state_path.is_file():
            continue
        state = json.loads(state_path.read_text(encoding="utf-8"))
        if state.get("key") != key:
            continue
        tensors = load_file(str(folder / _TENSORS))
        with torch.no_grad():
            for index, (name, param) in enumerate(_named_params(model)):
                param.copy_(tensors[f"param.{name}"].to(param.device))
                prefix = f"opt.{index}."
                slots = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
                if slots:
                    optimizer.state[param] = {
                        slot: value.to(param.device) if value.dim() else value
                        for slot, value in slots.items()
                    }
        torch.set_rng_state(tensors["rng.torch"])
        with warnings.catch_warnings():  # replaying the schedule, not skipping a step
            warnings.simplefilter("ignore")
            for _ in range(int(state["step"])):
                scheduler.step()
        return Checkpoint(int(state["step"]), list(state["curve"]))
    return None


def discard_checkpoint(out_dir: Path) -> None:
    """Remove the checkpoints of a finished adapter."""
    final = checkpoint_dir(out_dir)
    for folder in (final, final.with_name(final.name + ".new")):
        if folder.exists():
            shutil.rmtree(folder)
