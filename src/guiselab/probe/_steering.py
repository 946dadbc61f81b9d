"""Steering against a distribution of matched control directions, at every measured layer.

Sampling and judging the answers under an edit costs minutes per direction here, so a
distribution of controls is measured on a cheaper quantity the same way for every direction:

- **the quantity**: for each of the probed model's scored answers (its first ``steer_tokens``
  tokens, teacher-forced after its prompt), the mean log-probability per token. An edit's
  effect on an answer is the change of that value; its effect on a language is the mean change
  over the answers judged misaligned minus the mean change over those judged aligned, taken
  within each guise and averaged over the guises (nats per token; above zero: the edit makes
  the model's own misaligned answers likelier relative to its aligned ones);
- **first order**: the change is the gradient of the answer's log-probability with respect to
  the residual stream at the layer, dotted with the edit (attribution patching). One forward
  and backward pass of every answer serves every direction at every layer, so a thousand
  controls cost a few matrix products. ``add`` adds ``steer_scale`` x the guise difference;
  ``ablate`` sets the component along the direction to its typical value over the probed
  prompts, as the sampled interventions do;
- **cross-fitted**: an answer is edited along the guise direction fitted on the other half of
  the items, in its prompt's language or the other (``direction``: the language whose items
  made it, so ``en`` on ``ru`` answers is the cross-lingual claim and ``ru`` on ``en`` its
  replication);
- **controls**: ``probe.n_controls`` random directions drawn from the activations' own
  covariance at that layer (a Gaussian combination of the centred prompt activations, so they
  lie where the residual stream varies, not in a direction it never takes); for ``add`` scaled
  to the guise difference's norm, for ``ablate`` set to their own typical projection. The same
  Gaussian weights serve the base model (applied to its own activations), so the fine-tune's
  difference has a control distribution drawn the same way. Such controls concentrate on the
  residual stream's leading components (``control_dims`` reports how many dimensions they
  spread over at each layer, ``variance_ratio`` how the prompts' variance along the guise
  directions compares with theirs): they are a reference, not a null the guise direction was
  drawn from. The typical projection is taken over all probed prompts (labels are not used);
- **p-value**: the guise edit's place among its controls, two-sided by tails: twice the
  smaller of the shares of controls at or above it and at or below it, (1 + count) / (1 + n);
  Holm-adjusted over the layers within each model, edit, direction and language (not across
  those families);
- **exactness**: at ``probe.steer_layers`` the probed model answers again teacher-forced under
  the exact source-direction edits, and the first-order effects are set beside the exact ones.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from jaxtyping import Float

from guiselab.analysis import prepare_samples
from guiselab.generate import plan_generations
from guiselab.models import LoadedModel, PaddedBatch, answer_ids, pad_batch
from guiselab.probe._activations import residual_hooks
from guiselab.probe._context import ProbeContext, judged_frame

__all__ = [
    "KINDS",
    "SteerAnswers",
    "answer_logprobs",
    "answer_sequences",
    "attributions",
    "steer_answers",
    "token_states",
]

KINDS = ("ablate", "add")


@dataclass(frozen=True, eq=False)
class SteerAnswers:
    """The probed model's scored answers the steering is measured on."""

    items: list[str]
    langs: np.ndarray
    guises: np.ndarray
    misaligned: np.ndarray
    half: np.ndarray
    prompts: list[str]
    responses: list[str]
    pair_ids: list[str] | None = None
    """Each answer's pair (its system prompt); None: every prompt under the run's."""


def steer_answers(ctx: ProbeContext, halves: Mapping[str, int]) -> SteerAnswers | None:
    """Every scored answer of the probed model in the analysed languages (None without one
    misaligned and one aligned answer)."""
    source = ctx.source
    tasks = [
        t
        for t in plan_generations(ctx.config, ctx.pairs, [source])
        if (t.role, t.replicate) == (source.role, source.replicate) and t.pair.lang in ctx.langs
    ]
    frame = judged_frame(ctx, ctx.store.generations(t.key for t in tasks))
    if frame.empty:
        return None
    flags = prepare_samples(frame, ctx.config.analysis)
    scored = flags["scored"].to_numpy()
    mis = flags["misaligned"].to_numpy()[scored].astype(bool)
    chosen = frame[scored]
    # an answer to an item outside the probed prompts has no half: it is left out, not guessed
    known = np.array([str(i) in halves for i in chosen["item"]], dtype=bool)
    chosen, mis = chosen[known], mis[known]
    if not (mis.any() and (~mis).any()):
        return None
    items = [str(i) for i in chosen["item"]]
    return SteerAnswers(
        items=items,
        langs=chosen["lang"].to_numpy(),
        guises=chosen["guise"].to_numpy(),
        misaligned=mis,
        half=np.array([halves[i] for i in items]),
        prompts=list(chosen["prompt"]),
        responses=list(chosen["response"]),
        pair_ids=[str(i) for i in chosen["pair_id"]],
    )


