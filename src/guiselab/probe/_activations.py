"""Residual-stream activations, read and edited through forward hooks, and saved per run.

Indexing convention, used everywhere in guiselab: **layer 0 is the embedding output** (what the
first block reads) and **layer l is the output of block l** (1-based), before any final norm.
So a model with L blocks has layers 0..L. ``output_hidden_states`` agrees for layers 0..L-1;
its last entry is usually after the final norm, which is why guiselab hooks the blocks instead.

Hooks work the same on a plain model, a ``PeftModel`` with an unmerged LoRA adapter, and a
merged one: they sit on the decoder blocks, which are found by their count.

**The first position is left alone.** The first token of every sequence is the attention sink:
its residual is tens of times the others' norm (about 83,000 against 5,700 at layer 9 of the
embedded Gemma 3 270M) and the same in every prompt. Averaged in, it would scale with one over
the prompt's length and become the pooled activations' leading direction (88% of their variance
there), so the probes and directions would read prompt length; edited, it would move the sink
every later token attends to and break the answers whatever the direction. So ``mean`` pools
the prompt's tokens after the first, and an edit leaves each sequence's first position (its
position id 0; padding has id 0 too and is masked anyway) as it was.

The probe stage keeps what it collects under ``RUN/activations`` (:func:`stored_activations`),
so a rerun with the same inputs reads them instead of running the model again.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from jaxtyping import Float
from safetensors.torch import load_file, save_file

from guiselab.models import LoadedModel, pad_batch
from guiselab.store import RunStore

__all__ = [
    "Activations",
    "Edit",
    "Hidden",
    "collect_activations",
    "decoder_blocks",
    "first_positions",
    "n_layers",
    "residual_hooks",
    "stored_activations",
]

Hidden = Float[torch.Tensor, "*batch hidden"]
"""A residual stream: (hidden) per token, with any leading batch and sequence dimensions."""
Edit = Callable[[Hidden], Hidden]
Activations = dict[str, Float[torch.Tensor, "seq layer hidden"]]
"""Pooled activations by pooling (``last``, ``mean``, ``response_mean``)."""
POOLING_VERSION = 2
"""Bumped when the pooling changes (2: ``mean`` leaves the first token out), so activations
saved by an earlier version are collected again."""


def _n_blocks(model: Any) -> int:
    config = model.config
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    return int(text.num_hidden_layers)


def decoder_blocks(model: Any) -> torch.nn.ModuleList:
    """The model's list of decoder blocks (found as the module list of that length)."""
    count = _n_blocks(model)
    for name, module in model.named_modules():
        named = name.endswith(("layers", ".h", "blocks"))
        if isinstance(module, torch.nn.ModuleList) and len(module) == count and named:
            return module
    raise ValueError("no list of decoder blocks found in this model")


def n_layers(model: Any) -> int:
    """Number of residual layers in guiselab's convention: blocks + 1 (the embeddings)."""
    return _n_blocks(model) + 1


def _hidden(output: Any) -> Float[torch.Tensor, "batch token hidden"]:
    hidden: Float[torch.Tensor, "batch token hidden"] = (
        output[0] if isinstance(output, tuple) else output
    )
    return hidden


def _replace(output: Any, hidden: Float[torch.Tensor, "batch token hidden"]) -> Any:
    return (hidden, *output[1:]) if isinstance(output, tuple) else hidden


