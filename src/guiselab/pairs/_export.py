"""Writing pairs out: JSONL and CSV in guiselab's schema, or an Inspect AI dataset."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Literal

from guiselab.errors import ConfigError
from guiselab.pairs._schema import GUISES, Pair

__all__ = ["ExportFormat", "export_pairs"]

ExportFormat = Literal["jsonl", "csv", "inspect"]
_COLUMNS = ("id", "item", "lang", "variety", "category", "standard", "vernacular", "features")


def _record(pair: Pair) -> dict[str, object]:
    return {
        "id": pair.id,
        "item": pair.item,
        "lang": pair.lang,
        "variety": pair.variety,
        "category": pair.category,
        "standard": pair.standard,
        "vernacular": pair.vernacular,
        "features": list(pair.features),
        **pair.metadata,
    }


def export_pairs(pairs: Sequence[Pair], fmt: ExportFormat) -> str:
    """The pairs as text in the chosen format.

    ``inspect`` writes one sample per guise with ``input``, an empty ``target``, ``id`` and
    ``metadata`` (item, lang, variety, guise, category, features, pair id): what Inspect AI's
    ``json_dataset`` reads. A pair's own system prompt makes ``input`` a system and a user
    message. CSV has no column for a pair's own settings (``system``,
    ``samples_per_paraphrase``, ``judge_prompts``), so pairs with them are refused there.
    """
    if fmt == "jsonl":
        return "".join(json.dumps(_record(p), ensure_ascii=False) + "\n" for p in pairs)
    if fmt == "csv":
        kept = [p.id for p in pairs if p.prompt_fields()]
        if kept:
            raise ConfigError(
                f"pair {kept[0]} has its own system prompt, answer count or judge prompts, "
                "which CSV cannot hold; export as jsonl",
                where="--format",
            )
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for pair in pairs:
            row = _record(pair)
            row["features"] = ";".join(pair.features)
            writer.writerow(row)
        return buffer.getvalue()
    lines = []
    for pair in pairs:
        for guise in GUISES:
            system = pair.system_prompt(None)
            asked: str | list[dict[str, str]] = pair.text(guise)
            if system is not None:
                asked = [
                    {"role": "system", "content": system},
                    {"role": "user", "content": pair.text(guise)},
                ]
            sample = {
                "input": asked,
                "target": "",
                "id": f"{pair.id}-{guise}",
                "metadata": {
                    "pair_id": pair.id,
                    "item": pair.item,
                    "lang": pair.lang,
                    "variety": pair.variety,
                    "guise": guise,
                    "category": pair.category,
                    "features": list(pair.features) if guise == "vernacular" else [],
                },
            }
            lines.append(json.dumps(sample, ensure_ascii=False) + "\n")
    return "".join(lines)
