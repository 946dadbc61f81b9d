"""LoRA supervised fine-tuning with the loss on assistant tokens only.

The output layer is applied only at the positions whose next token is an answer token: with a
262k-token vocabulary (Gemma 3) computing logits for the whole prompt costs most of a step.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from guiselab.config import FinetuneConfig, ModelsConfig
from guiselab.errors import ConfigError
from guiselab.finetune._checkpoint import load_checkpoint, save_checkpoint
from guiselab.finetune.data import SftExample, data_sha256
from guiselab.models import answer_ids, load_model, prompt_ids, render_prompt, sha256_file
from guiselab.progress import Progress

__all__ = ["encode_examples", "train_adapter"]

IGNORE = -100
WARMUP_SHARE = 0.05


def encode_examples(
    tokenizer: Any, examples: Sequence[SftExample], max_length: int, system: str | None = None
) -> list[tuple[list[int], list[int]]]:
    """(input ids, labels) per example; labels are IGNORE on the prompt."""
    encoded = []
    for ex in examples:
        prompt = prompt_ids(tokenizer, render_prompt(tokenizer, ex.user, ex.system or system))
        answer = answer_ids(tokenizer, ex.assistant)
        ids = (prompt + answer)[:max_length]
        labels = ([IGNORE] * len(prompt) + answer)[:max_length]
        if all(label == IGNORE for label in labels[1:]):
            continue  # the prompt alone fills max_length: nothing of the answer to learn
        encoded.append((ids, labels))
    if not encoded:
        raise ConfigError(
            f"every training prompt is at least {max_length} tokens, leaving no answer tokens; "
            "raise finetune.max_length",
            where="finetune.max_length",
        )
    return encoded


def _batch(
    rows: Sequence[tuple[list[int], list[int]]], pad: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    width = max(len(ids) for ids, _ in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for row, (toks, labs) in enumerate(rows):
        ids[row, : len(toks)] = torch.tensor(toks)
        labels[row, : len(labs)] = torch.tensor(labs)
        mask[row, : len(toks)] = 1
    return ids, labels, mask


def _answer_loss(
    lm: Any, ids: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    hidden = lm.base_model(input_ids=ids, attention_mask=mask).last_hidden_state
    targets = labels[:, 1:]
    keep = targets != IGNORE
    logits = lm.get_output_embeddings()(hidden[:, :-1][keep])
    cap = getattr(lm.config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return torch.nn.functional.cross_entropy(logits.float(), targets[keep])


def _autocast(enabled: bool, device: torch.device) -> torch.autocast:
    """bfloat16 matrix products under ``enabled`` (weights and optimizer stay as loaded)."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


def train_adapter(
    base_ref: str,
    models: ModelsConfig,
    examples: Sequence[SftExample],
    cfg: FinetuneConfig,
    out_dir: Path,
    progress: Progress,
    *,
    label: str,
    system: str | None = None,
    resume_key: str | None = None,
) -> dict[str, Any]:
    """Train a LoRA adapter on ``examples`` and save it to ``out_dir`` (atomically).

    With ``resume_key`` (the recipe's identity) the training state is checkpointed every
    ``cfg.checkpoint_every`` steps beside ``out_dir``, and a checkpoint of the same recipe left
    by a killed run is resumed from (the caller discards the checkpoints once the adapter is
    recorded).
    """
    from peft import LoraConfig, get_peft_model

    start = time.perf_counter()
    torch.manual_seed(cfg.seed)
    loaded = load_model(base_ref, models)
    lora = LoraConfig(
        r=cfg.rank,
        lora_alpha=cast(Any, cfg.alpha),  # peft annotates int; a float alpha works
        lora_dropout=cfg.dropout,
        use_rslora=cfg.rslora,
        target_modules=cfg.target_modules,
        layers_to_transform=cfg.layers,
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(loaded.model, lora)
    model.train()
    lm = model.get_base_model()
    encoded = encode_examples(loaded.tokenizer, examples, cfg.max_length, system)
    steps = cfg.max_steps or max(1, math.ceil(cfg.epochs * len(encoded) / cfg.batch_size))
    rng = np.random.default_rng(cfg.seed)
    order: list[int] = []
    while len(order) < steps * cfg.batch_size:
        order += [int(i) for i in rng.permutation(len(encoded))]
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=0.0)
    warmup = max(1, int(WARMUP_SHARE * steps))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / warmup))
    pad = loaded.tokenizer.pad_token_id
    curve: list[dict[str, float]] = []
    first = 0
    if resume_key is not None:
        resumed = load_checkpoint(out_dir, resume_key, model, optimizer, scheduler)
        if resumed is not None:
            first, curve = resumed.step, resumed.curve
    with progress.task(f"finetune {label}", total=steps) as advance:
        advance(first)
        for step in range(first, steps):
            rows = [encoded[i] for i in order[step * cfg.batch_size : (step + 1) * cfg.batch_size]]
            ids, labels, mask = (t.to(loaded.device) for t in _batch(rows, pad))
            with _autocast(cfg.autocast, loaded.device):
                loss: Any = _answer_loss(lm, ids, labels, mask)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            curve.append({"step": step + 1, "loss": float(loss.detach())})
            done = step + 1
            if resume_key is not None and done % cfg.checkpoint_every == 0 and done < steps:
                save_checkpoint(out_dir, resume_key, model, optimizer, done, curve)
            advance(1)
    staging = out_dir.with_name(out_dir.name + ".partial")
    if staging.exists():
        shutil.rmtree(staging)
    model.save_pretrained(str(staging), safe_serialization=True)
    (staging / "training_curve.json").write_text(json.dumps(curve))
    if out_dir.exists():
        shutil.rmtree(out_dir)
    staging.rename(out_dir)  # the adapter appears whole or not at all
    return {
        "adapter": str(out_dir),
        "adapter_sha256": sha256_file(out_dir / "adapter_model.safetensors"),
        "base": base_ref,
        "base_sha256": loaded.weights_sha256,
        "data_sha256": data_sha256(examples),
        "n_examples": len(examples),
        "steps": steps,
        "final_loss": curve[-1]["loss"],
        "first_loss": curve[0]["loss"],
        "seconds": time.perf_counter() - start,
        "config": cfg.model_dump(mode="json"),
    }
