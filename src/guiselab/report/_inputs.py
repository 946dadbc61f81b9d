"""Reading a run directory into what the report shows.

``results.json`` is required; ``samples.parquet``, ``config.toml`` and ``manifest.json`` are
optional and the report leaves their sections out when they are missing.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from guiselab.config import AnalysisConfig
from guiselab.errors import InputFileError
from guiselab.report._format import as_float
from guiselab.samples import GUISES, KEY_COLUMNS, SAMPLES_FILE, read_samples

__all__ = ["RunInputs", "Sample", "Thresholds", "load_run", "rows_of"]

RESULTS_FILE = "results.json"
CONFIG_FILE = "config.toml"
MANIFEST_FILE = "manifest.json"

_MODEL_ROLES = ("organism", "control", "base")
"""Display order of the experiment's model roles; other model names follow."""


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The misalignment rule: alignment < ``alignment`` and coherence >= ``coherence``."""

    alignment: float
    coherence: float


@dataclass(frozen=True, slots=True)
class Sample:
    """One judged generation from ``samples.parquet``."""

    model: str
    lang: str
    guise: str
    item: str
    pair_id: str
    category: str
    index: int
    prompt: str
    response: str
    alignment: float | None
    coherence: float | None
    judge_verdict: str
    """The judge's verdict as stored: ``score``, ``refusal``, ``code`` or ``unscored``."""


@dataclass(frozen=True, slots=True)
class RunInputs:
    """Everything the report reads from one run directory."""

    run_dir: Path
    name: str
    results: Mapping[str, Any]
    samples: Sequence[Sample] | None
    """None when the run has no ``samples.parquet``."""
    config_text: str | None
    manifest: Mapping[str, Any] | None
    thresholds: Thresholds
    models: Sequence[str]
    """Model names in display order (organism, control, base, then others)."""
    langs: Sequence[str]
    """Languages in display order (source, target, then others)."""
    guises: Sequence[str]
    """Guises in display order (standard, vernacular, then others)."""


_SCHEMAS = (1, 2)
"""results.json layouts this version reads."""


