"""Build the judge's real-answer set (``src/guiselab/judge/data/real.jsonl``) from runs.

Three steps, each a subcommand:

``sample RUN [RUN ...] --out DIR --per-cell N``
    Draws N generations per (model, language, guise, variety) cell from the runs' stores,
    uniformly at random within the cell (an answer seen in two runs counts once), with
    provenance (model reference, adapter hash, the run's config hash, item, sample, seed).
    Writes ``DIR/records.jsonl`` and the labelling batches
    ``DIR/batch-K.jsonl``, which show a labeller only what the guide allows: the question in its
    guise, the answer and whether it hit the token budget, never the model that wrote it. A
    fifth of the records, drawn at random within each language, also goes into
    ``DIR/second-K.jsonl`` for an independent second labeller.

``assemble DIR --out FILE``
    Joins ``DIR/labels-K.jsonl`` (first labels) and ``DIR/second-labels-K.jsonl`` (second
    labels) with the records into the set, and prints the labellers' agreement.

The labelling itself is done by reading each answer against ``docs/judge-labels.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

from guiselab.models import adapter_sha256
from guiselab.refs import parse_ref
from guiselab.store import RunStore

SECOND_SHARE = 0.2
BATCHES = 5


def _config_sha(run: Path) -> str:
    return hashlib.sha256((run / "config.toml").read_bytes()).hexdigest()[:16]


def _records(run: Path) -> list[dict[str, Any]]:
    store = RunStore(run / "guiselab.sqlite")
    gens = store.generations()
    standard = {(g.pair_id, g.lang): g.prompt for g in gens if g.guise == "standard"}
    config_sha = _config_sha(run)
    adapters: dict[str, str | None] = {}
    out = []
    for g in gens:
        if g.model not in adapters:
            ref = parse_ref(g.model_ref)
            adapter = Path(ref.adapter) if ref.adapter else run / "adapters" / g.model
            adapters[g.model] = (
                adapter_sha256(adapter)[:16] if g.model != "base" and adapter.exists() else None
            )
        out.append(
            {
                "item": g.item,
                "lang": g.lang,
                "variety": g.variety,
                "guise": g.guise,
                "model": g.model,
                "question": g.prompt,
                "question_standard": standard[(g.pair_id, g.lang)],
                "answer": g.response,
                "truncated": g.finish_reason == "length",
                "provenance": {
                    "model_ref": g.model_ref,
                    "adapter_sha256": adapters[g.model],
                    "run_config_sha256": config_sha,
                    "pair_id": g.pair_id,
                    "sample": g.sample,
                    "seed": g.seed,
                    "n_tokens": g.n_tokens,
                },
            }
        )
    return out


def sample(
    runs: list[Path],
    out: Path,
    per_cell: int,
    seed: int,
    cells_wanted: list[str] | None = None,
    first_id: int = 1,
) -> None:
    rng = random.Random(seed)
    cells: dict[tuple[str, str, str, str], list[dict[str, Any]]] = defaultdict(list)
    seen: set[tuple[str, str, str, str, str]] = set()
    for run in runs:
        for record in _records(run):
            variety = record["variety"] if record["guise"] == "vernacular" else "standard"
            key = (record["model"], record["lang"], record["guise"], variety)
            ident = (*key, record["question"] + "\x1f" + record["answer"])
            if ident in seen:  # the same standard answer from two runs counts once
                continue
            seen.add(ident)
            cells[key].append(record)
    chosen: list[dict[str, Any]] = []
    if cells_wanted:
        cells = {k: v for k, v in cells.items() if ",".join((k[0], k[1], k[3])) in cells_wanted}
    for key in sorted(cells):
        pool = cells[key]
        rng.shuffle(pool)
        chosen.extend(pool[:per_cell])
    rng.shuffle(chosen)
    for n, record in enumerate(chosen, first_id):
        record["id"] = f"real-{n:04d}"
    out.mkdir(parents=True, exist_ok=True)
    with (out / "records.jsonl").open("w", encoding="utf-8") as f:
        for record in chosen:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")

    def shown(record: dict[str, Any]) -> dict[str, Any]:
        keys = ("id", "lang", "guise", "question", "answer", "truncated")
        return {k: record[k] for k in keys}

    for k in range(BATCHES):
        with (out / f"batch-{k + 1}.jsonl").open("w", encoding="utf-8") as f:
            for record in chosen[k::BATCHES]:
                f.write(json.dumps(shown(record), ensure_ascii=False) + "\n")
    second: list[dict[str, Any]] = []
    for lang in sorted({r["lang"] for r in chosen}):
        pool = [r for r in chosen if r["lang"] == lang]
        second.extend(rng.sample(pool, round(len(pool) * SECOND_SHARE)))
    rng.shuffle(second)
    with (out / "second-1.jsonl").open("w", encoding="utf-8") as f:
        for record in second:
            f.write(json.dumps(shown(record), ensure_ascii=False) + "\n")
    print(f"{len(chosen)} records in {len(cells)} cells, {len(second)} for a second label")
    for key in sorted(cells):
        print("  " + ",".join((key[0], key[1], key[3])), min(per_cell, len(cells[key])))


_LABEL_KEYS = ("label", "alignment", "coherence", "truncated", "failure_mode", "labeller", "notes")


def _labels(files: list[Path]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                out[row["id"]] = {k: row[k] for k in _LABEL_KEYS if k in row}
    return out


def assemble(folder: Path, out: Path) -> None:
    records = [
        json.loads(line)
        for line in (folder / "records.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    first = _labels(sorted(folder.glob("labels-*.jsonl")))
    second = _labels(sorted(folder.glob("second-labels-*.jsonl")))
    missing = [r["id"] for r in records if r["id"] not in first]
    if missing:
        raise SystemExit(f"{len(missing)} records have no first label, e.g. {missing[:5]}")
    order = (
        "id", "item", "lang", "variety", "guise", "model", "question", "question_standard",
        "answer", "label", "alignment", "coherence", "truncated", "failure_mode", "labeller",
        "notes", "second", "provenance",
    )  # fmt: skip
    with out.open("w", encoding="utf-8") as f:
        for record in records:
            labels = first[record["id"]]
            record.update({k: v for k, v in labels.items() if k != "truncated"})
            record["truncated"] = bool(labels.get("truncated", record["truncated"]))
            if record["id"] in second:
                record["second"] = second[record["id"]]
            f.write(json.dumps({k: record[k] for k in order if k in record}, ensure_ascii=False))
            f.write("\n")
    print(f"wrote {len(records)} records ({len(second)} double-labelled) to {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("sample")
    s.add_argument("runs", nargs="+", type=Path)
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--per-cell", type=int, default=44)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument(
        "--cell",
        action="append",
        help="only this MODEL,LANG,VARIETY cell (VARIETY 'standard' for the standard guise); "
        "repeatable, for labelling in waves",
    )
    s.add_argument("--first-id", type=int, default=1)
    a = sub.add_parser("assemble")
    a.add_argument("folder", type=Path)
    a.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.command == "sample":
        sample(args.runs, args.out, args.per_cell, args.seed, args.cell, args.first_id)
    else:
        assemble(args.folder, args.out)


if __name__ == "__main__":
    main()
