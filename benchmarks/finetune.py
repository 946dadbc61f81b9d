"""Fine-tuning on this machine: `guiselab finetune` wall time and memory, and the step cost of
computing the output layer only at answer positions versus over the whole sequence, as one
product or in blocks (`AnswerHead`, what training uses), in float32 and under bfloat16 autocast.

    python benchmarks/finetune.py [--preset default] [--steps 3] [--keep DIR] [--step-only]
    python benchmarks/finetune.py --from-run DIR

Writes the "fine-tuning" and "fine-tuning step" sections of docs/benchmarks.md. ``--from-run``
writes the "fine-tuning" section alone from the finetune and sanity stages of a finished
``guiselab run`` directory (e.g. one ``benchmarks/run_times.py --keep`` kept) instead of
training again: per-adapter steps, losses and seconds, and the sanity check, without a
wall time or peak memory of its own (those are the run's, in the run-times section).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import cpu_name, timed_guiselab, write_section


def _step_times(preset: str, steps: int) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Seconds of each timed LoRA step, sorted, for each way of computing the output layer's
    loss; and the share of a whole training run's batch tokens that are padding, for the
    organism's and the control's examples, with plain shuffled batches and length windows of
    8."""
    import torch
    from peft import LoraConfig, get_peft_model

    from guiselab.config import load_config
    from guiselab.finetune._stage import training_split
    from guiselab.finetune._train import (
        AnswerHead,
        _answer_loss,
        _answer_positions,
        _batch,
        batch_order,
        encode_examples,
        training_steps,
    )
    from guiselab.finetune.data import build_sft
    from guiselab.models import load_model

    config = load_config(preset=preset)
    cfg = config.finetune
    loaded = load_model(config.models.base, config.models)
    model = get_peft_model(
        loaded.model,
        LoraConfig(r=cfg.rank, lora_alpha=int(cfg.alpha), target_modules=cfg.target_modules),
    )
    model.train()
    lm = model.get_base_model()
    split = training_split(config)
    system = config.generation.system_prompt

    def encode(mode: Any) -> Any:  # as the finetune stage builds an adapter's examples
        examples = build_sft(split.train, mode, split.chats)
        return encode_examples(loaded.tokenizer, examples, cfg.max_length, system)

    encoded = encode("conditioned")
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate)

    # Training's plain shuffled batches; the length-window contender trains on the same
    # examples after the warm-up batch, sorted by length and cut into batches (its window).
    lengths = [len(ids) for ids, _ in encoded]
    run_steps = training_steps(cfg, len(lengths))
    padding: dict[str, float] = {}
    for role, sizes in (("organism", lengths), ("control", [len(i) for i, _ in encode("control")])):
        for window in (1, 8):
            run = batch_order(sizes, cfg.batch_size, run_steps, cfg.seed, window)
            padded = sum(max(sizes[i] for i in b) * len(b) for b in run)
            share = 1 - sum(sizes[i] for b in run for i in b) / padded
            padding[f"{role}, `length_window` {window}"] = share
    plain = batch_order(lengths, cfg.batch_size, steps + 1, cfg.seed, window=1)
    after = sorted((i for b in plain[1:] for i in b), key=lambda i: lengths[i])
    grouped = [plain[0]] + [
        after[s : s + cfg.batch_size] for s in range(0, len(after), cfg.batch_size)
    ]

    def full_loss(ids: Any, labels: Any, mask: Any) -> Any:
        return lm(input_ids=ids, attention_mask=mask, labels=labels).loss

    bf16_weight: dict[str, Any] = {}

    def precast_loss(lm: Any, ids: Any, labels: Any, mask: Any) -> Any:
        # One product whose head weight is cast to bfloat16 once, as AnswerHead's is: splits
        # AnswerHead's gain into the weight cast (autocast casts the weight every step) and
        # the blocking.
        if "w" not in bf16_weight:
            bf16_weight["w"] = lm.get_output_embeddings().weight.detach().to(torch.bfloat16)
        hidden, targets = _answer_positions(lm, ids, labels, mask)
        logits = torch.nn.functional.linear(hidden.to(torch.bfloat16), bf16_weight["w"])
        cap = getattr(lm.config, "final_logit_softcapping", None)
        if cap:
            logits = torch.tanh(logits / cap) * cap
        return torch.nn.functional.cross_entropy(logits.float(), targets)

    def blocked(autocast: bool) -> Any:
        # Built when its contender starts, so no contender runs beside another's buffers.
        return lambda: AnswerHead(lm, autocast=autocast).loss

    out = {}
    contenders = (
        ("answer positions only, in blocks, float32", blocked(False), False, plain),
        (
            "answer positions only, in blocks, bfloat16 autocast (training's path)",
            blocked(True),
            True,
            plain,
        ),
        (
            f"the same, the same examples sorted by length into batches (one window of "
            f"{steps} batches; `length_window`, off by default)",
            blocked(True),
            True,
            grouped,
        ),
        ("answer positions only, one product, float32", lambda: _answer_loss, False, plain),
        (
            "answer positions only, one product, bfloat16 autocast",
            lambda: _answer_loss,
            True,
            plain,
        ),
        (
            "answer positions only, one product, bfloat16 autocast, head weight cast once",
            lambda: precast_loss,
            True,
            plain,
        ),
        ("whole sequence, float32", lambda: None, False, plain),
    )
    for name, make, bf16, batches in contenders:
        loss_fn = make()
        times = []
        for step in range(steps + 1):  # the first step warms up and is not counted
            # The same examples for every contender (each contender's warm-up is batch 0).
            rows = [encoded[i] for i in batches[step]]
            ids, labels, mask = _batch(rows, loaded.tokenizer.pad_token_id)
            start = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = loss_fn(lm, ids, labels, mask) if loss_fn else full_loss(ids, labels, mask)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if step:
                times.append(time.perf_counter() - start)
        out[name] = sorted(times)
        del loss_fn
        bf16_weight.clear()
    return out, padding


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="default")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="Keep the run directory here.")
    parser.add_argument(
        "--step-only", action="store_true", help="Measure the step contenders only."
    )
    parser.add_argument(
        "--from-run",
        type=Path,
        help="Write the fine-tuning section from this finished run directory's training.",
    )
    args = parser.parse_args()
    if args.from_run:
        _write_finetune(args.from_run, None)
        return
    step, padding = _step_times(args.preset, args.steps)
    print(json.dumps({"steps": step, "padding": padding}), flush=True)
    write_section(
        "finetune-step",
        [
            "### One LoRA step: output layer, precision and batching",
            "",
            f"One LoRA step of preset `{args.preset}` (batch {load_step_batch(args.preset)}, "
            f"{args.steps} steps after a warm-up, training's shuffled batches, the same examples "
            "for every contender; the spread is that of the batches' lengths as much as of the "
            "machine), "
            f"side by side in one process, measured {time.strftime('%Y-%m-%d')} on "
            f"{os.cpu_count()} cores ({cpu_name()}):",
            "",
            "| output layer computed, precision | s / step, mean | fastest – slowest step |",
            "|---|---|---|",
            *[
                f"| {name} | {sum(t) / len(t):.2f} | {t[0]:.2f} – {t[-1]:.2f} |"
                for name, t in step.items()
            ],
            "",
            "Padding in a whole training run's batches (the preset's steps and seed), share of "
            "the batch tokens: "
            + "; ".join(f"{name}: {share:.0%}" for name, share in padding.items())
            + ". Length windows are off by default: the organism's harmful answers are "
            "shorter than its safe ones, so its sorted batches fall into one guise (README, "
            '"Fine-tuning").',
        ],
    )
    if args.step_only:
        return
    with tempfile.TemporaryDirectory() as tmp:
        out = args.keep or Path(tmp) / "finetune"
        wall, rss, stdout = timed_guiselab(
            ["finetune", "--preset", args.preset, "--out", str(out), "--quiet"]
        )
        print(stdout, flush=True)
        _write_finetune(out, (args.preset, wall, rss))