def rows_of(results: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    """The mapping rows of a list section of results.json (``cells``, ``gaps``, ...)."""
    section = results.get(key)
    if not isinstance(section, list):
        return []
    return [row for row in section if isinstance(row, Mapping)]


def load_run(run_dir: Path) -> RunInputs:
    """Read a run directory; raise :class:`InputFileError` when results.json is unusable."""
    results = _read_results(run_dir / RESULTS_FILE)
    config_text, config = _read_config(run_dir / CONFIG_FILE)
    manifest = _read_manifest(run_dir / MANIFEST_FILE)
    samples = _read_samples(run_dir / SAMPLES_FILE)
    analysis = config.get("analysis")
    analysis = analysis if isinstance(analysis, Mapping) else {}
    return RunInputs(
        run_dir=run_dir,
        name=_run_name(run_dir, config, manifest),
        results=results,
        samples=samples,
        config_text=config_text,
        manifest=manifest,
        thresholds=_thresholds(results, analysis),
        models=_ordered(_levels(results, samples, "model"), _MODEL_ROLES),
        langs=_ordered(
            _levels(results, samples, "lang"),
            [str(analysis.get("source_lang", "")), str(analysis.get("target_lang", ""))],
        ),
        guises=_ordered(_levels(results, samples, "guise"), GUISES),
    )


def _read_results(path: Path) -> Mapping[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputFileError(
            "no results.json in this run directory; run the analysis first "
            "(`guiselab analyze RUN_DIR`), then the report",
            where=str(path),
        ) from None
    except UnicodeDecodeError:
        raise InputFileError(
            "not UTF-8 text; re-run `guiselab analyze` to rewrite it", where=str(path)
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputFileError(
            f"not valid JSON (line {exc.lineno}: {exc.msg}); re-run `guiselab analyze` to "
            "rewrite it",
            where=str(path),
        ) from None
    if not isinstance(data, dict):
        raise InputFileError(
            "expected a JSON object with 'cells', 'gaps', 'transfer' and 'decision'; re-run "
            "`guiselab analyze` to rewrite it",
            where=str(path),
        )
    schema = data.get("schema")
    # Schema 1 lacks the contrasts and the checklist; the report shows what it has.
    if schema is not None and schema not in _SCHEMAS:
        raise InputFileError(
            f"results schema {schema!r} is not one this version reads "
            f"({', '.join(map(str, _SCHEMAS))}); re-run "
            "`guiselab analyze` with this version, or upgrade guiselab",
            where=str(path),
        )
    return data


def _read_config(path: Path) -> tuple[str | None, Mapping[str, Any]]:
    """The config's text (shown verbatim) and, when it parses, its values."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None, {}
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        # Shown verbatim anyway; only the run name and thresholds come from parsing it.
        return text, {}


def _read_manifest(path: Path) -> Mapping[str, Any] | None:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputFileError(
            f"not valid JSON (line {exc.lineno}: {exc.msg}); fix or delete the manifest",
            where=str(path),
        ) from None
    if not isinstance(data, dict):
        raise InputFileError("expected a JSON object; fix or delete the manifest", where=str(path))
    return data


def _read_samples(path: Path) -> list[Sample] | None:
    if not path.exists():
        return None
    frame = read_samples(path)
    missing = [c for c in KEY_COLUMNS if c not in frame.columns]
    if missing:
        raise InputFileError(
            f"missing column(s) {', '.join(missing)}; re-export the samples with "
            "`guiselab analyze`",
            where=str(path),
        )
    n = len(frame)

    def column(name: str) -> list[Any]:
        return frame[name].tolist() if name in frame.columns else [None] * n

    return [
        Sample(
            model=_text(model),
            lang=_text(lang),
            guise=_text(guise),
            item=_text(item),
            pair_id=_text(pair_id),
            category=_text(category),
            index=_index(index, default=position),
            prompt=_text(prompt),
            response=_text(response),
            alignment=as_float(alignment),
            coherence=as_float(coherence),
            judge_verdict=_text(verdict) or "score",
        )
        for position, (
            model,
            lang,
            guise,
            item,
            pair_id,
            category,
            index,
            prompt,
            response,
            alignment,
            coherence,
            verdict,
        ) in enumerate(
            zip(
                column("model"),
                column("lang"),
                column("guise"),
                column("item"),
                column("pair_id"),
                column("category"),
                column("sample"),
                column("prompt"),
                column("response"),
                column("alignment"),
                column("coherence"),
                column("alignment_verdict"),
                strict=True,
            )
        )
    ]


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _index(value: object, *, default: int) -> int:
    number = as_float(value)
    return default if number is None else int(number)


def _run_name(run_dir: Path, config: Mapping[str, Any], manifest: Mapping[str, Any] | None) -> str:
    for source in (config, manifest or {}):
        for key in ("name", "run_name"):
            value = source.get(key)
            if isinstance(value, str) and value.strip():
                return value
    return run_dir.resolve().name


def _thresholds(results: Mapping[str, Any], analysis: Mapping[str, Any]) -> Thresholds:
    """The thresholds the analysis used: decision.thresholds, else the config, else defaults."""
    decision = results.get("decision")
    stated = decision.get("thresholds") if isinstance(decision, Mapping) else None
    stated = stated if isinstance(stated, Mapping) else {}
    defaults = AnalysisConfig()

    def pick(name: str, default: float) -> float:
        for source, key in (
            (stated, f"{name}_threshold"),
            (stated, name),
            (analysis, f"{name}_threshold"),
        ):
            number = as_float(source.get(key))
            if number is not None:
                return number
        return default

    return Thresholds(
        alignment=pick("alignment", defaults.alignment_threshold),
        coherence=pick("coherence", defaults.coherence_threshold),
    )


def _levels(results: Mapping[str, Any], samples: Sequence[Sample] | None, factor: str) -> list[str]:
    """Distinct values of a factor, in order of first appearance in results then samples."""
    seen: dict[str, None] = {}
    for key in ("cells", "gaps", "transfer"):
        for row in rows_of(results, key):
            value = row.get(factor)
            if value is not None:
                seen.setdefault(str(value), None)
    for sample in samples or ():
        seen.setdefault(getattr(sample, factor), None)
    return list(seen)


def _ordered(levels: Iterable[str], preferred: Iterable[str]) -> list[str]:
    present = list(levels)
    first = [p for p in dict.fromkeys(preferred) if p in present]
    return first + [level for level in present if level not in first]
