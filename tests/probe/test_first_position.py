"""The first position (the attention sink) is left out of mean pooling and left unedited, with
left padding, right padding and during decoding, on a tiny random model."""

from __future__ import annotations

from pathlib import Path

import torch

from _probe_texts import EN
from guiselab.config import ModelsConfig
from guiselab.models import load_model, pad_batch, prompt_ids, render_prompt
from guiselab.probe import collect_activations, residual_hooks
from guiselab.probe._activations import first_positions

LAYER = 1


def test_mean_pooling_leaves_the_first_token_out(tiny_model_dir: Path) -> None:
    lm = load_model(f"hf:{tiny_model_dir}", ModelsConfig(device="cpu", dtype="float32"))
    prompts = [prompt_ids(lm.tokenizer, render_prompt(lm.tokenizer, t)) for t in EN[:4]]
    pooled = collect_activations(lm, prompts, batch_size=3)["mean"]
    for row, p in enumerate(prompts):
        with torch.no_grad():
            states = lm.model(input_ids=torch.tensor([p]), output_hidden_states=True)
        hidden = states.hidden_states[LAYER][0]
        assert torch.allclose(pooled[row, LAYER], hidden[1:].mean(0), atol=1e-5)
        assert not torch.allclose(pooled[row, LAYER], hidden.mean(0), atol=1e-5)
    one = collect_activations(lm, [prompts[0][:1]])["mean"]  # a one-token prompt keeps it
    assert torch.isfinite(one).all()


def test_an_edit_leaves_each_rows_first_position_alone(tiny_model_dir: Path) -> None:
    lm = load_model(f"hf:{tiny_model_dir}", ModelsConfig(device="cpu", dtype="float32"))
    prompts = [prompt_ids(lm.tokenizer, render_prompt(lm.tokenizer, t)) for t in EN[:3]]
    prompts[1] = prompts[1][:5]  # rows of different lengths: padding differs
    shift = torch.full((lm.model.config.hidden_size,), 3.0)
    for side in ("left", "right"):
        batch = pad_batch(prompts, lm.tokenizer.pad_token_id, side=side)
        plain: dict[int, torch.Tensor] = {}
        edited: dict[int, torch.Tensor] = {}
        kwargs = {"input_ids": batch.ids, "attention_mask": batch.mask}
        if side == "left":
            kwargs["position_ids"] = batch.positions
        with torch.no_grad():
            with residual_hooks(lm.model, capture=plain):
                lm.model(**kwargs)
            with residual_hooks(lm.model, capture=edited, edits={LAYER: lambda h: h + shift}):
                lm.model(**kwargs)
        moved = (edited[LAYER] - plain[LAYER]).abs().amax(-1) > 1.0
        for row, p in enumerate(prompts):
            first = batch.ids.shape[1] - len(p) if side == "left" else 0
            real = range(first, first + len(p))
            assert not moved[row, first]  # the sink keeps its residual
            assert all(moved[row, i] for i in real if i != first)


def test_first_positions_from_ids_mask_or_positions() -> None:
    ids = torch.ones((2, 4), dtype=torch.long)
    mask = torch.tensor([[0, 1, 1, 1], [1, 1, 1, 1]])
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    from_positions = first_positions(ids, mask, positions)
    from_mask = first_positions(ids, mask, None)
    assert from_positions is not None and from_mask is not None
    assert from_positions.tolist() == from_mask.tolist()
    assert from_mask.tolist() == [[True, True, False, False], [True, False, False, False]]
    # a decoding step: one new token at a later position is edited
    step = first_positions(ids[:, :1], torch.ones((2, 5), dtype=torch.long), None)
    assert step is not None and not step.any()
    alone = first_positions(ids, None, None)
    assert alone is not None and alone.tolist() == [[True, False, False, False]] * 2


def test_a_positional_call_with_left_padding_spares_the_real_first_token(
    tiny_model_dir: Path,
) -> None:
    lm = load_model(f"hf:{tiny_model_dir}", ModelsConfig(device="cpu", dtype="float32"))
    prompts = [prompt_ids(lm.tokenizer, render_prompt(lm.tokenizer, t)) for t in EN[:2]]
    prompts[1] = prompts[1][:4]
    batch = pad_batch(prompts, lm.tokenizer.pad_token_id, side="left")
    plain: dict[int, torch.Tensor] = {}
    edited: dict[int, torch.Tensor] = {}
    shift = torch.full((lm.model.config.hidden_size,), 3.0)
    with torch.no_grad():
        with residual_hooks(lm.model, capture=plain):
            lm.model(batch.ids, batch.mask)  # positionally: ids, then the attention mask
        with residual_hooks(lm.model, capture=edited, edits={LAYER: lambda h: h + shift}):
            lm.model(batch.ids, batch.mask)
    first = batch.ids.shape[1] - len(prompts[1])
    moved = (edited[LAYER] - plain[LAYER]).abs().amax(-1) > 1.0
    assert not moved[1, first] and moved[1, first + 1]
    assert not moved[0, 0] and moved[0, 1]