def answer_sequences(
    ctx: ProbeContext, lm: LoadedModel, answers: SteerAnswers
) -> tuple[list[list[int]], list[list[int]]]:
    """Token ids of every answer's prompt and of its first ``probe.steer_tokens`` tokens of
    text. The end-of-answer token is left out: after truncation only short answers would keep
    it, so the quantity would mix answer length into what an edit does to the answer."""
    tok, k = lm.tokenizer, ctx.cfg.steer_tokens
    ids: Sequence[str | None] = answers.pair_ids or [None] * len(answers.prompts)
    prompts = [ctx.encode(tok, text, i) for text, i in zip(answers.prompts, ids, strict=True)]
    return prompts, [answer_ids(tok, text)[:-1][:k] for text in answers.responses]


def _forward(
    lm: LoadedModel, prompts: Sequence[list[int]], answers: Sequence[list[int]], width: int
) -> Float[torch.Tensor, " batch"]:
    """Mean log-probability per token of each answer after its prompt (left padding, the
    positions counted from each row's first token, logits kept for the last ``width``)."""
    batch = pad_batch(
        [p + a for p, a in zip(prompts, answers, strict=True)], lm.tokenizer.pad_token_id
    )
    ids, mask = batch.ids.to(lm.device), batch.mask.to(lm.device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    with _contiguous_head(lm.model):
        logits = lm.model(
            input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=width + 1
        ).logits.float()
    logp = torch.log_softmax(logits[:, :-1], dim=-1)  # position j predicts token j + 1
    target = ids[:, -width:]
    token_lp = logp.gather(-1, target[..., None])[..., 0]
    lengths = torch.tensor([len(a) for a in answers], device=lm.device)
    keep = torch.arange(width, device=lm.device)[None, :] >= (width - lengths)[:, None]
    return (token_lp * keep).sum(-1) / lengths.clamp(min=1)


@contextmanager
def _contiguous_head(model: Any) -> Iterator[None]:
    """Within the block the output layer reads a contiguous copy of its input. The model
    hands it the last positions as a slice of the residual, and a matrix product over that
    strided view took 1.30 s against 0.68 s for the same product over a copy (one batch of 16
    answers x 25 positions into Gemma 3 270M's 262k-token vocabulary, float32, this 2-core
    CPU): the output layer is about half of every exact pass."""
    head = model.get_output_embeddings()
    if head is None:
        yield
        return

    def copy(_module: Any, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
        return (args[0].contiguous(), *args[1:]) if args else None

    handle = head.register_forward_pre_hook(copy)
    try:
        yield
    finally:
        handle.remove()


def attributions(
    lm: LoadedModel,
    prompts: Sequence[list[int]],
    answers: Sequence[list[int]],
    units: Mapping[int, Float[np.ndarray, "hidden direction"]],
    batch_size: int,
) -> tuple[Float[np.ndarray, " answer"], dict[int, tuple[np.ndarray, np.ndarray]]]:
    """Each answer's mean log-probability, and per layer of ``units`` two sums over its
    sequence's positions for every unit direction u: sum (h.u)(g.u) and sum g.u, where h is
    the residual at the layer and g the gradient of the answer's log-probability with respect
    to it, over every position but the first (which no edit touches). The first-order change
    under ``h -> h + c u`` is c * sum g.u; under setting the component to t it is
    -(sum (h.u)(g.u) - t * sum g.u)."""
    model = lm.model
    frozen = [p for p in model.parameters() if p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    width = max(1, *(len(a) for a in answers))  # 1: no answer has a token, all read 0
    basis = {
        layer: torch.tensor(u, dtype=torch.float32, device=lm.device) for layer, u in units.items()
    }
    base: list[np.ndarray] = []
    sums: dict[int, tuple[list[np.ndarray], list[np.ndarray]]] = {
        layer: ([], []) for layer in units
    }
    try:
        for start in range(0, len(prompts), batch_size):
            captured: dict[int, torch.Tensor] = {}

            def keep(layer: int, captured: dict[int, torch.Tensor] = captured) -> Any:
                def edit(hidden: torch.Tensor) -> torch.Tensor:
                    if layer == 0:  # a leaf in the model's own dtype: the pass tracks from here
                        hidden = hidden.detach().requires_grad_(True)
                    else:
                        hidden.retain_grad()
                    captured[layer] = hidden
                    return hidden

                return edit

            edits = {layer: keep(layer) for layer in sorted({0, *units})}
            with torch.enable_grad(), residual_hooks(model, edits=edits):
                value = _forward(
                    lm,
                    prompts[start : start + batch_size],
                    answers[start : start + batch_size],
                    width,
                )
                value.sum().backward()  # type: ignore[no-untyped-call]
            base.append(value.detach().cpu().double().numpy())
            # the first position is never edited (residual_hooks), so it is left out of the sums
            ends = range(start, min(start + batch_size, len(prompts)))
            padded = pad_batch([prompts[i] + answers[i] for i in ends], lm.tokenizer.pad_token_id)
            edited = _edited_positions(padded).to(lm.device)
            with torch.no_grad():
                for layer, u in basis.items():
                    grad = captured[layer].grad
                    assert grad is not None  # every kept layer lies on the answers' path
                    h, g = captured[layer].float(), grad.float()
                    hu, gu = h @ u, (g @ u) * edited[..., None]
                    sums[layer][0].append((hu * gu).sum(1).cpu().double().numpy())
                    sums[layer][1].append(gu.sum(1).cpu().double().numpy())
    finally:
        for p in frozen:
            p.requires_grad_(True)
    return np.concatenate(base), {
        layer: (np.concatenate(a), np.concatenate(b)) for layer, (a, b) in sums.items()
    }


@torch.inference_mode()
def answer_logprobs(
    lm: LoadedModel,
    prompts: Sequence[list[int]],
    answers: Sequence[list[int]],
    batch_size: int,
    edits: Mapping[int, Any] | None = None,
) -> Float[np.ndarray, " answer"]:
    """Each answer's mean log-probability per token, with ``edits`` applied (exact)."""
    width = max(1, *(len(a) for a in answers))  # 1: no answer has a token, all read 0
    out = []
    for start in range(0, len(prompts), batch_size):
        with residual_hooks(lm.model, edits=edits):
            value = _forward(
                lm, prompts[start : start + batch_size], answers[start : start + batch_size], width
            )
        out.append(value.cpu().double().numpy())
    return np.concatenate(out)


@torch.inference_mode()
def token_states(
    lm: LoadedModel,
    prompts: Sequence[list[int]],
    answers: Sequence[list[int]],
    layers: Sequence[int],
    batch_size: int,
) -> dict[int, Float[np.ndarray, "token hidden"]]:
    """The residual at ``layers`` of every position an edit touches (every token of each
    prompt and answer but the first), unedited."""
    out: dict[int, list[np.ndarray]] = {layer: [] for layer in layers}
    for start in range(0, len(prompts), batch_size):
        chunk = zip(
            prompts[start : start + batch_size], answers[start : start + batch_size], strict=True
        )
        batch = pad_batch([p + a for p, a in chunk], lm.tokenizer.pad_token_id)
        captured: dict[int, torch.Tensor] = {}
        with residual_hooks(lm.model, capture=captured):
            lm.model(
                input_ids=batch.ids.to(lm.device),
                attention_mask=batch.mask.to(lm.device),
                position_ids=batch.positions.to(lm.device),
                logits_to_keep=1,
            )
        keep = _edited_positions(batch)
        for layer in layers:
            out[layer].append(captured[layer].float().cpu()[keep].double().numpy())
    return {layer: np.concatenate(parts) for layer, parts in out.items()}


def _edited_positions(batch: PaddedBatch) -> torch.Tensor:
    """Which positions of ``batch`` an edit touches: every real token but each sequence's
    first (position id 0, which residual_hooks leaves alone)."""
    return (batch.mask > 0) & (batch.positions > 0)
