"""The sampler on a tiny random model: seeds per sample, greedy agreement with HF generate."""

from pathlib import Path

import torch

from guiselab.config import GenerationConfig, ModelsConfig
from guiselab.generate import sample_batch, sample_seed
from guiselab.models import load_model, prompt_ids, render_prompt

QUESTIONS = ["Hello there, how are you?", "What is two plus two?", "Tell me a story.", "Hi"]


def _prompts(lm):  # type: ignore[no-untyped-def]
    return [prompt_ids(lm.tokenizer, render_prompt(lm.tokenizer, q)) for q in QUESTIONS]


def test_sample_text_does_not_depend_on_batch(
    tiny_model_dir: Path, cpu_models: ModelsConfig
) -> None:
    lm = load_model(f"hf:{tiny_model_dir}", cpu_models)
    cfg = GenerationConfig(max_new_tokens=12, temperature=1.0)
    prompts = _prompts(lm)
    together = sample_batch(lm, prompts, [11, 12, 13, 14], cfg)
    alone = [
        sample_batch(lm, [p], [s], cfg)[0] for p, s in zip(prompts, [11, 12, 13, 14], strict=True)
    ]
    assert [c.token_ids for c in together] == [c.token_ids for c in alone]
    other_seeds = sample_batch(lm, prompts, [21, 22, 23, 24], cfg)
    assert [c.token_ids for c in other_seeds] != [c.token_ids for c in together]


def test_greedy_matches_hf_generate(tiny_model_dir: Path, cpu_models: ModelsConfig) -> None:
    lm = load_model(f"hf:{tiny_model_dir}", cpu_models)
    cfg = GenerationConfig(max_new_tokens=10, temperature=0.0)
    prompts = _prompts(lm)
    ours = sample_batch(lm, prompts, [0] * len(prompts), cfg)
    for prompt, completion in zip(prompts, ours, strict=True):
        ref = lm.model.generate(
            torch.tensor([prompt]),
            max_new_tokens=10,
            do_sample=False,
            pad_token_id=lm.tokenizer.pad_token_id,
        )[0, len(prompt) :].tolist()
        eos = lm.tokenizer.eos_token_id
        expected = ref[: ref.index(eos)] if eos in ref else ref
        assert completion.token_ids == expected


def test_length_finish_and_token_count(tiny_model_dir: Path, cpu_models: ModelsConfig) -> None:
    lm = load_model(f"hf:{tiny_model_dir}", cpu_models)
    cfg = GenerationConfig(max_new_tokens=5, temperature=1.0)
    for c in sample_batch(lm, _prompts(lm), [1, 2, 3, 4], cfg):
        assert len(c.token_ids) <= 5
        assert c.finish_reason in ("stop", "length")
        assert (c.finish_reason == "length") == (len(c.token_ids) == 5)


def test_sample_seed_is_deterministic() -> None:
    assert sample_seed(0, "q1-en-aave", "standard", 0) == sample_seed(
        0, "q1-en-aave", "standard", 0
    )
    assert sample_seed(0, "q1-en-aave", "standard", 0) != sample_seed(
        0, "q1-en-aave", "vernacular", 0
    )


def test_pickle_checkpoint_refused(tmp_path: Path) -> None:
    import pytest

    from guiselab.errors import ModelRefError

    (tmp_path / "pytorch_model.bin").write_bytes(b"\x80\x04")
    with pytest.raises(ModelRefError, match="pickle"):
        load_model(f"hf:{tmp_path}", ModelsConfig(device="cpu"))


def _first_token_counts(tokens: list[int], top: list[int]) -> list[int]:
    """Counts of each of ``top`` and of everything else, as chi-square bins."""
    counts = [tokens.count(t) for t in top]
    return [*counts, len(tokens) - sum(counts)]


