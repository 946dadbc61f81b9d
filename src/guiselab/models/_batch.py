"""Padding a batch of token sequences into one tensor: the one place guiselab pads.

Generation and the local judge pad on the left (every row's last prompt token sits in the
last column, so the next-token logits of all rows are read at one index); the activation
and perplexity passes pad on the right (a row's positions count from its first token).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch


@dataclass(frozen=True)
class PaddedBatch:
    """``ids`` and ``mask`` of shape (rows, width); ``positions`` counts each row's real tokens
    from 0 (padding positions clamped to 0), as the model's ``position_ids``."""

    ids: torch.Tensor
    mask: torch.Tensor
    positions: torch.Tensor

    def to(self, device: torch.device | str) -> PaddedBatch:
        return PaddedBatch(self.ids.to(device), self.mask.to(device), self.positions.to(device))


def pad_batch(
    sequences: Sequence[Sequence[int]], pad_id: int, side: Literal["left", "right"] = "left"
) -> PaddedBatch:
    """Stack ``sequences`` into a (rows, width) batch padded with ``pad_id`` on ``side``."""
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, seq in enumerate(sequences):
        if not len(seq):
            continue
        span = slice(width - len(seq), width) if side == "left" else slice(0, len(seq))
        ids[row, span] = torch.tensor(list(seq), dtype=torch.long)
        mask[row, span] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    return PaddedBatch(ids, mask, positions)


def prefill(model: Any, batch: PaddedBatch) -> Any:
    """One forward pass over a left-padded ``batch`` that keeps the KV cache and computes only
    the last column's logits: the start of sampling and of the local judge's scoring."""
    return model(
        input_ids=batch.ids,
        attention_mask=batch.mask,
        position_ids=batch.positions,
        use_cache=True,
        logits_to_keep=1,
    )
