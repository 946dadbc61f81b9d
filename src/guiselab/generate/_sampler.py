"""guiselab's batched HF sampler: left-padded batch, KV cache, one generator per sample."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from guiselab.config import GenerationConfig
from guiselab.models import (
    LoadedModel,
    end_token_ids,
    pad_batch,
    prefill,
    prompt_ids,
    render_prompt,
    stop_strings,
)

__all__ = ["Completion", "sample_batch", "sample_texts"]


@dataclass(frozen=True)
class Completion:
    """One sampled answer."""

    text: str
    token_ids: list[int]
    finish_reason: str
    """``stop`` (EOS or a stop string) or ``length`` (ran out of tokens)."""


_BLOCK = 256
"""Vocabulary block of the two-level inverse-CDF draw in ``_choose``."""


def _choose(logits: torch.Tensor, cfg: GenerationConfig, gens: list[torch.Generator]) -> list[int]:
    """Next token per row, each row drawing its uniform from its own generator.

    Inverse-CDF sampling in two levels, vectorised over the batch: the uniform picks a block of
    ``_BLOCK`` tokens from the cumulative block masses, then a token from the cumulative masses
    inside that block. It is the same draw as one cumulative sum over the whole vocabulary
    (which may hold 262k tokens) at a fraction of the float64 work, and needs one uniform per
    row, not a ``multinomial`` call per row.
    """
    if cfg.temperature == 0:
        return [int(t) for t in logits.argmax(-1)]
    probs = torch.softmax(logits.float() / cfg.temperature, dim=-1).cpu()
    if cfg.top_p < 1:
        ordered, order = probs.sort(dim=-1, descending=True)
        ordered[ordered.cumsum(-1) - ordered > cfg.top_p] = 0
        probs = torch.zeros_like(probs).scatter(-1, order, ordered)
    rows, vocab = probs.shape
    blocks = torch.nn.functional.pad(probs, (0, -vocab % _BLOCK)).view(rows, -1, _BLOCK)
    # float64 so the draw can never round up past the last token with probability mass.
    block_cdf = blocks.sum(-1, dtype=torch.float64).cumsum(-1)
    draws = torch.cat([torch.rand(1, generator=g, dtype=torch.float64) for g in gens])
    targets = draws * block_cdf[:, -1]
    block = _last_with_mass(block_cdf, torch.searchsorted(block_cdf, targets[:, None], right=True))
    below = torch.where(block > 0, block_cdf.gather(1, (block - 1).clamp(min=0)[:, None])[:, 0], 0)
    inner_cdf = blocks[torch.arange(rows), block].double().cumsum(-1)
    offset = torch.searchsorted(inner_cdf, (targets - below)[:, None], right=True)
    return [int(t) for t in block * _BLOCK + _last_with_mass(inner_cdf, offset)]


def _last_with_mass(cdf: torch.Tensor, picked: torch.Tensor) -> torch.Tensor:
    """``picked`` (rows × 1) clamped to each row's last index where ``cdf`` still rises:
    rounding may carry a draw past the end, never onto an entry without mass."""
    rises = torch.diff(cdf, dim=-1, prepend=cdf.new_zeros((len(cdf), 1))) > 0
    last = cdf.shape[-1] - 1 - rises.flip(-1).double().argmax(-1)
    return torch.minimum(picked[:, 0], last)


@torch.inference_mode()
def sample_batch(
    lm: LoadedModel,
    prompts: Sequence[list[int]],
    seeds: Sequence[int],
    cfg: GenerationConfig,
    *,
    stop: bool = True,
) -> list[Completion]:
    """Sample one answer per prompt: left-padded batch, KV cache, per-row seeds and stopping.

    ``stop=False`` ignores end tokens and stop strings (every row decodes ``max_new_tokens``):
    for throughput benchmarks that compare engines on equal work.

    Rows that finish are dropped from the batch (and from the cache) so the remaining ones
    decode faster. Identical prompts (several samples of one prompt) share one prefill: the
    prompt is run once and its cache copied to each of its rows.
    """
    tokenizer, model = lm.tokenizer, lm.model
    stops = stop_strings(tokenizer) if stop else []
    eos = end_token_ids(lm) if stop else set()
    unique: dict[tuple[int, ...], int] = {}
    for prompt in prompts:
        unique.setdefault(tuple(prompt), len(unique))
    padded = pad_batch(list(unique), tokenizer.pad_token_id, side="left").to(lm.device)
    mask, positions = padded.mask, padded.positions
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    out = prefill(model, padded)
    cache, logits = out.cache, out.logits[:, -1, :]
    if len(unique) < len(prompts):  # fan each prompt's prefill out to its sample rows
        rows = torch.tensor([unique[tuple(p)] for p in prompts], device=lm.device)
        cache.batch_select_indices(rows)
        logits, mask, positions = logits[rows], mask[rows], positions[rows]
    next_pos = positions[:, -1] + 1
    active = list(range(len(prompts)))
    produced: list[list[int]] = [[] for _ in prompts]
    texts = [""] * len(prompts)
    finish = ["length"] * len(prompts)
    for step in range(cfg.max_new_tokens):
        chosen = _choose(logits, cfg, [gens[r] for r in active])
        keep: list[int] = []
        for slot, (row, token) in enumerate(zip(active, chosen, strict=True)):
            if token in eos:
                finish[row] = "stop"
                continue
            produced[row].append(token)
            if stops:  # only plain-template models need the text while decoding
                text = tokenizer.decode(produced[row], skip_special_tokens=True)
                cut = min((text.find(s) for s in stops if s in text), default=-1)
                if cut >= 0:
                    texts[row], finish[row] = text[:cut], "stop"
                    continue
            keep.append(slot)
        if not keep or step == cfg.max_new_tokens - 1:
            break
        if len(keep) < len(active):
            index = torch.tensor(keep, device=lm.device)
            cache.batch_select_indices(index)
            mask, next_pos = mask[index], next_pos[index]
        active = [active[s] for s in keep]
        step_ids = torch.tensor([[produced[r][-1]] for r in active], device=lm.device)
        mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=1)
        out = model(
            input_ids=step_ids,
            attention_mask=mask,
            position_ids=next_pos[:, None],
            cache=cache,
            use_cache=True,
        )
        cache, logits = out.cache, out.logits[:, -1, :]
        next_pos = next_pos + 1
    return [
        Completion(
            (texts[r] or tokenizer.decode(produced[r], skip_special_tokens=True)).strip(),
            produced[r],
            finish[r],
        )
        for r in range(len(prompts))
    ]


def sample_texts(
    lm: LoadedModel, prompts: Sequence[str], seeds: Sequence[int], cfg: GenerationConfig
) -> list[str]:
    """One answer per user prompt, in the model's prompt format with ``cfg.system_prompt``,
    sampled ``cfg.batch_size`` prompts at a time with each prompt's own seed."""
    encoded = [
        prompt_ids(lm.tokenizer, render_prompt(lm.tokenizer, p, cfg.system_prompt)) for p in prompts
    ]
    texts: list[str] = []
    for first in range(0, len(encoded), cfg.batch_size):
        batch = slice(first, first + cfg.batch_size)
        texts += [c.text for c in sample_batch(lm, encoded[batch], seeds[batch], cfg)]
    return texts