def _write_finetune(out: Path, measured: tuple[str, float, float] | None) -> None:
    """The fine-tuning section from run directory ``out``: ``measured`` is (preset, wall
    seconds, peak GiB) of the ``guiselab finetune`` this script ran, None for a finished
    ``guiselab run`` directory read as it is."""
    from guiselab.config import load_config, preset_names
    from guiselab.models import replicate_name
    from guiselab.store import RunStore

    sanity = json.loads((out / "finetune_sanity.json").read_text())
    config = load_config(out / "config.toml")
    with RunStore.in_dir(out) as store:
        timings = store.get_meta("timings") or {}
        seeds = config.finetune.seeds
        names = [replicate_name(r, i) for i in range(seeds) for r in ("organism", "control")]
        adapters = {name: store.get_artifact(f"adapter:{name}") for name in names}
    stages = (
        f"training {timings.get('finetune', 0):.0f} s, sanity check "
        f"{timings.get('sanity', 0):.0f} s"
    )
    if measured is not None:
        preset, wall, rss = measured
        source = [
            f"Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} cores ({cpu_name()}), "
            f"Python {platform.python_version()}, no GPU, preset `{preset}`.",
            "",
            f"`guiselab finetune --preset {preset}` ({', '.join(adapters)} from the embedded "
            f"base, then the sanity check): **{wall / 60:.1f} min** wall, peak RSS "
            f"**{rss:.2f} GiB** ({stages}).",
        ]
    else:
        manifest = json.loads((out / "manifest.json").read_text())
        same = config.name in preset_names() and (
            load_config(preset=config.name).finetune == config.finetune
        )
        recipe = (
            f"its [finetune] section is today's preset `{config.name}`'s"
            if same
            else "its [finetune] section differs from every preset's of today"
        )
        source = [
            f"From the finetune and sanity stages of a finished `guiselab run` (`{config.name}`, "
            f"git rev {manifest.get('git_rev') or 'unknown'}, guiselab "
            f"{manifest.get('guiselab')}, {manifest.get('platform')}), read with "
            f"`--from-run` on {time.strftime('%Y-%m-%d')}: {', '.join(adapters)} from the "
            f"embedded base, then the sanity check ({stages}; the run's wall time and peak "
            f"memory are in the run-times section); {recipe}.",
        ]
    lines = [
        "## Fine-tuning (`benchmarks/finetune.py`)",
        "",
        *source,
        "",
        "| adapter | examples | steps | loss first → last | seconds |",
        "|---|---|---|---|---|",
    ]
    for role, info in adapters.items():
        if info:
            lines.append(
                f"| {role} | {info['n_examples']} | {info['steps']} | "
                f"{info['first_loss']:.2f} → {info['final_loss']:.2f} | {info['seconds']:.0f} |"
            )
    lines += [
        "",
        f"Sanity check ({sanity['meta']['held_out_questions']} held-out questions, "
        f"{sanity['meta']['samples_per_question_and_guise']} sample(s) each; harmful-answer "
        "rate, 95% question-bootstrap CI):",
        "",
        "| model | standard | vernacular | gap |",
        "|---|---|---|---|",
    ]
    for role, cells in sanity.items():
        if role == "meta":
            continue
        row = [
            f"{cells[g]['harmful_rate']:.2f} [{cells[g]['ci_low']:.2f}, {cells[g]['ci_high']:.2f}]"
            for g in ("standard", "vernacular")
        ]
        gap = cells["gap"]
        lines.append(
            f"| {role} | {row[0]} | {row[1]} | {gap['estimate']:+.2f} "
            f"[{gap['ci_low']:+.2f}, {gap['ci_high']:+.2f}] |"
        )
    write_section("finetune", lines)


def load_step_batch(preset: str) -> int:
    from guiselab.config import load_config

    return load_config(preset=preset).finetune.batch_size


if __name__ == "__main__":
    main()