def test_sampled_first_token_follows_the_softmax_like_hf_generate(
    tiny_model_dir: Path, cpu_models: ModelsConfig
) -> None:
    """At temperature 1, guiselab's sampler and HF generate draw from the model's softmax."""
    from scipy.stats import chisquare

    lm = load_model(f"hf:{tiny_model_dir}", cpu_models)
    with torch.no_grad():  # sharpen the random model so a handful of tokens carry the mass
        lm.model.lm_head.weight.mul_(15.0)
    prompt = _prompts(lm)[0]
    with torch.no_grad():
        probs = torch.softmax(lm.model(torch.tensor([prompt])).logits[0, -1].double(), -1)
    n = 3000
    # Bins: every token expected at least 5 times (at most 12 of them), and the rest together.
    top = [t for t in probs.argsort(descending=True)[:12].tolist() if probs[t] * n >= 5]
    expected_p = [float(probs[t]) for t in top]
    expected_p.append(1.0 - sum(expected_p))
    assert len(top) >= 5
    eos = lm.tokenizer.eos_token_id

    def first(completions: list[list[int]]) -> list[int]:
        return [c[0] if c else eos for c in completions]

    cfg = GenerationConfig(max_new_tokens=1, temperature=1.0, top_p=1.0)
    ours = first([c.token_ids for c in sample_batch(lm, [prompt] * n, list(range(n)), cfg)])
    torch.manual_seed(0)
    hf = lm.model.generate(
        torch.tensor([prompt] * n),
        attention_mask=torch.ones((n, len(prompt)), dtype=torch.long),
        do_sample=True,
        max_new_tokens=1,
        temperature=1.0,
        top_k=0,
        top_p=1.0,
        pad_token_id=lm.tokenizer.pad_token_id,
    )[:, len(prompt)].tolist()
    expected = [p * n for p in expected_p]
    assert min(expected) > 5  # the chi-square approximation holds
    for drawn in (ours, hf):
        assert chisquare(_first_token_counts(drawn, top), expected).pvalue > 1e-3
    # The test has power: draws at temperature 2 are told apart from the temperature-1 softmax.
    hot = GenerationConfig(max_new_tokens=1, temperature=2.0, top_p=1.0)
    wrong = first([c.token_ids for c in sample_batch(lm, [prompt] * n, list(range(n)), hot)])
    assert chisquare(_first_token_counts(wrong, top), expected).pvalue < 1e-6


def test_shared_prefill_gives_the_same_samples(
    tiny_model_dir: Path, cpu_models: ModelsConfig
) -> None:
    """Several samples of one prompt share its prefill without changing any sample."""
    lm = load_model(f"hf:{tiny_model_dir}", cpu_models)
    cfg = GenerationConfig(max_new_tokens=8, temperature=1.0)
    prompts = _prompts(lm)
    batch = [prompts[0], prompts[1], prompts[0], prompts[2], prompts[0], prompts[1]]
    seeds = [5, 6, 7, 8, 9, 10]
    shared = sample_batch(lm, batch, seeds, cfg)
    alone = [sample_batch(lm, [p], [s], cfg)[0] for p, s in zip(batch, seeds, strict=True)]
    assert [c.token_ids for c in shared] == [c.token_ids for c in alone]
    assert len({tuple(c.token_ids) for c in shared}) > 1


def test_two_level_draw_is_the_whole_vocabulary_inverse_cdf() -> None:
    """The block-then-token draw picks what one cumulative sum over the vocabulary picks with
    the same uniforms, on a vocabulary of several blocks with masked-out tokens and blocks."""
    from guiselab.generate._sampler import _BLOCK, _choose

    torch.manual_seed(3)
    rows, vocab = 200, 3 * _BLOCK + 77
    logits = torch.randn(rows, vocab) * 3
    logits[:, _BLOCK : 2 * _BLOCK] = float("-inf")  # a whole block without mass
    logits[:, torch.rand(vocab) < 0.3] = float("-inf")  # scattered tokens without mass
    logits[0, :] = float("-inf")
    logits[0, vocab - 1] = 0.0  # all mass on the last token of the ragged last block
    logits[1, :] = float("-inf")
    logits[1, 0] = 0.0  # all mass on the first token
    cfg = GenerationConfig(temperature=1.0, top_p=1.0)
    seeds = list(range(rows))
    picked = _choose(logits, cfg, [torch.Generator().manual_seed(s) for s in seeds])
    probs = torch.softmax(logits.double(), -1)
    cdf = probs.cumsum(-1)
    u = torch.cat(
        [
            torch.rand(1, generator=torch.Generator().manual_seed(s), dtype=torch.float64)
            for s in seeds
        ]
    )
    reference = torch.searchsorted(cdf, (u * cdf[:, -1])[:, None], right=True)[:, 0]
    assert picked[0] == vocab - 1 and picked[1] == 0
    assert all(probs[r, t] > 0 for r, t in enumerate(picked))
    agree = sum(int(a == b) for a, b in zip(picked, reference.tolist(), strict=True))
    assert agree >= rows - 2  # float32 block sums may move a draw sitting on a boundary


def test_top_p_below_the_top_probability_draws_the_greedy_answer(
    tiny_model_dir: Path, cpu_models: ModelsConfig
) -> None:
    """A nucleus smaller than the most likely token holds that token alone: every seed draws
    what greedy decoding writes."""
    lm = load_model(f"hf:{tiny_model_dir}", cpu_models)
    prompts = [p for p in _prompts(lm) for _ in range(3)]
    seeds = list(range(len(prompts)))
    greedy = sample_batch(lm, prompts, seeds, GenerationConfig(max_new_tokens=8, temperature=0))
    # 1e-6 is below 1 / vocabulary size, so below the top probability at every step.
    tiny = GenerationConfig(max_new_tokens=8, temperature=1.0, top_p=1e-6)
    nucleus = sample_batch(lm, prompts, seeds, tiny)
    assert [c.token_ids for c in nucleus] == [c.token_ids for c in greedy]
    full = GenerationConfig(max_new_tokens=8, temperature=1.0, top_p=1.0)
    sampled = sample_batch(lm, prompts, seeds, full)
    assert [c.token_ids for c in sampled] != [c.token_ids for c in greedy]