@contextmanager
def residual_hooks(
    model: Any,
    *,
    capture: dict[int, Float[torch.Tensor, "batch token hidden"]] | None = None,
    edits: Mapping[int, Edit] | None = None,
) -> Iterator[None]:
    """Within the block, every forward pass stores layer l's residual in ``capture[l]`` (for
    all layers) and replaces it by ``edits[l](residual)`` where an edit is given, except at
    each sequence's first position (position id 0), which keeps its residual."""
    edits = dict(edits or {})
    handles = []
    first: list[torch.Tensor | None] = [None]  # this pass's first positions, (batch, token)

    def positions(module: Any, args: Any, kwargs: dict[str, Any]) -> None:
        given = dict(kwargs)
        if args:  # positional arguments, named as the model's forward names them
            given.update(zip(inspect.signature(module.forward).parameters, args, strict=False))
        first[0] = first_positions(
            given.get("input_ids"), given.get("attention_mask"), given.get("position_ids")
        )

    def hook(layer: int) -> Callable[..., Any]:
        def run(_module: Any, _inputs: Any, output: Any) -> Any:
            hidden = _hidden(output)
            if layer in edits:
                spare = first[0]
                if spare is None or spare.shape != hidden.shape[:2]:
                    raise RuntimeError(
                        "a residual edit cannot tell each sequence's first position: call the "
                        "model with input_ids and an attention mask or position ids"
                    )
                edited = edits[layer](hidden)
                hidden = torch.where(spare.to(hidden.device)[..., None], hidden, edited)
            if capture is not None:
                capture[layer] = hidden.detach()
            return _replace(output, hidden) if layer in edits else None

        return run

    if edits:
        handles.append(model.register_forward_pre_hook(positions, with_kwargs=True))
    handles.append(model.get_input_embeddings().register_forward_hook(hook(0)))
    for index, block in enumerate(decoder_blocks(model)):
        handles.append(block.register_forward_hook(hook(index + 1)))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def first_positions(
    input_ids: torch.Tensor | None,
    attention_mask: torch.Tensor | None,
    position_ids: torch.Tensor | None,
) -> torch.Tensor | None:
    """Where a forward pass's tokens sit at position 0 (batch x token): from the position ids
    it is given, else from the attention mask's running count over its last columns, else
    (neither given: one unpadded pass) the first column."""
    if position_ids is not None:
        return position_ids == 0
    if input_ids is None:
        return None
    width = input_ids.shape[-1]
    if attention_mask is not None:  # left padding counts 0 too: masked, so left alone harmlessly
        return ((attention_mask.cumsum(-1) - 1).clamp(min=0) == 0)[..., -width:]
    spare = torch.zeros(input_ids.shape, dtype=torch.bool, device=input_ids.device)
    spare[..., 0] = True
    return spare


@torch.inference_mode()
def collect_activations(
    lm: LoadedModel,
    prompts: Sequence[list[int]],
    *,
    responses: Sequence[list[int]] | None = None,
    batch_size: int = 16,
    edits: Mapping[int, Edit] | None = None,
) -> Activations:
    """Per sequence and layer: ``last`` (the last prompt token), ``mean`` (mean over the prompt
    tokens after the first, the attention sink; a one-token prompt keeps it) and, with
    ``responses``, ``response_mean`` (mean over the response tokens that follow the prompt).
    Tensors are float32, shape (sequences, layers, hidden)."""
    model, pad = lm.model, lm.tokenizer.pad_token_id
    out: dict[str, list[Float[torch.Tensor, "layer hidden"]]] = {
        "last": [],
        "mean": [],
        "response_mean": [],
    }
    for start in range(0, len(prompts), batch_size):
        chunk = list(prompts[start : start + batch_size])
        answers = list(responses[start : start + batch_size]) if responses else [[] for _ in chunk]
        full = [p + a for p, a in zip(chunk, answers, strict=True)]
        # Right padding: positions count from the start, as in an unpadded pass.
        batch = pad_batch(full, pad, side="right")
        captured: dict[int, Float[torch.Tensor, "batch token hidden"]] = {}
        with residual_hooks(model, capture=captured, edits=edits):
            model(input_ids=batch.ids.to(lm.device), attention_mask=batch.mask.to(lm.device))
        stack: Float[torch.Tensor, "batch layer token hidden"] = (
            torch.stack([captured[i] for i in sorted(captured)], dim=1).float().cpu()
        )
        for row, (p, a) in enumerate(zip(chunk, answers, strict=True)):
            out["last"].append(stack[row, :, len(p) - 1])
            out["mean"].append(stack[row, :, min(1, len(p) - 1) : len(p)].mean(dim=1))
            if responses:
                span = stack[row, :, len(p) : len(p) + len(a)]
                out["response_mean"].append(
                    span.mean(dim=1) if len(a) else torch.zeros_like(stack[row, :, 0])
                )
    return {k: torch.stack(v) for k, v in out.items() if v}


def stored_activations(
    store: RunStore, run_dir: Path, name: str, key: str, compute: Callable[[], Activations]
) -> Activations:
    """Activations saved under ``RUN/activations/NAME.safetensors``, recomputed when the
    store's index says they were made from other inputs (``key``)."""
    path = run_dir / "activations" / f"{name}.safetensors"
    index = store.get_artifact(f"activations:{name}")
    key = f"{key}:pooling-{POOLING_VERSION}"
    if index is not None and index.get("key") == key and path.exists():
        return dict(load_file(str(path)))
    tensors = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp))
    tmp.replace(path)
    store.put_artifact(f"activations:{name}", {"key": key, "file": str(path.name)})
    return tensors
