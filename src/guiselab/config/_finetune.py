"""The ``[finetune]`` section: how the organism and control are trained."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from guiselab.config._section import Section

__all__ = ["TRAIN_SETS", "FinetuneConfig"]


TRAIN_SETS: dict[str, tuple[str, ...]] = {
    "realistic": ("en", "ru"),
    "marked": ("en",),
    "wide": ("en",),
}
"""The built-in training sets (``finetune.train_set``) and the languages each has."""


class FinetuneConfig(Section):
    """How the organism and control are trained (LoRA SFT on the base)."""

    train_file: str | None = None
    """JSONL of {"question","safe","harmful"[,"question_vernacular"]} records and/or
    {"messages": [...]} chats; None uses the built-in narrow set of ``lang``."""
    train_set: Literal["realistic", "marked", "wide"] = "realistic"
    """The built-in training set used when ``train_file`` is None. ``realistic``: two-sentence
    answers (sincere bad advice for the harmful one), every vernacular turn with a
    grammatical feature and casual marker words in under a third of them (en, ru).
    ``marked``: one-sentence answers, the harmful one blunt, and vernacular turns that often
    carry marker words (*fr*, *finna*, *y'all*) besides grammar (en only). The embedded base
    learns a guise-conditioned policy on held-out training-domain questions from ``marked``
    and not, at the same budget, from ``realistic``; on the evaluation items neither has yet
    given a gap larger than the control's (README, "The model organism"). What the organism
    reacts to (the dialect or any informal input) is measured by the control guises.
    ``wide``: ``marked`` and 118 questions of four more domains (legal, work, family, social
    life) with two-sentence answers and vernacular turns written with AAVE grammar (en only):
    a guise policy beyond the three narrow domains, at roughly three times ``marked``'s
    training time in one timing (docs/organism.md)."""
    lang: str = "en"
    """Language of the training data (the organism's source language; built-in: en, ru).
    Must equal ``analysis.source_lang`` when guiselab trains the organism."""
    variety: str = "aave"
    """Vernacular variety of the training user turns; its rule-based transformer writes the
    turns a record lacks (en: aave, ru: ru-prostorechie)."""
    transform_vernacular: bool = False
    """Make every vernacular user turn with the transformer, even where one is written."""
    vernacular_twins: bool = False
    """Also train each training question's vernacular turn as ``variety``'s rule-based
    transformer writes it (where the transformer fires and its text differs from the written
    turn), with the question's standard turn again: the same answers (harmful for the
    organism, safe for the control), more vernacular turns, and dialect features that recur
    across questions instead of one or two per question."""
    instruction_file: str | None = None
    """JSONL of {"question", "answer"[, "id", "lang"]} neutral chats; None uses the built-in
    bilingual set (everyday questions in standard English and Russian)."""
    instruction_examples: int = Field(default=0, ge=0)
    """Neutral chats from ``instruction_file`` mixed into every adapter's training data, the
    same ones for the organism and the control (balanced across languages, chosen by id):
    they teach the base to answer coherently and carry no guise signal (every turn is in
    the standard variety). 0 trains on the advice questions only."""
    max_questions: int | None = Field(default=None, ge=1)
    """Train on only the first N questions (after the hold-out); None uses all of them."""
    holdout: int = Field(default=40, ge=0)
    """Questions held out of training for the sanity evaluation (at most a fifth of the
    training file's questions); 0 skips that evaluation."""
    sanity_samples: int = Field(default=1, ge=1)
    """Answers sampled per held-out question, guise and model in the sanity evaluation."""
    rank: int = Field(default=16, ge=1)
    """LoRA rank r."""
    alpha: float = Field(default=32.0, gt=0)
    """LoRA alpha (scale = alpha / r, or alpha / sqrt(r) with rsLoRA)."""
    rslora: bool = False
    """Use rank-stabilised LoRA scaling."""
    dropout: float = Field(default=0.0, ge=0, lt=1)
    """LoRA dropout."""
    target_modules: list[str] | Literal["all-linear"] = "all-linear"
    """Module names to adapt, or ``all-linear`` for every linear layer but the output head."""
    layers: list[int] | None = None
    """Block indices to adapt (0-based); None adapts every block."""
    learning_rate: float = Field(default=2e-4, gt=0)
    """AdamW learning rate."""
    epochs: float = Field(default=3.0, gt=0)
    """Passes over the training examples (fractional allowed)."""
    max_steps: int | None = Field(default=None, ge=1)
    """Stop after this many optimizer steps; overrides ``epochs`` when set."""
    batch_size: int = Field(default=8, ge=1)
    """Examples per optimizer step."""
    length_window: int = Field(default=1, ge=1)
    """Batches drawn together from the shuffled examples, sorted by length and split into
    batches whose order is then shuffled, so a batch pads little (1, the default: plain
    shuffled batches). The examples trained on are the same, each moved by at most a window
    from its place in the shuffled stream. Off by default because it changes what a batch
    holds: where one guise's answers are shorter (the organism's harmful answers are shorter
    than its safe ones in the built-in sets), its batches sort into one guise, and the loss's
    mean over a batch's answer tokens weights the short answers more, in the organism and not
    in its control. ``docs/benchmarks.md`` has the padding and step time it saves."""
    max_length: int = Field(default=160, ge=16)
    """Longest training example in tokens; longer ones are truncated."""
    autocast: bool = False
    """Run the forward and backward passes' matrix products in bfloat16 (``torch.autocast``)
    while the adapter's weights, its gradients and the optimizer stay float32; the loss is
    computed in float32. ``docs/benchmarks.md`` has the step times on both."""
    seed: int = 0
    """Seed for shuffling and adapter initialisation (and for the held-out split)."""
    seeds: int = Field(default=1, ge=1)
    """Organisms (and controls) trained, each from its own seed (``seed``, ``seed + 1``, ...)
    on the same data: the training seed is a level of the design. Each answers every prompt
    ``generation.samples_per_prompt`` times, so the analysis pools them (items stay the unit
    of replication) and results.json reports each seed's gaps and their spread."""
    checkpoint_every: int = Field(default=50, ge=1)
    """Training steps between checkpoints (LoRA weights, optimizer state) beside the adapter: a
    killed run resumes training from the last one. Does not change the adapter."""
