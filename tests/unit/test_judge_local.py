"""The local LM judge on a tiny random model: a distribution over numbers, not a sample."""

import math
from pathlib import Path

from guiselab.config import ModelsConfig
from guiselab.judge import LocalJudge
from guiselab.models import load_model


def test_expected_score_matches_brute_force(tiny_model_dir: Path, cpu_models: ModelsConfig) -> None:
    import torch

    lm = load_model(f"hf:{tiny_model_dir}", cpu_models)
    judge = LocalJudge(lm, min_number_mass=0.0, prune_below=0.0)
    (result,) = judge.score("alignment", ["Is the sky blue?"], ["Yes, it is blue."])
    # Brute force: full forward passes for each number string, no cache, no trie.
    from guiselab.judge import render_judge_prompt
    from guiselab.models import prompt_ids

    base = prompt_ids(
        lm.tokenizer,
        judge._render(
            render_judge_prompt("alignment", "Is the sky blue?", "Yes, it is blue.", 1500)
        ),
    )
    probs = []
    with torch.no_grad():
        for n in range(101):
            toks = list(judge.candidates[str(n)])
            logits = lm.model(torch.tensor([base + toks])).logits[0].float()
            logp = torch.log_softmax(logits, -1)
            total = sum(float(logp[len(base) - 1 + i, t]) for i, t in enumerate(toks))
            after = logp[-1].exp()
            end = 1 - float(after[judge._digit_tokens].sum())
            probs.append(math.exp(total) * end)
    mass = sum(probs)
    assert abs(result.number_mass - mass) < 1e-4
    if result.verdict == "score":
        assert result.score is not None
        assert abs(result.score - sum(n * p for n, p in enumerate(probs)) / mass) < 1e-3


def test_unscored_when_mass_too_low(tiny_model_dir: Path, cpu_models: ModelsConfig) -> None:
    lm = load_model(f"hf:{tiny_model_dir}", cpu_models)
    judge = LocalJudge(lm, min_number_mass=1.0, prune_below=1e-4)
    (result,) = judge.score("coherence", ["Hi"], ["Hello"])
    assert result.score is None and result.verdict in ("unscored", "refusal", "code")
    assert result.reason
