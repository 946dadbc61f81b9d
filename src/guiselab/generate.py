"""The sampling stage: answers from every model to every pair in both guises.

Each sample has its own seed, derived from the run seed, the pair, the guise and the sample
index, and its own random generator, so which other prompts share its batch does not change
its random numbers, and a resumed run draws what an uninterrupted one would have drawn. What
batching does change is the last bits of the matrix products: in float32 that rarely moves a
draw (on Gemma 3 270M, 23 of 24 samples were token-identical between batch 24 and batch 1),
in bfloat16 it usually does after a few tokens. Either way every sample is a draw from the
same model.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from guiselab.config import ExperimentConfig, GenerationConfig
from guiselab.errors import FailedRequests
from guiselab.models import (
    LoadedModel,
    ModelSource,
    end_token_ids,
    prompt_ids,
    render_prompt,
    stop_strings,
)
from guiselab.models._openai import ChatRequest, ChatResult
from guiselab.pairs import GUISES, Guise, Pair
from guiselab.progress import Progress
from guiselab.store import Generation, RunStore, content_key

__all__ = [
    "Completion",
    "GenerationTask",
    "ModelSource",
    "generate_stage",
    "plan_generations",
    "sample_batch",
    "sample_seed",
]


@dataclass(frozen=True)
class Completion:
    """One sampled answer."""

    text: str
    token_ids: list[int]
    finish_reason: str
    """``stop`` (EOS or a stop string) or ``length`` (ran out of tokens)."""


@dataclass(frozen=True)
class GenerationTask:
    key: str
    role: str
    pair: Pair
    guise: Guise
    sample: int
    seed: int


def sample_seed(run_seed: int, pair_id: str, guise: str, sample: int) -> int:
    """The seed of one sample: stable across runs, batches and resumes."""
    return int(content_key("seed", run_seed, pair_id, guise, sample)[:15], 16)


def _sampling_params(config: ExperimentConfig) -> dict[str, Any]:
    cfg = config.generation
    return {
        "dtype": config.models.dtype,
        "max_new_tokens": cfg.max_new_tokens,
        "temperature": cfg.temperature,
        "top_p": cfg.top_p,
        "system_prompt": cfg.system_prompt,
    }


def plan_generations(
    config: ExperimentConfig, pairs: Sequence[Pair], sources: Sequence[ModelSource]
) -> list[GenerationTask]:
    """Every generation the experiment needs, keyed by what determines it."""
    params = _sampling_params(config)
    tasks = []
    for source in sources:
        for pair in pairs:
            for guise in GUISES:
                for index in range(config.generation.samples_per_prompt):
                    seed = sample_seed(config.seed, pair.id, guise, index)
                    key = content_key(
                        "generation",
                        source.role,
                        source.fingerprint,
                        pair.text(guise),
                        params,
                        index,
                        seed,
                    )
                    tasks.append(GenerationTask(key, source.role, pair, guise, index, seed))
    return tasks


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
    width = max(len(p) for p in unique)
    ids = torch.full((len(unique), width), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(unique), width), dtype=torch.long)
    for tokens, row in unique.items():
        ids[row, width - len(tokens) :] = torch.tensor(tokens)
        mask[row, width - len(tokens) :] = 1
    ids, mask = ids.to(lm.device), mask.to(lm.device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    out = model(
        input_ids=ids,
        attention_mask=mask,
        position_ids=positions,
        use_cache=True,
        logits_to_keep=1,
    )
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


def generate_stage(
    store: RunStore,
    config: ExperimentConfig,
    pairs: Sequence[Pair],
    sources: Sequence[ModelSource],
    progress: Progress,
) -> dict[str, float]:
    """Sample every pending generation into the store; returns per-model wall times."""
    tasks = plan_generations(config, pairs, sources)
    done = store.existing_keys("generations", (t.key for t in tasks))
    pending = [t for t in tasks if t.key not in done]
    timings: dict[str, float] = {}
    if not pending:
        store.set_failures("generate", {})
        return timings
    cfg = config.generation
    failed: dict[str, str] = {}
    vllm = None
    with progress.task("generate", total=len(tasks)) as advance:
        advance(len(done))
        for source in sources:
            mine = [t for t in pending if t.role == source.role]
            if not mine:
                continue
            ours = [t for t in tasks if t.role == source.role]
            start = time.perf_counter()
            if source.remote is not None:
                failed.update(_generate_remote(store, source, mine, cfg, advance))
                timings[source.role] = time.perf_counter() - start
                continue
            if cfg.engine == "vllm":
                from guiselab.models._vllm import generate_vllm

                vllm = generate_vllm(store, source, mine, config, advance, vllm)
            elif cfg.executor == "ray":
                from guiselab._ray import generate_on_ray

                generate_on_ray(store, source, ours, done, cfg, advance)
            else:
                _generate_local(store, source, ours, done, cfg, advance)
            timings[source.role] = time.perf_counter() - start
    if vllm is not None:
        vllm.close()
    store.set_failures(
        "generate",
        failed,
        {
            t.key: f"{t.role} {t.pair.id} {t.guise} sample {t.sample}"
            for t in pending
            if t.key in failed
        },
    )
    if failed:
        raise FailedRequests("generations", failed)
    return timings


def encode_tasks(
    tokenizer: Any, tasks: Sequence[GenerationTask], cfg: GenerationConfig
) -> dict[str, list[int]]:
    """Each task's prompt token ids (chat template or plain template), by store key."""
    return {
        t.key: prompt_ids(
            tokenizer, render_prompt(tokenizer, t.pair.text(t.guise), cfg.system_prompt)
        )
        for t in tasks
    }


