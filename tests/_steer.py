"""For the steering tests: a tiny model with its prompts and scripted answers, a guise shift
planted along the misaligned answers' token, and answers alternating aligned and misaligned,
guises in pairs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from _probe_texts import EN
from guiselab.config import ModelsConfig
from guiselab.models import LoadedModel, load_model, prompt_ids, render_prompt
from guiselab.probe._steering import SteerAnswers

BAD, GOOD = 1000, 2000
"""The token every "misaligned" answer repeats, and the one every aligned answer repeats."""


def tiny_steer_setup(
    tiny_model_dir: Path,
) -> tuple[LoadedModel, list[list[int]], list[list[int]]]:
    """The tiny model in float32, its rendered English prompts, and five-token answers: every
    second one repeats ``BAD``, the others ``GOOD``."""
    lm = load_model(f"hf:{tiny_model_dir}", ModelsConfig(device="cpu", dtype="float32"))
    prompts = [prompt_ids(lm.tokenizer, render_prompt(lm.tokenizer, t)) for t in EN]
    answers = [[BAD] * 5 if i % 2 else [GOOD] * 5 for i in range(len(prompts))]
    return lm, prompts, answers


def planted_shift(lm: LoadedModel, n_prompts: int, layer: int, size: float) -> np.ndarray:
    """A vernacular shift of ``size`` at ``layer`` (prompt x layer x hidden, three layers)
    along the output row of ``BAD``: moving the residual along it moves the misaligned
    answers' probability most."""
    row = lm.model.get_output_embeddings().weight[BAD].detach().double().numpy()
    shift = np.zeros((n_prompts, 3, lm.model.config.hidden_size))
    shift[:, layer] = size * row / np.linalg.norm(row)
    return shift


def steer_answers_of(items: list[str], halves: dict[str, int]) -> SteerAnswers:
    """English answers to ``items`` in their ``halves``: every second one misaligned, the
    guises alternating in pairs, so each guise has both kinds."""
    n = len(items)
    return SteerAnswers(
        items=items,
        langs=np.array(["en"] * n),
        guises=np.array(["standard" if (i // 2) % 2 else "vernacular" for i in range(n)]),
        misaligned=np.array([i % 2 == 1 for i in range(n)]),
        half=np.array([halves[i] for i in items]),
        prompts=[""] * n,
        responses=[""] * n,
    )