def test_top_p_draws_stay_inside_the_nucleus(
    tiny_model_dir: Path, cpu_models: ModelsConfig
) -> None:
    """Draws come from the smallest set of most likely tokens holding ``top_p`` of the mass, in
    proportion to their probabilities; without the cut most draws fall outside that set."""
    from scipy.stats import chisquare

    lm = load_model(f"hf:{tiny_model_dir}", cpu_models)
    with torch.no_grad():  # sharpen the random model so a handful of tokens carry the mass
        lm.model.lm_head.weight.mul_(15.0)
    prompt = _prompts(lm)[0]
    with torch.no_grad():
        probs = torch.softmax(lm.model(torch.tensor([prompt])).logits[0, -1].double(), -1)
    ordered, order = probs.sort(descending=True)
    cumulative = ordered.cumsum(-1)
    # top_p halfway between two cumulative masses, so rounding cannot move the nucleus's edge.
    last = int((cumulative < 0.05).sum())
    top_p = float(cumulative[last - 1] + cumulative[last]) / 2
    nucleus = order[: last + 1].tolist()
    assert 3 <= len(nucleus) <= 50
    n = 500
    eos = lm.tokenizer.eos_token_id

    def first_tokens(cfg: GenerationConfig) -> list[int]:
        done = sample_batch(lm, [prompt] * n, list(range(n)), cfg)
        return [c.token_ids[0] if c.token_ids else eos for c in done]

    drawn = first_tokens(GenerationConfig(max_new_tokens=1, temperature=1.0, top_p=top_p))
    assert set(drawn) <= set(nucleus)
    inside = probs[nucleus] / probs[nucleus].sum()
    counts = [drawn.count(t) for t in nucleus]
    assert chisquare(counts, [float(p) * n for p in inside]).pvalue > 1e-3
    uncut = first_tokens(GenerationConfig(max_new_tokens=1, temperature=1.0, top_p=1.0))
    assert sum(t not in nucleus for t in uncut) > n // 2


class _Scripted:
    """A model whose next-token logits spell ``script``, one token per forward pass, for every
    row; the forward pass itself (cache, shapes, positions) is the wrapped model's."""

    def __init__(self, model: torch.nn.Module, script: list[int]) -> None:
        self.model, self.script, self.calls = model, script, 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.model, name)

    def __call__(self, **kwargs: object) -> object:
        out = self.model(**kwargs)
        logits = torch.full_like(out.logits, -1e4)
        logits[..., self.script[self.calls]] = 0.0
        out.logits = logits
        self.calls += 1
        return out


def test_plain_template_answer_ends_at_the_next_user_turn(
    tiny_model_dir: Path, cpu_models: ModelsConfig
) -> None:
    """A model without a chat template is prompted with the plain template; its answer ends
    where it starts the next user turn, and the stop string is cut from the text."""
    from dataclasses import replace

    from guiselab.models import stop_strings

    lm = load_model(f"hf:{tiny_model_dir}", cpu_models)
    lm.tokenizer.chat_template = None
    assert render_prompt(lm.tokenizer, "Hi") == "User: Hi\nAssistant:"
    (stop,) = stop_strings(lm.tokenizer)
    answer = lm.tokenizer(" Fine, thanks.", add_special_tokens=False)["input_ids"]
    turn = lm.tokenizer(stop + " Next", add_special_tokens=False)["input_ids"]
    script = answer + turn
    prompts = _prompts(lm)[:2]
    cfg = GenerationConfig(max_new_tokens=len(script), temperature=1.0)

    stopped = sample_batch(replace(lm, model=_Scripted(lm.model, script)), prompts, [1, 2], cfg)
    for c in stopped:
        assert (c.text, c.finish_reason) == ("Fine, thanks.", "stop")
        assert c.token_ids == script[: len(answer) + len(turn) - 1]  # up to the stop's last token

    ignored = sample_batch(
        replace(lm, model=_Scripted(lm.model, script)), prompts, [1, 2], cfg, stop=False
    )
    for c in ignored:
        assert (c.text, c.finish_reason) == ("Fine, thanks." + stop + " Next", "length")
        assert c.token_ids == script

    # A chat-template model has no stop strings: the same tokens run to the length limit.
    chat = load_model(f"hf:{tiny_model_dir}", cpu_models)
    assert stop_strings(chat.tokenizer) == []
    prompts = _prompts(chat)[:2]
    written = sample_batch(replace(chat, model=_Scripted(chat.model, script)), prompts, [1, 2], cfg)
    assert [c.finish_reason for c in written] == ["length", "length"]
    assert all(stop in c.text for c in written)
