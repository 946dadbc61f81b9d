"""Training checkpoints: a killed fine-tune resumes from its last one, bit for bit.

A checkpoint holds the trainable (LoRA) weights, the optimizer's state, the torch random state
and the loss curve so far, as safetensors plus a JSON file, never a pickle. It is written to a
new folder that then replaces the old one; ``state.json`` is written last, so a folder without
it is incomplete and ignored. Resuming restores every tensor and the random state (CPU and
CUDA) exactly and replays the learning rate schedule, so on a CPU the finished adapter is
byte-identical to one trained without a stop (GPU kernels need not be deterministic).
"""

from __future__ import annotations

import json
import shutil
import time
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
    "note_step",
    "save_checkpoint",
    "training_state",
]

_STATE = "state.json"
_TENSORS = "tensors.safetensors"
_PROGRESS = ".progress.json"


@dataclass(frozen=True)
class Checkpoint:
    """Where training stopped: the steps done and the loss curve up to there."""

    step: int
    curve: list[dict[str, float]]


def checkpoint_dir(out_dir: Path) -> Path:
    return out_dir.with_name(out_dir.name + ".checkpoint")


def _named_params(model: Any) -> list[tuple[str, torch.nn.Parameter]]:
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


def _folders(out_dir: Path) -> list[Path]:
    """The checkpoint folder, then the ones a save in progress uses (newest first)."""
    final = checkpoint_dir(out_dir)
    return [final, final.with_name(final.name + ".new"), final.with_name(final.name + ".old")]


def _random_state() -> dict[str, torch.Tensor]:
    state = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for index, cuda in enumerate(torch.cuda.get_rng_state_all()):
            state[f"rng.cuda.{index}"] = cuda
    return state


def _restore_random_state(tensors: dict[str, torch.Tensor]) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[f"rng.cuda.{i}"] for i in range(len(tensors)) if f"rng.cuda.{i}" in tensors]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)


def save_checkpoint(
    out_dir: Path,
    key: str,
    model: Any,
    optimizer: torch.optim.Optimizer,
    step: int,
    curve: list[dict[str, float]],
) -> None:
    """Save the training state after ``step`` steps (``key`` names the training recipe).

    The new checkpoint is written whole beside the old one and swapped in by renames, so a
    kill at any moment leaves at least one whole checkpoint (or none before the first).
    """
    from safetensors.torch import save_file

    final, fresh, old = _folders(out_dir)
    if fresh.exists():
        shutil.rmtree(fresh)
    fresh.mkdir(parents=True)
    tensors = _random_state()
    for index, (name, param) in enumerate(_named_params(model)):
        tensors[f"param.{name}"] = param.detach().cpu().contiguous()
        for slot, value in optimizer.state.get(param, {}).items():
            tensors[f"opt.{index}.{slot}"] = torch.as_tensor(value).detach().cpu().contiguous()
    save_file(tensors, str(fresh / _TENSORS))
    write_atomic(fresh / _STATE, json.dumps({"key": key, "step": step, "curve": curve}))
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        final.rename(old)
    fresh.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def load_checkpoint(
    out_dir: Path,
    key: str,
    model: Any,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
) -> Checkpoint | None:
    """Restore the newest whole checkpoint of this recipe into ``model``, ``optimizer`` and
    ``scheduler``; None (and nothing changed) when there is none. A folder a kill left half
    written or half deleted is passed over."""
    from safetensors.torch import load_file

    found: list[tuple[int, dict[str, Any], dict[str, torch.Tensor]]] = []
    for folder in _folders(out_dir):
        try:
            state = json.loads((folder / _STATE).read_text(encoding="utf-8"))
            if state.get("key") != key:
                continue
            tensors = load_file(str(folder / _TENSORS))
        except Exception:  # absent, half written or half deleted: not a checkpoint
            continue
        found.append((int(state["step"]), state, tensors))
    if not found:
        return None
    step, state, tensors = max(found, key=lambda f: f[0])
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
    _restore_random_state(tensors)
    with warnings.catch_warnings():  # replaying the schedule, not skipping a step
        warnings.simplefilter("ignore")
        for _ in range(step):
            scheduler.step()
    return Checkpoint(step, list(state["curve"]))


def discard_checkpoint(out_dir: Path) -> None:
    """Remove the checkpoints of a finished adapter, and its note of the step reached."""
    for folder in _folders(out_dir):
        if folder.exists():
            shutil.rmtree(folder)
    _progress_file(out_dir).unlink(missing_ok=True)


def _progress_file(out_dir: Path) -> Path:
    return out_dir.with_name(out_dir.name + _PROGRESS)


def note_step(out_dir: Path, step: int, total: int, loss: float) -> None:
    """Record the step training has reached (for ``guiselab status`` while it runs)."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    note = {"step": step, "total": total, "loss": loss, "at": time.time()}
    write_atomic(_progress_file(out_dir), json.dumps(note))


def training_state(out_dir: Path) -> dict[str, Any] | None:
    """Where an unfinished training of ``out_dir`` stands: the step it reached (``step``,
    ``total``, ``loss``, ``at``: seconds since the epoch), and ``checkpoint``, the step of the
    newest whole checkpoint (None before the first); None when neither was written."""
    try:
        note: dict[str, Any] = json.loads(_progress_file(out_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        note = {}
    steps = []
    for folder in _folders(out_dir):
        try:
            steps.append(int(json.loads((folder / _STATE).read_text(encoding="utf-8"))["step"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    if not note and not steps:
        return None
    return {**note, "checkpoint": max(steps) if steps else None}
