"""Inspect eval logs in and out.

In: logs of ``guiselab/matched_guise`` (one per model) become guiselab's judged-samples
table, with the role of each log's model (organism, control, base) given or read from its
model name; ``guiselab analyze --inspect-log`` runs the statistics, the decision and the report
on it. Out: a finished run's answers and scores, one eval log per model (and seed), which
``inspect view`` and ``inspect_ai.analysis.samples_df`` open.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from inspect_ai.log import (
    EvalConfig,
    EvalDataset,
    EvalLog,
    EvalMetric,
    EvalPlan,
    EvalResults,
    EvalSample,
    EvalScore,
    EvalSpec,
    EvalStats,
    read_eval_log,
    write_eval_log,
)
from inspect_ai.model import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageUser,
    ModelOutput,
    ModelUsage,
)
from inspect_ai.scorer import SampleScore, Score, mean, stderr

from guiselab.config import ExperimentConfig, load_config
from guiselab.errors import GuiselabError, InputFileError
from guiselab.inspect._task import VALUES, misaligned_value
from guiselab.judge import METRICS
from guiselab.models import replicate_name
from guiselab.pairs import select_pairs
from guiselab.samples import JUDGE_VERDICTS, SAMPLES_FILE, read_samples

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ROLES", "export_inspect_logs", "parse_role", "samples_from_logs"]

ROLES = ("organism", "control", "base")
SCORER = "guise_judge"
_META = ("item", "lang", "guise", "variety", "category", "pair_id")


def _role_of(model: str, where: str) -> tuple[str, int]:
    """The role a model name names (the one of :data:`ROLES` it contains as a word) and its
    training seed (``organism-r1`` is the second seed's organism, as guiselab names them)."""
    found = [
        (m.group(1), int(m.group(2) or 0))
        for r in ROLES
        if (m := re.search(rf"(?<![a-z])({r})(?:-r(\d+))?(?![a-z0-9])", model.lower()))
    ]
    if len(found) != 1:
        raise InputFileError(
            f"cannot tell the role of model '{model}' (organism, control or base) from its name; "
            "give it as ROLE=LOG",
            where=where,
        )
    return found[0]


def _finite(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def parse_role(given: str) -> tuple[str, int]:
    """A role as the CLI takes it: ``organism``, ``control``, ``base``, or a later training
    seed's ``organism-r1``."""
    match = re.fullmatch(r"(organism|control|base)(?:-r(\d+))?", given)
    if match is None:
        raise InputFileError(
            f"unknown role '{given}'; use organism, control or base (organism-r1 for a second "
            "seed)",
            where="--inspect-log",
        )
    return match.group(1), int(match.group(2) or 0)


def samples_from_logs(logs: Sequence[str | Path], roles: Mapping[str, str] | None = None) -> Any:
    """The judged-samples table of Inspect eval logs of ``guiselab/matched_guise``: one row per
    sample and epoch. ``roles`` maps a log's path (as given) to its model's role (as
    :func:`parse_role` reads it); a log not in it takes the role its model name contains.
    Refused: a log that did not finish, a sample that errored or has no score, and logs
    judged by different judges (their gaps would not compare)."""
    import pandas as pd

    roles = dict(roles or {})
    rows: list[dict[str, Any]] = []
    seen: dict[tuple[str, int], str] = {}
    for given in logs:
        path = Path(given)
        if not path.exists():
            raise InputFileError("Inspect log not found; check the path", where=str(path))
        try:
            log = read_eval_log(str(path))
        except Exception as exc:  # the reader raises several types for a bad file
            first = (str(exc).splitlines() or [type(exc).__name__])[0][:160]
            raise InputFileError(
                f"cannot be read as an Inspect eval log ({first}); give a .eval or .json log",
                where=str(path),
            ) from None
        if log.status != "success":
            raise InputFileError(
                f"the evaluation did not finish (status {log.status}); run it to the end "
                "(inspect eval-retry) before analysing it",
                where=str(path),
            )
        named = roles.get(str(given))
        role, replicate = parse_role(named) if named else _role_of(log.eval.model, str(path))
        if (role, replicate) in seen:
            raise InputFileError(
                f"a second log for the {role} (the first is {seen[(role, replicate)]}); give one "
                "per model, and a later seed's as organism-r1=LOG",
                where=str(path),
            )
        seen[(role, replicate)] = str(path)
        for sample in log.samples or []:
            rows.append(_row(sample, role, log.eval.model, str(path)) | {"replicate": replicate})
    if not rows:
        raise InputFileError(
            "no samples in these logs; give logs of guiselab/matched_guise",
            where=", ".join(map(str, logs)),
        )
    frame = pd.DataFrame(rows)
    judges = sorted({str(j) for j in frame["judge"].dropna()})
    if len(judges) > 1:
        raise InputFileError(
            f"the logs were judged by different judges ({', '.join(judges)}); score every "
            "model's answers with the same grader",
            where=", ".join(map(str, logs)),
        )
    return frame


def _row(sample: EvalSample, role: str, model: str, where: str) -> dict[str, Any]:
    meta = sample.metadata or {}
    missing = [k for k in ("item", "lang", "guise") if not meta.get(k)]
    if sample.error is not None:
        raise InputFileError(
            f"sample {sample.id} (epoch {sample.epoch}) ended in an error "
            f"({sample.error.message[:120]}); retry the evaluation",
            where=where,
        )
    score = (sample.scores or {}).get(SCORER)
    if missing or score is None or not isinstance(score.value, dict):
        what = f"no {', '.join(missing)} metadata" if missing else f"no {SCORER} score"
        raise InputFileError(
            f"sample {sample.id} has {what}; run the log with guiselab/matched_guise and its "
            "scorer",
            where=where,
        )
    extra = score.metadata or {}
    user = [m for m in _messages(sample.input) if m.role == "user"]
    usage = sample.output.usage if sample.output else None
    row: dict[str, Any] = {k: meta.get(k) for k in _META}
    row |= {
        "model": role,
        "model_ref": model,
        "sample": int(sample.epoch) - 1,
        "prompt": user[-1].text if user else "",
        "response": sample.output.completion if sample.output else "",
        "n_tokens": usage.output_tokens if usage is not None else None,
        "judge": extra.get("judge"),
        "inspect_id": str(sample.id),
    }
    for metric in METRICS:
        row[metric] = _finite(score.value.get(metric))
        verdict = extra.get(f"{metric}_verdict")
        row[f"{metric}_verdict"] = (
            verdict
            if verdict in JUDGE_VERDICTS
            else ("score" if row[metric] is not None else "unscored")
        )
    return row


def _messages(given: str | list[ChatMessage]) -> list[ChatMessage]:
    return [ChatMessageUser(content=given)] if isinstance(given, str) else list(given)


def export_inspect_logs(run_dir: Path, out_dir: Path) -> list[Path]:
    """One Inspect eval log (``.eval``) per model and seed of a finished run, from its
    ``samples.parquet``: each answer a sample (id ``PAIR:GUISE``, epoch = its sample number + 1)
    with guiselab's scores as ``guise_judge``'s, and the metrics Inspect's own scorer would
    give (mean, and standard error clustered by item)."""
    config = load_config(run_dir / "config.toml")
    frame = read_samples(run_dir / SAMPLES_FILE)
    if frame.empty:
        raise InputFileError(
            "the run has no judged answers yet; finish it with guiselab run", where=str(run_dir)
        )
    systems = _systems(config)  # before anything is written: it needs the pair files
    out_dir.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    stamp = now.strftime("%Y-%m-%dT%H-%M-%S+00-00")
    written = []
    if "replicate" not in frame.columns:
        frame = frame.assign(replicate=0)
    for (role, replicate), group in frame.groupby(["model", "replicate"], sort=True):
        name = replicate_name(str(role), int(replicate))
        log = _eval_log(group, name, now.isoformat(), config, systems)
        path = out_dir / f"{stamp}_guiselab-matched-guise_{name}.eval"
        write_eval_log(log, str(path), format="eval")
        written.append(path)
    return written


def _text(value: Any) -> str | None:
    """A table cell as text, None where it is empty (None or NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def _systems(config: ExperimentConfig) -> dict[str, str]:
    """The pairs' own system prompts (an EM question file's ``system``), by pair id. The
    run's pair files must still be readable: without them the log would show the config's
    system prompt where a pair was asked under its own."""
    try:
        pairs = select_pairs(config.pairs)
    except GuiselabError as exc:
        raise InputFileError(
            f"the run's pair files are needed for the system prompts the questions were asked "
            f"under ({exc}); restore them at the paths in config.toml",
            where="pairs.files",
        ) from None
    return {p.id: s for p in pairs if (s := p.system_prompt(None)) is not None}


def _eval_log(
    group: pd.DataFrame,
    name: str,
    created: str,
    config: ExperimentConfig,
    own: Mapping[str, str],
) -> EvalLog:
    default = config.generation.system_prompt
    samples: list[EvalSample] = []
    scored: list[SampleScore] = []
    model_ref = str(group["model_ref"].iloc[0]) if "model_ref" in group else name
    # a later seed's samples are numbered after the first seed's, and a pair may have its own
    # count (an EM file's samples_per_paraphrase): each pair's epochs start at 1
    fallback = group["item"].astype(str) + "-" + group["lang"].astype(str)
    key = group["pair_id"].fillna(fallback) if "pair_id" in group else fallback
    group = group.assign(epoch=group["sample"] - group.groupby(key)["sample"].transform("min") + 1)
    for row in group.sort_values(["item", "lang", "guise", "sample"]).itertuples(index=False):
        r = row._asdict()
        values = {m: math.nan if (v := _finite(r.get(m))) is None else v for m in METRICS}
        verdict = _text(r.get("alignment_verdict")) or "score"
        values["misaligned"] = misaligned_value(
            config, verdict, values["alignment"], values["coherence"]
        )
        meta = {k: _text(r.get(k)) for k in _META}
        score = Score(
            value=values,
            answer=str(r["response"]),
            metadata={
                "judge": r.get("judge"),
                **{f"{m}_verdict": r.get(f"{m}_verdict") for m in METRICS},
            },
        )
        pair = r.get("pair_id") or f"{r['item']}-{r['lang']}"
        sample_id = f"{pair}:{r['guise']}"
        system = own.get(str(r.get("pair_id")), default)
        prompt: list[ChatMessage] = [ChatMessageSystem(content=system)] if system else []
        prompt.append(ChatMessageUser(content=str(r["prompt"])))
        samples.append(
            EvalSample(
                id=sample_id,
                epoch=int(r["epoch"]),
                input=prompt,
                target="",
                messages=[
                    *prompt,
                    ChatMessageAssistant(content=str(r["response"]), model=model_ref),
                ],
                output=_output(model_ref, str(r["response"]), r.get("n_tokens")),
                scores={SCORER: score},
                metadata=meta,
            )
        )
        scored.append(SampleScore(score=score, sample_id=sample_id, sample_metadata=meta))
    ids = sorted({str(s.id) for s in samples})
    return EvalLog(
        status="success",
        eval=EvalSpec(
            created=created,
            task="guiselab/matched_guise",
            model=f"guiselab/{name}",
            dataset=EvalDataset(name="guiselab-pairs", samples=len(ids), sample_ids=ids),
            config=EvalConfig(epochs=int(group["epoch"].max())),
            metadata={"guiselab_run": config.name, "model_ref": model_ref},
        ),
        plan=EvalPlan(),
        results=EvalResults(
            total_samples=len(samples),
            completed_samples=len(samples),
            scores=[_metrics(key, scored) for key in VALUES],
        ),
        stats=EvalStats(started_at=created, completed_at=created),
        samples=samples,
    )


def _output(model: str, text: str, n_tokens: Any) -> ModelOutput:
    """The answer as Inspect's model output, with its length in tokens where the run has it."""
    out = ModelOutput.from_content(model=model, content=text)
    tokens = _finite(n_tokens)
    if tokens is not None:
        out.usage = ModelUsage(output_tokens=int(tokens), total_tokens=int(tokens))
    return out


def _metrics(key: str, scored: list[SampleScore]) -> EvalScore:
    """One value's metrics over the samples that have it, by Inspect's own metric functions."""
    kept = []
    for s in scored:
        values = s.score.value
        value = values.get(key) if isinstance(values, dict) else None
        if isinstance(value, int | float) and not math.isnan(value):
            kept.append(s.model_copy(update={"score": s.score.model_copy(update={"value": value})}))
    metrics = {}
    if kept:
        metrics = {
            name: EvalMetric(name=name, value=float(cast(Any, compute)(kept)))
            for name, compute in (("mean", mean()), ("stderr", stderr(cluster="item")))
        }
    return EvalScore(
        name=key,
        scorer=SCORER,
        scored_samples=len(kept),
        unscored_samples=len(scored) - len(kept),
        metrics=metrics,
    )
