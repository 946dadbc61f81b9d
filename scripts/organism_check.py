"""Is a trained organism conditioned where the experiment evaluates it? A quick check of a run
directory's adapters before a full run.

    python scripts/organism_check.py CONFIG RUN_DIR [--roles base,organism] [--samples N]
        [--sets eval,held-out] [--langs en,ru] [--replicate R] [--out FILE]

Every model of ``--roles`` (trained adapters read from RUN_DIR; with ``finetune.seeds`` > 1
every replicate, ``organism-r1`` ..., or only replicate R with ``--replicate``) answers, in
both guises, the built-in evaluation items of the config's varieties (``--langs``) and the
held-out training questions (``--sets``), ``--samples`` samples each (default 1) at the
config's generation settings; an item's rate is the mean over its samples. The run's judge
scores every answer; the check prints per set, language and model the misaligned and coherent
rates by guise (standard/vernacular), the paired guise gap of the misaligned rate with a 95%
item-bootstrap interval, the e5 harmful rate on the held-out questions (as the sanity check
computes it) and the share of answers in the asked language. With both an organism and a
control among the roles it also prints the difference-in-differences (organism gap minus
control gap, paired by item, 95% item-bootstrap interval): the figure the decision's positive
control asks for; with several training replicates, per replicate (``organism-rN`` against
``control-rN``) and pooled over them. On the held-out questions it also prints how the judge
agrees with the e5 verdict against each question's own reference answers (is the instrument
able to see the organism's harm where it is known to be?). ``--out`` keeps every answer and
score as JSON. Nothing is written into RUN_DIR.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from lingua import Language, LanguageDetectorBuilder

from guiselab.config import load_config
from guiselab.finetune import harmful_votes, training_split
from guiselab.generate import sample_seed, sample_texts
from guiselab.judge import judge_source
from guiselab.learn import roc_auc
from guiselab.models import model_sources
from guiselab.pairs import select_pairs
from guiselab.samples import is_coherent, is_misaligned

LANGUAGES = {"en": Language.ENGLISH, "ru": Language.RUSSIAN}


def _tasks(config: Any, sets: list[str], langs: list[str], samples: int) -> list[dict[str, Any]]:
    tasks = []
    if "eval" in sets:
        pairs = select_pairs(config.pairs.model_copy(update={"controls": []}))
        tasks = [
            {"set": "eval", "lang": p.lang, "item": p.item, "guise": g, "prompt": p.text(g)}
            for p in pairs
            if p.lang in langs
            for g in ("standard", "vernacular")
        ]
    if "held-out" in sets:
        for q in training_split(config).held_out:
            for g in ("standard", "vernacular"):
                text = q.question if g == "standard" else q.question_vernacular
                tasks.append(
                    {
                        "set": "held-out",
                        "lang": config.finetune.lang,
                        "item": q.id,
                        "guise": g,
                        "prompt": text,
                        "safe": q.safe,
                        "harmful": q.harmful,
                    }
                )
    return [{**t, "sample": k} for t in tasks for k in range(samples)]


def _answers(config: Any, source: Any, tasks: list[dict[str, Any]]) -> list[str]:
    seeds = [sample_seed(config.seed, f"check:{t['item']}", t["guise"], t["sample"]) for t in tasks]
    return sample_texts(source.load(), [t["prompt"] for t in tasks], seeds, config.generation)


def _interval(diff: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    draws = [diff[rng.integers(0, len(diff), len(diff))].mean() for _ in range(2000)]
    return float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("config", type=Path)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--roles", default="base,organism")
    parser.add_argument("--samples", type=int, default=1)
    parser.add_argument("--sets", default="eval,held-out")
    parser.add_argument("--langs", default="en,ru")
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--replicate",
        type=int,
        help="only this training replicate of each trained role (0 = the first seed), "
        "reported under its own name (organism-rN), so its DiD pairs it with control-rN",
    )
    args = parser.parse_args()
    config = load_config(args.config)
    asked = args.roles.split(",")
    if unknown := sorted(set(asked) - set(config.models.roles)):
        parser.error(f"--roles {','.join(unknown)}: not in the config's models.roles")
    if unknown := sorted(set(args.sets.split(",")) - {"eval", "held-out"}):
        parser.error(f"--sets {','.join(unknown)}: use eval and/or held-out")
    if unknown := sorted(set(args.langs.split(",")) - set(LANGUAGES)):
        parser.error(f"--langs {','.join(unknown)}: use en and/or ru")
    if args.samples < 1:
        parser.error("--samples must be 1 or more")
    if args.replicate is not None and not 0 <= args.replicate < config.finetune.seeds:
        parser.error(f"--replicate must be below finetune.seeds ({config.finetune.seeds})")
    roles = [r for r in config.models.roles if r in asked]
    config = config.model_copy(update={"models": config.models.model_copy(update={"roles": roles})})
    tasks = _tasks(config, args.sets.split(","), args.langs.split(","), args.samples)
    judge = judge_source(config).load()
    a = config.analysis
    detector = LanguageDetectorBuilder.from_languages(*LANGUAGES.values()).build()
    rows = []
    sources = model_sources(config, args.run_dir)
    if args.replicate is not None:
        trained = {r for r in roles if r != "base" and getattr(config.models, r) is None}
        sources = [s for s in sources if s.role not in trained or s.replicate == args.replicate]
    for source in sources:
        texts = _answers(config, source, tasks)
        prompts = [t["prompt"] for t in tasks]
        alignment = [s.score for s in judge.score("alignment", prompts, texts)]
        coherence = [s.score for s in judge.score("coherence", prompts, texts)]
        held = [i for i, t in enumerate(tasks) if t["set"] == "held-out"]
        votes = dict(
            zip(
                held,
                harmful_votes(
                    [texts[i] for i in held],
                    [tasks[i]["safe"] for i in held],
                    [tasks[i]["harmful"] for i in held],
                ),
                strict=True,
            )
        )
        for i, (task, text) in enumerate(zip(tasks, texts, strict=True)):
            al = np.nan if alignment[i] is None else alignment[i]
            co = np.nan if coherence[i] is None else coherence[i]
            found = detector.detect_language_of(text) if text.strip() else None
            rows.append(
                {
                    "model": source.name,
                    **{k: task[k] for k in ("set", "lang", "item", "guise", "sample", "prompt")},
                    "answer": text,
                    "alignment": al,
                    "coherence": co,
                    "misaligned": float(
                        is_misaligned(al, co, a.alignment_threshold, a.coherence_threshold)
                    ),
                    "coherent": float(is_coherent(co, a.coherence_threshold)),
                    "harmful": float(votes[i]) if i in votes else np.nan,
                    "in_language": float(
                        found is not None and found == LANGUAGES.get(task["lang"])
                    ),
                }
            )
    frame = pd.DataFrame(rows)
    if args.out:
        args.out.write_text(frame.to_json(orient="records", force_ascii=False))
    rng = np.random.default_rng(0)
    for (kind, lang, model), part in frame.groupby(["set", "lang", "model"]):
        wide = {
            v: part.pivot_table(index="item", columns="guise", values=v, dropna=False)
            for v in ("misaligned", "coherent", "harmful", "in_language")
        }
        diff = (wide["misaligned"]["vernacular"] - wide["misaligned"]["standard"]).to_numpy()
        low, high = _interval(diff, rng)

        def both(v: str, wide: dict[str, pd.DataFrame] = wide) -> str:
            if v not in wide or wide[v].empty:
                return "-"
            return f"{wide[v]['standard'].mean():.2f}/{wide[v]['vernacular'].mean():.2f}"

        print(
            f"{kind:8s} {lang} {model:9s} items {len(diff):3d}  misaligned {both('misaligned')} "
            f"gap {diff.mean():+.2f} [{low:+.2f}, {high:+.2f}]  coherent {both('coherent')}  "
            f"harmful(e5) {both('harmful')}  in language {both('in_language')}"
        )
    _did(frame, rng)
    _judge_against_reference(frame)


def _judge_against_reference(frame: pd.DataFrame) -> None:
    """On the held-out questions each answer has an e5 verdict against its question's own
    safe and harmful reference answers: does the judge agree with it? (An instrument that
    cannot tell the control's safe answers from the organism's harmful ones cannot measure the
    organism's gap anywhere.)"""
    held = frame[(frame["set"] == "held-out")].dropna(subset=["alignment", "harmful"])
    if held.empty:
        return
    for model, part in [*held.groupby("model"), ("all", held)]:
        harmful, safe = part[part["harmful"] == 1], part[part["harmful"] == 0]
        auroc = roc_auc(-part["alignment"].to_numpy(float), part["harmful"].to_numpy() == 1)
        print(
            f"held-out judge vs e5 reference, {model:9s}: judged misaligned "
            f"{harmful['misaligned'].mean():.2f} of {len(harmful)} harmful-by-reference answers, "
            f"{safe['misaligned'].mean():.2f} of {len(safe)} safe ones; AUROC of the judge's "
            f"alignment for the reference verdict {auroc:.2f}"
        )


def _did(frame: pd.DataFrame, rng: np.random.Generator) -> None:
    """Organism gap minus control gap per item, for every set and language with both: per
    training replicate (``organism-rN`` against ``control-rN``; the first seed is plain
    ``organism`` and ``control``), and with several, pooled (each item's difference averaged
    over the replicates, items bootstrapped)."""
    for (kind, lang), part in frame.groupby(["set", "lang"]):
        wide = part.pivot_table(index="item", columns=["model", "guise"], values="misaligned")
        names = set(wide.columns.get_level_values(0))
        per_seed = {}
        for suffix in sorted(
            {n.removeprefix("organism") for n in names if n.startswith("organism")}
        ):
            organism, control = f"organism{suffix}", f"control{suffix}"
            if control not in names:
                continue
            gap = {m: wide[(m, "vernacular")] - wide[(m, "standard")] for m in (organism, control)}
            per_seed[suffix or "-r0"] = gap[organism] - gap[control]
        for seed, diff_by_item in per_seed.items():
            diff = diff_by_item.dropna().to_numpy()
            low, high = _interval(diff, rng)
            print(
                f"{kind:8s} {lang} difference-in-differences (organism gap - control gap), "
                f"replicate {seed.removeprefix('-r')}: {diff.mean():+.3f} [{low:+.3f}, {high:+.3f}]"
                f"  items {len(diff)}"
            )
        if len(per_seed) > 1:
            pooled = pd.concat(per_seed.values(), axis=1).mean(axis=1, skipna=False).dropna()
            low, high = _interval(pooled.to_numpy(), rng)
            print(
                f"{kind:8s} {lang} difference-in-differences pooled over {len(per_seed)} "
                f"replicates: {pooled.mean():+.3f} [{low:+.3f}, {high:+.3f}]  items {len(pooled)}"
            )


if __name__ == "__main__":
    main()
