"""The real pipeline on the embedded model through the CLI, as a user runs it."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from guiselab.config import load_config
from guiselab.plan import estimate

pytestmark = pytest.mark.integration

GUISELAB = [sys.executable, "-m", "guiselab"]
RUN_FILES = (
    "results.json",
    "report.html",
    "report.md",
    "samples.parquet",
    "config.toml",
    "manifest.json",
    "guiselab.sqlite",
)


def _run(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [*GUISELAB, *args], capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


def _generations(run_dir: Path) -> dict[str, str]:
    with sqlite3.connect(run_dir / "guiselab.sqlite") as db:
        return dict(db.execute("SELECT key, response FROM generations").fetchall())


OWN_LINE = re.compile(
    r"\[\d\d:\d\d:\d\d\] \S"  # a progress line: stage start, progress, end, or a note
    r"|decision: |  organism (en|ru) guise gap |exploratory re-analysis: |failed checks: "
    r"|report: |run directory: "
)
"""The lines guiselab itself writes to a log (no terminal): progress and the summary."""


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # As a batch job runs it: `guiselab run --preset smoke --out X > log 2>&1`, no terminal,
    # no flag to quiet anything and the environment's warning settings untouched.
    run_dir = tmp_path_factory.mktemp("smoke") / "run"
    log = run_dir.parent / "run.log"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    with log.open("w") as out:
        done = subprocess.run(
            [*GUISELAB, "run", "--preset", "smoke", "--out", str(run_dir)],
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=900,
            env=env,
            check=False,
        )
    text = log.read_text(encoding="utf-8")
    assert done.returncode == 0, text[-3000:]
    # guiselab's own lines only: no library progress bar (loading weights, writing shards),
    # warning or log line
    foreign = [line for line in text.splitlines() if not OWN_LINE.match(line)]
    assert not foreign, foreign[:20]
    assert "it/s" not in text and "Warning" not in text, text[-3000:]
    # every stage says when it starts and ends, training included, and the summary is there
    assert "finetune organism: started, 4 to do" in text and "finetune organism: done, 4/4" in text
    assert f"report: {run_dir / 'report.html'}" in text
    return run_dir


def test_smoke_run_leaves_every_file(smoke_run: Path) -> None:
    for name in RUN_FILES:
        assert (smoke_run / name).exists(), name
    results = json.loads((smoke_run / "results.json").read_text())
    assert results["schema"] == 2
    cell_keys = {
        "model",
        "lang",
        "guise",
        "n_items",
        "n_samples",
        "misaligned_rate",
        "ci_low",
        "ci_high",
        "mean_alignment",
        "mean_coherence",
        "refusal_rate",
    }
    gap_keys = {"model", "lang", "gap", "ci_low", "ci_high", "p_value", "p_holm", "n_items"}
    assert results["cells"] and all(cell_keys <= set(c) for c in results["cells"])
    assert results["gaps"] and all(gap_keys <= set(g) for g in results["gaps"])
    assert {(c["model"], c["lang"], c["guise"]) for c in results["cells"]} == {
        (m, lang, g)
        for m in ("base", "control", "organism")
        for lang in ("en", "ru")
        for g in ("standard", "vernacular")
    }
    decision = results["decision"]
    assert decision["reasons"] and decision["checks"]
    # The plan frozen before the first generation is the one applied, and the manifest says so.
    frozen = (smoke_run / "analysis_plan.json").read_bytes()
    manifest = json.loads((smoke_run / "manifest.json").read_text())
    assert hashlib.sha256(frozen).hexdigest() == manifest["analysis_plan_sha256"]
    assert decision["plan_sha256"] == manifest["analysis_plan_sha256"]
    assert decision["confirmatory"] is True and decision["exploratory_reason"] is None
    # The smoke organism (4 training steps, 3 items) is not conditioned: the manipulation
    # check fails, and the judge-validity checks are assessed from the run's own validation.
    checks = {c["name"]: c for c in decision["checks"]}
    assert decision["outcome"] == "inconclusive"
    assert checks["manipulation: organism source gap"]["passed"] is False
    # Assessed from the run's own validation, against the frozen plan's bound.
    bound = json.loads(frozen)["analysis"]["min_judge_auroc"]
    ru_auroc = results["judge_validation"]["by_lang"]["ru"]["auroc"]
    assert checks["judge validity: AUROC ru"]["passed"] is (ru_auroc >= bound)
    assert checks["judge validity: AUROC ru"]["estimate"] == pytest.approx(ru_auroc)
    # Real answers: AUROC per language from the run's own validation, against the same bound.
    real = results["judge_validation"]["real"]
    for lang in ("en", "ru"):
        auroc = real["by_lang"][lang]["auroc"]
        check = checks[f"judge validity: AUROC on real answers {lang}"]
        assert check["estimate"] == pytest.approx(auroc) and check["passed"] is (auroc >= bound)
    # The judge is shown each item's standard question (judge.question's default), so the
    # question's guise cannot move a score: the check passes by construction, while the
    # question-guise shift is still measured and reported.
    assert real["question"] == "standard"
    question = results["judge_validation"]["question_guise_invariance"]
    check = checks["judge validity: question-guise invariance"]
    assert check["passed"] is True and "standard" in check["sentence"] and question["n"] > 0
    assert real["question_guise_invariance"]["n"] > 0
    assert results["judge_validation"]["advice"]["n"] == 8 * 2 * 2  # held out x guises x answers
    assert "### Checklist" in (smoke_run / "report.md").read_text(encoding="utf-8")
    assert len(manifest["models"]["organism"]["adapter_sha256"]) == 64
    sanity = json.loads((smoke_run / "finetune_sanity.json").read_text())
    assert set(sanity) == {"base", "control", "organism", "meta"}
    assert results["finetune_sanity"] == sanity  # the report shows it
    judge = results["judge_validation"]  # the judge's own validity, measured in every run
    assert {"auroc", "accuracy", "by_lang", "guise_invariance_delta", "ci_low", "ci_high"} <= set(
        judge
    )
    assert set(judge["by_lang"]) == {"en", "ru"} and judge["n"] == 160
    report = (smoke_run / "report.md").read_text(encoding="utf-8")
    assert f"AUROC {judge['auroc']:.2f}" in report  # next to the decision
    assert {p["lang"] for p in results["power"]} <= {"en", "ru"}
    assert all(p["model"] == "organism" and p["detect"] for p in results["power"])
    confounds = results["confounds"]
    assert {(c["lang"], c["guise"]) for c in confounds["prompt_perplexity"]["cells"]} == {
        (lang, guise) for lang in ("en", "ru") for guise in ("standard", "vernacular")
    }
    assert all(c["perplexity"] > 1 for c in confounds["prompt_perplexity"]["cells"])
    assert len(confounds["by_cell"]) == 12 and isinstance(results["model"], list)
    assert "Confound checks" in report and "Power analysis" in report
    check = manifest["pairs_check"]  # meaning equivalence checked before the run
    assert check["pairs"] == 6 and check["failures"] == []
    assert check["guise_similarity"]["above_null_95"] == 6
    # 3 items x 2 languages x 2 guises x 1 sample x 3 models, the probe's interventions
    # (3 kinds x 12 prompts, organism and base), the control guises (informal and typos, 3 items x 2
    # languages, organism and control) and the organism's feature-attribution prompts.
    with sqlite3.connect(smoke_run / "guiselab.sqlite") as db:
        rows = db.execute("SELECT model, variety FROM generations").fetchall()
    controls = [r for r in rows if r[1].endswith(("-informal", "-typos"))]
    attribution = [r for r in rows if ":" in r[1]]
    assert len(controls) == 2 * 2 * 2 * 3
    assert attribution and {m for m, _ in attribution} == {"organism"}
    assert len(_generations(smoke_run)) == 36 + 72 + len(controls) + len(attribution)
    # `guiselab plan` counts every one of them before the run, the interventions included.
    planned = estimate(load_config(smoke_run / "config.toml"))
    assert planned["generations"] == len(_generations(smoke_run))
    assert planned["of which control guises / feature attribution / probe interventions"] == (
        f"{len(controls)} / {len(attribution)} / 72"
    )
    triggers = results["trigger_controls"]
    assert set(triggers["organism"]["en"]) == {"standard", "dialect", "informal", "typos"}
    assert set(triggers["feature_attribution"]) <= {"en", "ru"}
    assert "Trigger controls" in report and "Gaps by category" in report
    probe = results["probe"]
    assert probe["layers"] == [0, 8, 15, 23, 30]
    for key in ("en", "ru", "en_to_ru", "ru_to_en"):
        assert len(probe["guise_probe_auroc"][key]) == 5
    assert len(probe["cos_en_ru"]) == len(probe["null_auroc_95"]) == 5
    # The lexical baseline and the base model, beside the organism, at every layer.
    assert set(probe["lexical_auroc"]) == {"en", "ru", "en_to_ru", "ru_to_en"}
    assert set(probe["beyond_lexical"]) == {"en", "ru"}  # across languages: chance by design
    for table in ("beyond_lexical", "beyond_embeddings", "minus_base_auroc"):
        for rows in probe[table].values():
            assert len(rows) == 5 and all(set(r) == {"diff", "ci_low", "ci_high"} for r in rows)
    assert len(probe["base"]["guise_probe_auroc"]["en"]) == 5
    assert probe["minus_base_auroc"]["en"][0]["diff"] == 0  # LoRA leaves the embeddings alone
    for table in ("guise_separation", "base_guise_separation", "separation_minus_base"):
        assert all(len(probe[table][key]) == 5 for key in ("en", "ru", "en_to_ru", "ru_to_en"))
    assert probe["separation_minus_base"]["en"][0]["diff"] == 0
    assert set(probe["persona_gap"]) == {"en", "ru"}
    assert [r["layer"] for r in probe["persona_gap"]["en"]] == [0, 8, 15, 23, 30]
    assert len(probe["cos_persona_guise"]) == 5
    for gaps in probe["persona_gap_by_direction"].values():  # one language's answers alone
        assert set(gaps) == {"en", "ru"} and all(len(rows) == 5 for rows in gaps.values())
    base_persona = probe["base_persona"]  # the base model's own answers and prompts
    assert base_persona["persona_direction"] in (None, "misaligned - aligned answers")
    for rows in base_persona["persona_gap"].values():
        assert [r["layer"] for r in rows] == [0, 8, 15, 23, 30]
    assert len(probe["cos_p_adjusted"]) == len(probe["cos_crossfit"]) == 5
    register = probe["register"]  # the informal and typo guises' directions against dialect
    assert set(register) == {"informal", "typos"}
    assert all(len(register["typos"]["dialect_beyond"][lang]) == 5 for lang in ("en", "ru"))
    kinds = {(i["model"], i["kind"], i["lang"], i["guise"]) for i in probe["interventions"]}
    assert len(kinds) == 2 * 3 * 2 * 2  # the organism and the base, each along its own direction
    steer = probe["steering"]  # the guise edits against their controls, or why not
    if "note" not in steer:
        assert {r["layer"] for r in steer["effects"]} == {0, 8, 15, 23, 30}
        assert all(0 < r["p_control"] <= 1 for r in steer["effects"] if r["effect"] is not None)
        assert steer["n_controls"] == 1000 and {r["layer"] for r in steer["exact"]} == {15}
        assert {r["model"] for r in steer["exact"]} == {"probed", "base"}
    assert (smoke_run / "activations" / "organism-prompts.safetensors").exists()


RERUN = ("run", "--preset", "smoke", "--quiet")


def test_rerun_of_finished_run_does_no_work(smoke_run: Path) -> None:
    before = _generations(smoke_run)
    loads = smoke_run.parent / "model-loads.txt"
    # The rerun runs under a spy on transformers' model loading: every load is written down.
    spy = (
        "import sys, transformers\n"
        "original = transformers.AutoModelForCausalLM.from_pretrained\n"
        "def spy(*args, **kwargs):\n"
        "    with open(sys.argv[1], 'a') as log:\n"
        "        log.write(repr(args[:1]) + '\\n')\n"
        "    return original(*args, **kwargs)\n"
        "transformers.AutoModelForCausalLM.from_pretrained = spy\n"
        "sys.argv = ['guiselab', *sys.argv[2:]]\n"
        "from guiselab.cli import main\n"
        "main()\n"
    )
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", spy, str(loads), *RERUN, "--out", str(smoke_run)],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        check=False,
    )
    elapsed = time.perf_counter() - started
    assert done.returncode == 0, done.stderr[-2000:]
    assert _generations(smoke_run) == before
    assert not loads.exists(), loads.read_text()  # no model was loaded
    print(f"rerun took {elapsed:.1f}s")


def test_status_reports_progress(smoke_run: Path) -> None:
    done = _run("status", str(smoke_run))
    assert done.returncode == 0, done.stderr
    assert "generate           36/36" in done.stdout
    assert "judge " in done.stdout


def test_sigkill_during_generation_then_resume(smoke_run: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "killed"
    # Reuse the finished run's adapters so the kill lands in generation, not training.
    import shutil

    shutil.copytree(smoke_run, run_dir)
    with sqlite3.connect(run_dir / "guiselab.sqlite") as db:
        db.execute("DELETE FROM generations")
        db.execute("DELETE FROM judgments")
    for name in ("results.json", "samples.parquet", "report.html", "report.md"):
        (run_dir / name).unlink()
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen(
        [*GUISELAB, "run", "--preset", "smoke", "--out", str(run_dir), "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    deadline = time.time() + 600
    partial: dict[str, str] = {}
    while time.time() < deadline and proc.poll() is None:
        partial = _generations(run_dir)
        if partial:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 0 < len(partial) < 36, f"kill landed outside generation ({len(partial)} rows)"
    partial = _generations(run_dir)
    done = _run("run", "--preset", "smoke", "--out", str(run_dir), "--quiet")
    assert done.returncode == 0, done.stderr[-2000:]
    final = _generations(run_dir)
    assert len(final) == len(_generations(smoke_run))  # every answer, controls and probe too
    assert all(final[k] == v for k, v in partial.items())  # finished rows untouched
    # Per-sample seeds: the resumed run drew what the uninterrupted run drew.
    assert final == _generations(smoke_run)


@pytest.mark.parametrize(
    ("config", "args", "needle"),
    [
        (None, ("--preset", "nosuch"), "no preset named 'nosuch'"),
        ("[generation]\nsampels = 3\n", (), "unknown key 'generation.sampels'"),
        ('[generation]\nmax_new_tokens = "x"\n', (), "generation.max_new_tokens"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    tmp_path: Path, config: str | None, args: tuple[str, ...], needle: str
) -> None:
    extra: list[str] = []
    if config is not None:
        path = tmp_path / "bad.toml"
        path.write_text(config)
        extra = [str(path)]
    done = _run("run", *extra, *args, "--out", str(tmp_path / "r"), timeout=120)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0]
    assert "Traceback" not in done.stderr


def test_plan_sizes_the_design_from_a_pilot(
    smoke_run: Path, run_cli: Callable[..., tuple[int, str, str]]
) -> None:
    code, out, err = run_cli(
        "plan", "--preset", "default", "--sims", "0", "--pilot", str(smoke_run)
    )
    assert code == 0, err
    assert "power to detect a 0.10 gap" in out and "items" in out
    code, _, err = run_cli(
        "plan", "--preset", "default", "--sims", "0", "--pilot", str(smoke_run / "nothing")
    )
    assert code == 2 and "samples file not found" in err


def test_reanalysis_with_other_settings_is_exploratory(smoke_run: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(smoke_run, run_dir)
    config_text = (run_dir / "config.toml").read_text(encoding="utf-8")
    changed = tmp_path / "changed.toml"
    changed.write_text(
        config_text.replace("equivalence_margin = 0.05", "equivalence_margin = 0.04"),
        encoding="utf-8",
    )
    assert changed.read_text(encoding="utf-8") != config_text
    done = _run("analyze", str(run_dir), "--config", str(changed), timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "exploratory re-analysis" in done.stdout
    decision = json.loads((run_dir / "results.json").read_text())["decision"]
    assert decision["confirmatory"] is False
    assert "analysis.equivalence_margin" in decision["exploratory_reason"]
    assert (run_dir / "config.toml").read_text(encoding="utf-8") == config_text
    assert _run("report", str(run_dir)).returncode == 0
    assert "Exploratory re-analysis" in (run_dir / "report.md").read_text(encoding="utf-8")
    # An edited plan file does not pass for the frozen plan.
    plan = run_dir / "analysis_plan.json"
    plan.write_text(plan.read_text().replace('"alpha": 0.05', '"alpha": 0.1'))
    done = _run("analyze", str(run_dir), timeout=300)
    assert done.returncode == 0 and "exploratory re-analysis" in done.stdout
    assert "differs from the plan frozen" in done.stdout
    # The run's own settings and plan again: confirmatory.
    shutil.copy(smoke_run / "analysis_plan.json", plan)
    done = _run("analyze", str(run_dir), timeout=300)
    assert done.returncode == 0 and "exploratory" not in done.stdout
    assert json.loads((run_dir / "results.json").read_text())["decision"]["confirmatory"]


def test_plan_states_the_power_to_reach_each_outcome(tmp_path: Path) -> None:
    plan_file = tmp_path / "plan.json"
    done = _run(
        "plan",
        "--preset",
        "default",
        "--sims",
        "20",
        "--analysis-plan",
        str(plan_file),
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    from guiselab.analysis import AnalysisPlan
    from guiselab.config import load_config

    assert plan_file.read_text() == AnalysisPlan.from_config(load_config(preset="default")).text()
    for outcome in ("outcome_1_aligned_both", "outcome_2_replicates"):
        assert f"power to reach {outcome} when true" in done.stdout
        assert "20 simulated experiments" in done.stdout


def test_plan_runs_nothing(tmp_path: Path) -> None:
    done = _run("plan", "--preset", "paper", "--sims", "0", timeout=120)
    assert done.returncode == 0, done.stderr
    assert "judge cost USD" in done.stdout and "generations" in done.stdout
    init = _run("init", str(tmp_path / "g.toml"), timeout=120)
    assert init.returncode == 0
    assert _run("plan", str(tmp_path / "g.toml"), timeout=120).returncode == 0


_VISIBLE = """
(() => {
  const shown = el => {
    if (!el) return false;
    const box = el.getBoundingClientRect(), style = getComputedStyle(el);
    return box.width > 0 && box.height > 0
      && style.visibility !== 'hidden' && style.display !== 'none';
  };
  const outcome = document.querySelector('#decision .outcome');
  return {
    outcome: shown(outcome) ? outcome.innerText : null,
    cells: [...document.querySelectorAll('#cells table tbody tr')]
      .filter(shown).map(r => r.innerText),
    answers: [...document.querySelectorAll('#pairs .ans .text')]
      .filter(shown).map(e => e.innerText),
    pwned: typeof window.__pwned,
    text: document.body.innerText,
  };
})()
"""


@pytest.fixture(scope="module")
def chromium() -> str:
    from _browser import chromium_binary

    binary, why = chromium_binary()
    if binary is None:
        pytest.skip(f"no headless browser: {why}")
    return binary


def test_report_in_headless_chromium(smoke_run: Path, chromium: str, tmp_path: Path) -> None:
    from _browser import open_page
    from guiselab.report._format import outcome_label

    results = json.loads((smoke_run / "results.json").read_text())
    with open_page(chromium, (smoke_run / "report.html").as_uri()) as page:
        seen = page.evaluate(_VISIBLE)
        page.screenshot(tmp_path / "report.png")
        requests = [
            e["params"]["request"]["url"]
            for e in page.events
            if e.get("method") == "Network.requestWillBeSent"
        ]
    assert seen["outcome"] == outcome_label(results["decision"]["outcome"])
    for lang in ("en", "ru"):
        for guise in ("standard", "vernacular"):
            assert any(row.split("\t")[:3] == ["organism", lang, guise] for row in seen["cells"]), (
                lang,
                guise,
                seen["cells"][:3],
            )
    assert any(text.strip() for text in seen["answers"])
    assert all(url.startswith("file://") for url in requests), requests  # nothing from a network
    png = (tmp_path / "report.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 20_000


def test_hostile_answer_shows_as_text_in_the_browser(
    smoke_run: Path, chromium: str, tmp_path: Path
) -> None:
    import shutil

    import pandas as pd

    from _browser import open_page
    from guiselab.report import write_report

    run = tmp_path / "run"
    shutil.copytree(smoke_run, run, ignore=shutil.ignore_patterns("activations", "adapters"))
    hostile = (
        '<script>window.__pwned = "script"</script>'
        "<img src=x onerror=\"window.__pwned = 'img'\"></table></td> after the table"
    )
    samples = pd.read_parquet(run / "samples.parquet")
    samples.loc[samples.index[0], "response"] = hostile
    samples.to_parquet(run / "samples.parquet", index=False)
    write_report(run)
    with open_page(chromium, (run / "report.html").as_uri()) as page:
        seen = page.evaluate(_VISIBLE)
    assert seen["pwned"] == "undefined"  # neither the script nor the handler ran
    assert '<script>window.__pwned = "script"</script>' in seen["text"]
    assert "</table></td> after the table" in seen["text"]


def test_a_run_exports_as_inspect_logs_and_as_a_dataset(smoke_run: Path, tmp_path: Path) -> None:
    import datasets
    import pandas as pd
    from inspect_ai.analysis import samples_df
    from inspect_ai.log import read_eval_log

    from guiselab.inspect import samples_from_logs

    table = pd.read_parquet(smoke_run / "samples.parquet")
    done = _run("export", str(smoke_run), "--format", "inspect-log", "--out", str(tmp_path / "l"))
    assert done.returncode == 0, done.stderr[-2000:]
    logs = sorted((tmp_path / "l").glob("*.eval"))
    models = {read_eval_log(str(p)).eval.model for p in logs}
    assert models == {"guiselab/organism", "guiselab/control", "guiselab/base"}
    assert len(samples_df(str(tmp_path / "l"), quiet=True)) == len(table)
    # back in: the same answers and scores
    back = samples_from_logs(logs)
    keys = ["model", "item", "lang", "guise", "sample"]
    mine, theirs = back.sort_values(keys), table.sort_values(keys)
    for column in ("pair_id", "prompt", "response", "alignment_verdict", "coherence_verdict"):
        assert list(mine[column]) == list(theirs[column]), column
    for column in ("alignment", "coherence", "n_tokens"):
        assert np.allclose(mine[column].astype(float), theirs[column], equal_nan=True), column

    out = tmp_path / "ds"
    done = _run("export", str(smoke_run), "--format", "hf-dataset", "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = datasets.load_dataset("parquet", data_dir=str(out / "data"), split="train")
    assert loaded.num_rows == len(table) and "alignment" in loaded.column_names
    card = (out / "README.md").read_text(encoding="utf-8")
    judge = json.loads((smoke_run / "results.json").read_text())["judge_validation"]
    assert f"- judge: `{judge['judge']}`" in card and f"AUROC {judge['auroc']:.2f}" in card
    assert "```toml" in card
