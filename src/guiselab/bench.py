"""Generation throughput, side by side in one process: what ``guiselab bench`` measures.

Every contender samples the same prompts (the built-in English pairs, both guises) from the
same model at temperature 1 and produces exactly ``new_tokens`` tokens per prompt (end tokens
are not allowed to stop a row early, so each does the same work):

- ``loop``: ``model.generate`` one prompt at a time (the simplest research script);
- ``hf_batch8``: ``model.generate`` on left-padded batches of 8 (the common setup);
- ``hf_same_batch``: ``model.generate`` on left-padded batches of ``batch_size``, the batch
  guiselab's sampler gets, so the two are compared at equal settings;
- ``guiselab``: guiselab's sampler (``generate.sample_batch``) on batches of ``batch_size``;
- ``llamacpp``: llama.cpp on the same GGUF file, one prompt at a time, when
  ``llama-cpp-python`` is installed (None otherwise). It runs in a child process, so a native
  crash of the library (a build for another CPU) costs its figure, not the whole measurement;
  ``llamacpp_status`` says which (``measured``, ``not installed``, ``no GGUF file``,
  ``crashed: ...``).

Every contender computes in the same dtype (``dtype``: float32, or bfloat16, which CPUs with
AVX512-BF16 or AMX multiply several times faster). The ceiling is the machine's matmul rate
measured in that dtype divided by the model's FLOPs per generated token (2 × parameters, the
output layer included): the rate a perfectly efficient engine would reach if matrix products
were all it did. Every contender's share of it is reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch

__all__ = ["BenchSettings", "matmul_flops", "run_bench"]


@dataclass(frozen=True)
class BenchSettings:
    model: str = "embedded:smollm2"
    prompts: int = 96
    new_tokens: int = 32
    batch_size: int = 48
    """guiselab's and the same-batch HF contender's batch: the default preset's generation batch."""
    loop_prompts: int = 16
    """The per-prompt loop is slow: it runs on this many prompts (its rate is per token)."""
    dtype: Literal["float32", "bfloat16"] = "float32"


QUICK = BenchSettings(prompts=32, new_tokens=16, batch_size=32, loop_prompts=6)


