"""The mean per-token negative log-likelihood a model gives each text (for the perplexity of
prompts, a confound check of the analysis)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from guiselab.models._batch import pad_batch

__all__ = ["prompt_nll"]


@torch.inference_mode()
def prompt_nll(lm: Any, texts: Sequence[str], batch_size: int = 16) -> list[float]:
    """Mean negative log-likelihood per token (nats) of each text under ``lm``."""
    tok, model = lm.tokenizer, lm.model
    out: list[float] = []
    for start in range(0, len(texts), batch_size):
        encoded = [tok(t)["input_ids"] for t in texts[start : start + batch_size]]
        padded = pad_batch(encoded, tok.pad_token_id, side="right")
        ids, mask = padded.ids, padded.mask
        logits = model(input_ids=ids.to(lm.device), attention_mask=mask.to(lm.device)).logits
        logp = torch.log_softmax(logits[:, :-1].float(), dim=-1).cpu()
        target = ids[:, 1:]
        picked = logp.gather(-1, target[..., None])[..., 0]
        counted = mask[:, 1:].float()
        nll = -(picked * counted).sum(-1) / counted.sum(-1).clamp(min=1)
        out.extend(float(v) for v in nll)
    return out