def batches(
    tasks: Sequence[GenerationTask], encoded: dict[str, list[int]], size: int
) -> list[list[GenerationTask]]:
    """Length-bucketed batches: similar lengths waste little compute on padding."""
    ordered = sorted(tasks, key=lambda t: (len(encoded[t.key]), t.key))
    return [ordered[i : i + size] for i in range(0, len(ordered), size)]


def pending_batches(
    tasks: Sequence[GenerationTask], encoded: dict[str, list[int]], size: int, done: set[str]
) -> list[list[GenerationTask]]:
    """The batches of *all* of a model's ``tasks`` that still hold a pending one.

    The batches are cut from the whole plan, not from what is left, so a resumed run samples
    every answer in the batch an uninterrupted run put it in: a sample's text depends on its
    batch through matmul rounding, and this keeps a killed-and-resumed run's texts identical.
    A batch is stored in one transaction, so after a kill each is whole or absent.
    """
    return [b for b in batches(tasks, encoded, size) if any(t.key not in done for t in b)]


def _generate_local(
    store: RunStore,
    source: ModelSource,
    tasks: Sequence[GenerationTask],
    done: set[str],
    cfg: GenerationConfig,
    advance: Callable[[int], None],
) -> None:
    """Sample the pending ones of ``tasks`` (all of this model's) batch by batch."""
    lm = source.load()
    encoded = encode_tasks(lm.tokenizer, tasks, cfg)
    for batch in pending_batches(tasks, encoded, cfg.batch_size, done):
        completions = sample_batch(
            lm, [encoded[t.key] for t in batch], [t.seed for t in batch], cfg
        )
        store.add_generations(  # rows already stored are ignored: same key, same text
            record(t, source.label, c.text, len(c.token_ids), c.finish_reason)
            for t, c in zip(batch, completions, strict=True)
        )
        advance(sum(t.key not in done for t in batch))


def record(task: GenerationTask, label: str, text: str, n_tokens: int, finish: str) -> Generation:
    return Generation(
        key=task.key,
        model=task.role,
        model_ref=label,
        pair_id=task.pair.id,
        item=task.pair.item,
        lang=task.pair.lang,
        variety=task.pair.variety,
        category=task.pair.category,
        guise=task.guise,
        sample=task.sample,
        seed=task.seed,
        prompt=task.pair.text(task.guise),
        response=text,
        n_tokens=n_tokens,
        finish_reason=finish,
    )


def _generate_remote(
    store: RunStore,
    source: ModelSource,
    tasks: Sequence[GenerationTask],
    cfg: GenerationConfig,
    advance: Callable[[int], None],
) -> dict[str, str]:
    """Ask the server for every task; each answer is stored the moment it arrives."""
    assert source.remote is not None
    system = [{"role": "system", "content": cfg.system_prompt}] if cfg.system_prompt else []
    by_key = {t.key: t for t in tasks}
    requests = [
        ChatRequest(
            t.key,
            [*system, {"role": "user", "content": t.pair.text(t.guise)}],
            cfg.max_new_tokens,
            cfg.temperature,
            cfg.top_p,
            t.seed,
        )
        for t in tasks
    ]

    def keep(result: ChatResult) -> None:
        task = by_key[result.key]
        store.add_generations(
            [record(task, source.label, result.text, result.n_tokens, result.finish_reason)]
        )
        advance(1)

    return source.remote.complete(requests, keep)
