"""LoRA supervised fine-tuning with the loss on assistant tokens only.

The output layer is applied only at the positions whose next token is an answer token: with a
262k-token vocabulary (Gemma 3) computing logits for the whole prompt costs most of a step.
When the output layer is frozen (LoRA leaves it alone), its cross-entropy is computed in blocks
of positions by ``AnswerHead``, which forms the gradient with respect to the hidden states in
the forward pass: no [positions x vocabulary] logits, softmax or gradient tensor is allocated,
filled or kept per step (on this CPU those memory passes took longer than the products
themselves; ``benchmarks/finetune.py`` measures both paths side by side).
"""

from __future__ import annotations

import functools
import json
import math
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch.autograd.function import once_differentiable

from guiselab.config import FinetuneConfig, ModelsConfig
from guiselab.errors import ConfigError
from guiselab.finetune._checkpoint import load_checkpoint, note_step, save_checkpoint
from guiselab.finetune.data import SftExample, data_sha256
from guiselab.models import answer_ids, load_model, prompt_ids, render_prompt, sha256_file
from guiselab.progress import Progress

__all__ = ["AnswerHead", "encode_examples", "train_adapter", "training_steps"]

IGNORE = -100
WARMUP_SHARE = 0.05
NOTE_EVERY = 5.0
"""Seconds between notes of the step training reached (``guiselab status`` reads them)."""
HEAD_BLOCK = 64  # answer positions per output-layer block (fastest of 32/64/128 here)


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
    """Mean cross-entropy at the kept positions through the output layer as a module (the
    reference for ``AnswerHead``, and the path when the output layer is trained)."""
    hidden, targets = _answer_positions(lm, ids, labels, mask)
    logits = lm.get_output_embeddings()(hidden)
    cap = getattr(lm.config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return torch.nn.functional.cross_entropy(logits.float(), targets)


def _answer_positions(
    lm: Any, ids: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Final hidden states at the positions whose next token is an answer token, and those
    tokens."""
    hidden = lm.base_model(input_ids=ids, attention_mask=mask).last_hidden_state
    targets = labels[:, 1:]
    keep = targets != IGNORE
    return hidden[:, :-1][keep], targets[keep]


class AnswerHead:
    """The frozen output layer's mean cross-entropy over the kept positions, in blocks.

    The weight is held in the dtype the products run in (a bfloat16 copy under autocast, the
    float32 weight itself otherwise), and the [block x vocabulary] buffers (two, three with a
    logit softcap) are reused for every block and step. The values are those of
    ``_answer_loss`` (tested to float32 precision); under autocast they differ at bfloat16
    precision only: the products run in bfloat16 as autocast's do, while the softcap and the
    softmax are taken in float32 here where autocast's full product applies the softcap in
    bfloat16.
    """

    def __init__(self, lm: Any, *, autocast: bool, block: int = HEAD_BLOCK) -> None:
        weight = lm.get_output_embeddings().weight.detach()
        self.weight = weight.to(torch.bfloat16) if autocast else weight
        self.cap = getattr(lm.config, "final_logit_softcapping", None)
        self.block = block
        self._buffers: dict[str, torch.Tensor] = {}

    @staticmethod
    def usable(lm: Any) -> bool:
        """Only a plain, frozen linear output layer: the blocks give no gradient for its weight,
        and an adapter on it (``target_modules = ["lm_head"]``) would be left out."""
        head = lm.get_output_embeddings()
        return type(head) is torch.nn.Linear and not any(p.requires_grad for p in head.parameters())

    def _buffer(self, name: str, dtype: torch.dtype) -> torch.Tensor:
        if name not in self._buffers:
            self._buffers[name] = torch.empty(
                (self.block, self.weight.shape[0]), dtype=dtype, device=self.weight.device
            )
        return self._buffers[name]

    def loss_and_grad(
        self, hidden: torch.Tensor, targets: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean cross-entropy and its gradient with respect to ``hidden`` ([n, d])."""
        w = self.weight
        n = hidden.shape[0]
        h_all = hidden.detach().to(w.dtype)
        grad = torch.empty((n, w.shape[1]), dtype=w.dtype, device=w.device)
        total = torch.zeros((), dtype=torch.float64, device=w.device)
        product = self._buffer("product", w.dtype)
        logits = product if w.dtype == torch.float32 else self._buffer("logits", torch.float32)
        for start in range(0, n, self.block):
            h = h_all[start : start + self.block]
            rows = torch.arange(h.shape[0], device=w.device)
            tgt = targets[start : start + self.block]
            z, zp = logits[: h.shape[0]], product[: h.shape[0]]
            torch.mm(h, w.T, out=zp)
            if z is not zp:
                z.copy_(zp)
            if self.cap:
                capped = self._buffer("capped", torch.float32)[: h.shape[0]]
                z.div_(self.cap).tanh_().mul_(self.cap)
                capped.copy_(z)
            target_logit = z[rows, tgt]  # advanced indexing copies
            top = z.amax(dim=-1, keepdim=True)
            z.sub_(top).exp_()
            norm = z.sum(dim=-1, keepdim=True)
            total += (top + norm.log()).squeeze(1).sub(target_logit).sum(dtype=torch.float64)
            z.div_(norm)  # softmax; minus the one-hot target: the gradient of the logits
            z[rows, tgt] -= 1
            if self.cap:  # d/dz cap*tanh(z/cap) = 1 - (capped/cap)^2, formed in place
                z.mul_(capped.div_(self.cap).square_().neg_().add_(1))
            if z is not zp:
                zp.copy_(z)
            torch.mm(zp, w, out=grad[start : start + self.block])
        return (total / n).float(), grad

    def loss(self, lm: Any, ids: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> Any:
        hidden, targets = _answer_positions(lm, ids, labels, mask)
        return _HeadLoss.apply(hidden, targets, self)  # type: ignore[no-untyped-call]


class _HeadLoss(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, hidden: torch.Tensor, targets: torch.Tensor, head: AnswerHead) -> Any:
        with torch.autocast(device_type=hidden.device.type, enabled=False):
            loss, grad = head.loss_and_grad(hidden, targets)
        ctx.save_for_backward(grad)
        ctx.n, ctx.dtype = hidden.shape[0], hidden.dtype
        return loss

    @staticmethod
    @once_differentiable  # the gradient is formed in the forward pass: no second derivative
    def backward(ctx: Any, *outputs: torch.Tensor) -> Any:
        (grad,) = ctx.saved_tensors
        return (grad.float() * (outputs[0] / ctx.n)).to(ctx.dtype), None, None


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 products natively: a GPU that does not emulate
    them, or a CPU with AVX512-BF16 or AMX (read from /proc/cpuinfo's flags; where there is
    none, oneDNN's own check). A CPU without them emulates bfloat16 (seen four times slower
    than float32 on an AVX2-only CPU), so autocast there would only cost time."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    if device.type != "cpu":
        return True
    return _cpu_bf16()


@functools.cache
def _cpu_bf16() -> bool:
    try:
        flags = {
            flag
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("flags")
            for flag in line.split(":", 1)[1].split()
        }
    except OSError:
        flags = set()
    if flags:
        return bool(flags & {"avx512_bf16", "amx_bf16"})
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _autocast(enabled: bool, device: torch.device) -> torch.autocast:
    """bfloat16 matrix products under ``enabled`` (weights and optimizer stay as loaded)."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


def training_steps(cfg: FinetuneConfig, n_examples: int) -> int:
    """Optimizer steps of one adapter: ``max_steps``, else ``epochs`` passes over the
    examples in batches, the last one rounded up."""
    return cfg.max_steps or max(1, math.ceil(cfg.epochs * n_examples / cfg.batch_size))


def batch_order(
    lengths: Sequence[int], batch_size: int, steps: int, seed: int, window: int = 1
) -> list[list[int]]:
    """The examples (indices into ``lengths``) of each of ``steps`` batches.

    Epochs are consecutive permutations of the examples. ``window`` batches at a time are
    drawn from that stream, sorted by length and split into batches, and those batches are
    shuffled among themselves: the examples trained on are those of the plain stream, each moved
    by at most a window, a batch pads to a length near its examples' own, and short and long
    batches stay interleaved. ``window = 1`` is the plain
    stream cut into batches.
    """
    rng = np.random.default_rng(seed)
    order: list[int] = []
    while len(order) < steps * batch_size:
        order += [int(i) for i in rng.permutation(len(lengths))]
    order = order[: steps * batch_size]
    if window == 1:
        return [order[s : s + batch_size] for s in range(0, len(order), batch_size)]
    batches: list[list[int]] = []
    span = window * batch_size
    for start in range(0, len(order), span):
        chunk = sorted(order[start : start + span], key=lambda i: lengths[i])
        group = [chunk[s : s + batch_size] for s in range(0, len(chunk), batch_size)]
        batches += [group[j] for j in rng.permutation(len(group))]
    return batches


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
    steps = training_steps(cfg, len(encoded))
    batches = batch_order(
        [len(ids) for ids, _ in encoded], cfg.batch_size, steps, cfg.seed, cfg.length_window
    )
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=0.0)
    warmup = max(1, int(WARMUP_SHARE * steps))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / warmup))
    pad = loaded.tokenizer.pad_token_id
    autocast = cfg.autocast and native_bf16(loaded.device)
    if cfg.autocast and not autocast:
        progress.log(
            f"finetune {label}: this {loaded.device.type.upper()} has no native bfloat16, so "
            "finetune.autocast is off and the products run in float32"
        )
    loss_fn: Any = AnswerHead(lm, autocast=autocast).loss if AnswerHead.usable(lm) else _answer_loss
    curve: list[dict[str, float]] = []
    first = 0
    if resume_key is not None:
        resumed = load_checkpoint(out_dir, resume_key, model, optimizer, scheduler)
        if resumed is not None:
            first, curve = resumed.step, resumed.curve
    noted = -float("inf")
    with progress.task(f"finetune {label}", total=steps) as advance:
        advance(first)
        for step in range(first, steps):
            rows = [encoded[i] for i in batches[step]]
            ids, labels, mask = (t.to(loaded.device) for t in _batch(rows, pad))
            with _autocast(autocast, loaded.device):
                loss: Any = loss_fn(lm, ids, labels, mask)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            curve.append({"step": step + 1, "loss": float(loss.detach())})
            done = step + 1
            if resume_key is not None and done % cfg.checkpoint_every == 0 and done < steps:
                save_checkpoint(out_dir, resume_key, model, optimizer, done, curve)
            if time.monotonic() - noted >= NOTE_EVERY or done == steps:
                note_step(out_dir, done, steps, curve[-1]["loss"])
                noted = time.monotonic()
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
        "autocast": autocast,
        "config": cfg.model_dump(mode="json"),
    }
