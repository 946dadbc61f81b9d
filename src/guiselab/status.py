"""What a run directory holds: each stage's progress, failures and timings (``guiselab status``)."""

from __future__ import annotations

import time
from pathlib import Path

from guiselab.config import MIRROR_DIR, load_config
from guiselab.errors import GuiselabError, InputFileError
from guiselab.finetune import TRAINED_ROLES, training_state
from guiselab.generate import plan_generations
from guiselab.judge import METRICS
from guiselab.models import adapter_dir, model_sources, replicate_name
from guiselab.pairs import CONTROL_VARIETIES, select_pairs
from guiselab.plan import role_copies
from guiselab.probe import PROBE_FILE
from guiselab.results import RESULTS_FILE
from guiselab.rundir import MANIFEST_FILE
from guiselab.samples import SAMPLES_FILE
from guiselab.store import STORE_NAME, RunStore

__all__ = ["run_status"]

_LISTED = 10
"""Failed requests ``guiselab status`` names one by one."""


def _training(folder: Path) -> str:
    """An untrained adapter's state: the step its training reached and its last checkpoint."""
    state = training_state(folder)
    if state is None:
        return "not trained"
    parts = []
    if "step" in state:
        at = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(state["at"]))
        ago = max(0, round((time.time() - state["at"]) / 60))
        parts.append(
            f"training: step {state['step']}/{state['total']} reached at {at}, {ago} min ago "
            f"(loss {state['loss']:.3f}; running, or stopped then)"
        )
    checkpoint = state["checkpoint"]
    parts.append(
        f"last checkpoint at step {checkpoint} (a rerun of the same config resumes there)"
        if checkpoint is not None
        else "no checkpoint yet (a rerun starts over)"
    )
    return "; ".join(parts)


def run_status(run_dir: Path) -> list[str]:
    """Per-stage progress of a run directory, as lines."""
    if not (run_dir / STORE_NAME).exists():
        raise InputFileError("no guiselab run here (no guiselab.sqlite)", where=str(run_dir))
    config = load_config(run_dir / "config.toml")
    with RunStore.in_dir(run_dir, read_only=True) as store:
        lines = [f"run: {run_dir} ({config.name})"]
        for replicate in range(config.finetune.seeds):
            for role in TRAINED_ROLES:
                name = replicate_name(role, replicate)
                info = store.get_artifact(f"adapter:{name}")
                if role in config.models.roles and getattr(config.models, role) is None:
                    state = (
                        f"trained ({info['steps']} steps)"
                        if info
                        else _training(adapter_dir(run_dir, role, replicate))
                    )
                    lines.append(f"finetune {name:<9} {state}")
        if config.finetune.holdout:
            try:
                names = [s.name for s in model_sources(config, run_dir) if s.remote is None]
            except GuiselabError:  # adapters not trained yet
                names = [
                    replicate_name(r, i)
                    for r in config.models.roles
                    for i in range(role_copies(config, r))
                ]
            checked = [n for n in names if store.get_artifact(f"sanity:{n}")]
            lines.append(
                f"sanity check       {len(checked)}/{len(names)} models "
                f"({'see finetune_sanity.json' if checked else 'not run yet'})"
            )
        pairs = select_pairs(config.pairs)
        try:
            planned = len(plan_generations(config, pairs, model_sources(config, run_dir)))
        except GuiselabError:  # adapters not trained yet: their keys are not known
            models = sum(role_copies(config, r) for r in config.models.roles)
            gen = config.generation
            planned = sum(gen.samples_of(p) for p in pairs) * 2 * models
        generations = store.generations()
        roles = set(config.models.roles)
        controls = sum(
            g.model in roles and (g.variety in CONTROL_VARIETIES or ":" in g.variety)
            for g in generations
        )
        sampled = sum(g.model in roles for g in generations) - controls
        lines.append(f"generate           {sampled}/{planned}")
        if controls:
            lines.append(f"trigger controls   {controls} (control guises, feature attribution)")
        steered = len(generations) - sampled - controls
        if steered:
            lines.append(f"probe answers      {steered} (interventions)")
        # Judgments are cached by (prompt, answer): identical answers are judged once.
        cut = config.judge.max_response_chars
        distinct = len({(g.prompt, g.response[:cut]) for g in generations}) * len(METRICS)
        lines.append(
            f"judge              {store.count('judgments')}/{distinct} "
            "(distinct answers x metrics so far)"
        )
        failures = store.failures()
        for stage in sorted({f[0] for f in failures}):
            mine = [(what, reason) for s, _, what, reason in failures if s == stage]
            lines.append(f"failed {stage:<11} {len(mine)} after retries (the next run asks again)")
            lines += [f"  {what}: {reason}" for what, reason in mine[:_LISTED]]
            if len(mine) > _LISTED:
                lines.append(f"  ... and {len(mine) - _LISTED} more")
        for name in (
            PROBE_FILE,
            SAMPLES_FILE,
            RESULTS_FILE,
            "report.html",
            "report.md",
            MANIFEST_FILE,
        ):
            lines.append(f"{name:<18} {'present' if (run_dir / name).exists() else 'missing'}")
        timings = store.get_meta("timings") or {}
        if timings:
            lines.append(
                "timings (s)        " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items())
            )
    if config.replication.mirror:  # the other direction: a run of its own inside this one
        mirror = run_dir / MIRROR_DIR
        if (mirror / STORE_NAME).exists():
            lines += ["", "mirrored direction:", *run_status(mirror)]
        else:
            lines.append("mirrored direction not started (RUN/mirror)")
    return lines
