"""The dataset card of a pair corpus: counts, features and meaning checks as markdown."""

from __future__ import annotations

from guiselab.pairs._validate import CorpusReport

__all__ = ["card_markdown"]


def card_markdown(report: CorpusReport) -> str:
    """The dataset card as markdown."""
    data = report.as_dict()
    counts = data["counts"]
    lines = [
        "# guiselab pair corpus card",
        "",
        f"{counts['pairs']} pairs over {counts['items']} items.",
        "",
        "| by language | pairs |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in sorted(counts["by_lang"].items())],
        "",
        "| by variety | pairs |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in sorted(counts["by_variety"].items())],
        "",
        "| by category | pairs |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in sorted(counts["by_category"].items())],
        "",
        "## Dialect features",
        "",
        "| variety | feature | pairs |",
        "|---|---|---|",
    ]
    for variety, features in sorted(data["features"].items()):
        lines += [f"| {variety} | {f} | {n} |" for f, n in sorted(features.items())]
    sims = data["guise_similarity"]
    lines += [
        "",
        "## Meaning equivalence (multilingual-e5-small cosine)",
        "",
        f"Guise similarity: min {sims['min']:.3f}, median {sims['median']:.3f}; "
        f"{sims['above_null_95']}/{sims['n']} pairs above their mismatched-pair null's 95th "
        "percentile.",
        "",
        "| pair | length ratio | features / 10 words | guise similarity | null 95% |",
        "|---|---|---|---|---|",
        *[
            f"| {c.pair_id} | {c.length_ratio:.2f} | {c.feature_density:.2f} | "
            f"{c.guise_similarity:.3f} | {c.null_95:.3f} |"
            for c in report.checks
        ],
        "",
        "## Same item across languages",
        "",
    ]
    for langs, stats in data["cross_language"].items():
        lines.append(
            f"- {langs}: median same-item similarity {stats['median_same_item']:.3f}, null 95% "
            f"{stats['null_95']:.3f}, {stats['above_null_95']}/{stats['n_items']} items above"
        )
    if data["undocumented_features"]:
        lines += ["", "## Features guiselab does not document", ""]
        lines += [f"- {v}: {', '.join(n)}" for v, n in data["undocumented_features"].items()]
    if data["failures"]:
        lines += ["", "## Failing pairs", ""]
        lines += [f"- {f['id']}: {'; '.join(f['problems'])}" for f in data["failures"]]
    return "\n".join(lines)