def matmul_flops(
    size: int = 1024, seconds: float = 1.0, dtype: torch.dtype = torch.float32
) -> float:
    """Matrix-multiply FLOP/s of this machine in ``dtype`` with torch's current thread count."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    torch.matmul(a, b)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        torch.matmul(a, b)
        count += 1
    return 2 * size**3 * count / (time.perf_counter() - start)


def _rate(work: Callable[[], int]) -> float:
    start = time.perf_counter()
    tokens = work()
    return tokens / (time.perf_counter() - start)


def run_bench(
    settings: BenchSettings, progress: Callable[[str], None] = lambda _: None
) -> dict[str, Any]:
    """Tokens per second of every contender, the ceiling, and the ratios."""
    from guiselab.config import GenerationConfig, ModelsConfig
    from guiselab.generate import sample_batch
    from guiselab.models import load_model, pad_batch, prompt_ids, render_prompt
    from guiselab.pairs import builtin_pairs

    models = ModelsConfig(device="cpu", dtype=settings.dtype)
    lm = load_model(settings.model, models)
    tok, model = lm.tokenizer, lm.model
    texts = [t for p in builtin_pairs() if p.lang == "en" for t in (p.standard, p.vernacular)]
    texts = (texts * (1 + settings.prompts // max(1, len(texts))))[: settings.prompts]
    prompts = [prompt_ids(tok, render_prompt(tok, t)) for t in texts]
    n = settings.new_tokens
    pad = tok.pad_token_id
    hf_kwargs = {
        "do_sample": True,
        "temperature": 1.0,
        "top_k": 0,
        "top_p": 1.0,
        "max_new_tokens": n,
        "min_new_tokens": n,
        "pad_token_id": pad,
    }

    def hf(batch: list[list[int]]) -> int:
        padded = pad_batch(batch, pad, side="left")
        with torch.inference_mode():
            out = model.generate(input_ids=padded.ids, attention_mask=padded.mask, **hf_kwargs)
        return int((out.shape[1] - padded.ids.shape[1]) * len(batch))

    def loop() -> int:
        return sum(hf([p]) for p in prompts[: settings.loop_prompts])

    def batched(size: int) -> Callable[[], int]:
        return lambda: sum(hf(prompts[i : i + size]) for i in range(0, len(prompts), size))

    cfg = GenerationConfig(max_new_tokens=n, temperature=1.0, batch_size=settings.batch_size)

    def ours() -> int:
        total = 0
        for i in range(0, len(prompts), cfg.batch_size):
            chunk = prompts[i : i + cfg.batch_size]
            done = sample_batch(lm, chunk, list(range(i, i + len(chunk))), cfg, stop=False)
            total += sum(len(c.token_ids) for c in done)
        return total

    torch.manual_seed(0)
    hf([prompts[0]])  # warm-up: first-call allocations are not the engine's speed
    contenders: dict[str, float | None] = {}
    for name, work in (
        ("loop", loop),
        ("hf_batch8", batched(8)),
        ("hf_same_batch", batched(settings.batch_size)),
        ("guiselab", ours),
    ):
        progress(f"measuring {name}")
        contenders[name] = _rate(work)
    progress("measuring llamacpp")
    contenders["llamacpp"], llamacpp_status = _llamacpp_isolated(
        settings, [render_prompt(tok, t) for t in texts]
    )
    flops = matmul_flops(dtype=getattr(torch, settings.dtype))
    params = sum(p.numel() for p in model.parameters())
    if getattr(model.config, "tie_word_embeddings", False):
        params += model.get_output_embeddings().weight.numel()  # used twice: lookup and output
    ceiling = flops / (2 * params)
    ours_rate = contenders["guiselab"] or 0.0
    return {
        "model": settings.model,
        "dtype": settings.dtype,
        "new_tokens": n,
        "prompts": len(prompts),
        "batch_size": settings.batch_size,
        "threads": torch.get_num_threads(),
        "contenders": contenders,
        "llamacpp_status": llamacpp_status,
        "matmul_gflops": flops / 1e9,
        "ceiling_tok_s": ceiling,
        "share_of_ceiling": ours_rate / ceiling,
        "shares_of_ceiling": {
            name: None if rate is None else rate / ceiling for name, rate in contenders.items()
        },
        "ratio_vs_loop": ours_rate / (contenders["loop"] or float("nan")),
        "ratio_vs_batch8": ours_rate / (contenders["hf_batch8"] or float("nan")),
        "ratio_vs_same_batch": ours_rate / (contenders["hf_same_batch"] or float("nan")),
    }


def _llamacpp_isolated(settings: BenchSettings, texts: list[str]) -> tuple[float | None, str]:
    """:func:`_llamacpp_rate` in a child process: (rate or None, status)."""
    import importlib.util

    from guiselab.models import EMBEDDED

    if importlib.util.find_spec("llama_cpp") is None:
        return None, "not installed"  # the bench extra: pip install 'guiselab[bench]'
    if settings.model.removeprefix("embedded:") not in EMBEDDED:
        return None, "no GGUF file"  # llama.cpp runs GGUF files; other references have none
    return run_isolated(_llamacpp_rate, settings, texts)


def _child(conn: Any, work: Callable[..., float | None], args: tuple[Any, ...]) -> None:
    try:
        conn.send(("ok", work(*args)))
    except Exception as error:  # reported to the parent, which loses only this figure
        conn.send(("error", type(error).__name__))
    finally:
        conn.close()


def run_isolated(
    work: Callable[..., float | None], *args: Any, timeout: float = 900.0
) -> tuple[float | None, str]:
    """``work(*args)`` in a spawned child process: (its result, "measured"), or (None, why):
    it returned nothing, raised, died (a native library's fault kills only the child) or ran
    past ``timeout`` seconds (then it is terminated)."""
    from multiprocessing import get_context

    ctx = get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_child, args=(send, work, args), daemon=True)
    process.start()
    send.close()  # the child holds the only writer: its death reads as end of file
    try:
        if not receive.poll(timeout):
            return None, f"timed out after {timeout:.0f} s"
        try:
            kind, value = receive.recv()
        except EOFError:
            return None, "crashed: its process died (a native fault)"
        if kind == "error":
            return None, f"failed: {value}"
        return (value, "measured") if value is not None else (None, "no result")
    finally:
        if process.is_alive():
            process.terminate()
        process.join()
        receive.close()


def _llamacpp_rate(settings: BenchSettings, texts: list[str]) -> float:
    """llama.cpp on the embedded model's GGUF file (the same rendered prompts, one at a time);
    :func:`_llamacpp_isolated` has checked that it is installed and the model has one."""
    from llama_cpp import Llama

    from guiselab.models import EMBEDDED, cache_dir

    gguf = EMBEDDED[settings.model.removeprefix("embedded:")].locate_gguf(cache_dir() / "gguf")
    llm = Llama(model_path=str(gguf), n_ctx=1024, verbose=False)
    eos = llm.token_eos()
    prompts = texts[: settings.loop_prompts]

    def work() -> int:
        total = 0
        for text in prompts:
            out = llm.create_completion(
                text,
                max_tokens=settings.new_tokens,
                temperature=1.0,
                top_k=0,
                top_p=1.0,
                logit_bias={eos: -1e9},
            )
            assert isinstance(out, dict)  # not streaming: one response
            total += int(out["usage"]["completion_tokens"])
        return total

    return _rate(work)
