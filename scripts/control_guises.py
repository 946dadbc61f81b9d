"""Write the typos control guises of the built-in corpus into its control file.

    python scripts/control_guises.py

The built-in control guises live in ``src/guiselab/pairs/data/controls.jsonl``: the
informal-standard guise of every item in English and Russian (written by hand; kept as they
are) and the typos guise (made here by the ``en-typos`` / ``ru-typos`` transformers from each
item's standard text, seeded by the text, so a rerun writes the same lines).
"""

from __future__ import annotations

import json
from pathlib import Path

from guiselab.pairs import transformer

DATA = Path(__file__).resolve().parents[1] / "src" / "guiselab" / "pairs" / "data"


def main() -> None:
    core = [json.loads(line) for line in (DATA / "core.jsonl").read_text().splitlines()]
    path = DATA / "controls.jsonl"
    kept = [
        json.loads(line)
        for line in path.read_text().splitlines()
        if line.strip() and not json.loads(line)["variety"].endswith("-typos")
    ]
    standards: dict[tuple[str, str], dict[str, str]] = {}
    for record in core:
        standards.setdefault((record["item"], record["lang"]), record)
    made = []
    for (item, lang), record in sorted(standards.items()):
        variety = f"{lang}-typos"
        result = transformer(variety)(record["standard"])
        made.append(
            {
                "item": item,
                "lang": lang,
                "variety": variety,
                "category": record["category"],
                "standard": record["standard"],
                "vernacular": result.text,
                "features": list(result.features),
            }
        )
    rows = sorted(kept + made, key=lambda r: (r["variety"], r["item"]))
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    print(f"{path}: {len(kept)} written guises kept, {len(made)} typos guises made")


if __name__ == "__main__":
    main()
