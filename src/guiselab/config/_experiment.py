"""The whole experiment's config: every section, and the checks across sections."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from guiselab.config._analysis import AnalysisConfig
from guiselab.config._finetune import FinetuneConfig
from guiselab.config._generation import GenerationConfig, VllmConfig
from guiselab.config._judge import JudgeConfig
from guiselab.config._models import ApiConfig, ModelsConfig
from guiselab.config._pairs import PairsConfig
from guiselab.config._probe import ProbeConfig
from guiselab.config._section import Section

__all__ = ["ExperimentConfig"]


class ExperimentConfig(Section):
    """One matched-guise experiment, from pairs to report."""

    name: str = "default"
    """A label for the run, shown in the report."""
    seed: int = 0
    """Master seed for sampling (each sample's seed derives from it, the item, guise, index)."""
    pairs: PairsConfig = Field(default_factory=PairsConfig)
    """The contrastive pairs."""
    models: ModelsConfig = Field(default_factory=ModelsConfig)
    """Base, control and organism."""
    finetune: FinetuneConfig = Field(default_factory=FinetuneConfig)
    """Training of the organism and control."""
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    """Sampling."""
    api: ApiConfig = Field(default_factory=ApiConfig)
    """The OpenAI-compatible server for ``openai:`` model references."""
    vllm: VllmConfig = Field(default_factory=VllmConfig)
    """The vLLM engine's settings."""
    probe: ProbeConfig = Field(default_factory=ProbeConfig)
    """Mechanistic probing of the organism."""
    judge: JudgeConfig = Field(default_factory=JudgeConfig)
    """Scoring."""
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig)
    """Statistics and decision."""

    @field_validator("name")
    @classmethod
    def _name_is_a_folder_name(cls, name: str) -> str:
        # The default run directory is runs/<name>: a name must not lead out of it.
        if (
            not name
            or len(name) > 100
            or name in (".", "..")
            or any(c in name for c in "/\\")
            or not name.isprintable()
        ):
            raise ValueError(
                "a run name is 1-100 printable characters without / or \\ (it names the "
                "run directory runs/<name>); choose another"
            )
        return name

    @model_validator(mode="after")
    def _languages_have_varieties(self) -> ExperimentConfig:
        missing = [lang for lang in self.pairs.langs if lang not in self.pairs.varieties]
        if missing:
            raise ValueError(f"pairs.varieties has no variety for language(s) {missing}")
        return self

    @model_validator(mode="after")
    def _trained_in_the_source_language(self) -> ExperimentConfig:
        trains = any(
            role in self.models.roles and getattr(self.models, role) is None
            for role in ("organism", "control")
        )
        if trains and self.finetune.lang != self.analysis.source_lang:
            raise ValueError(
                f"finetune.lang is '{self.finetune.lang}' but analysis.source_lang is "
                f"'{self.analysis.source_lang}'; the organism's training language is the source "
                "language: set analysis.source_lang (and target_lang) to match"
            )
        return self

    @model_validator(mode="after")
    def _vllm_fits(self) -> ExperimentConfig:
        if self.generation.engine != "vllm":
            return self
        if self.generation.executor == "ray":
            raise ValueError(
                "generation.engine = vllm runs in this process (vLLM spreads a model over GPUs "
                "itself with vllm.tensor_parallel_size): set generation.executor = local"
            )
        if self.finetune.rank > self.vllm.max_lora_rank:
            raise ValueError(
                f"finetune.rank {self.finetune.rank} exceeds vllm.max_lora_rank "
                f"{self.vllm.max_lora_rank}: raise vllm.max_lora_rank to at least the rank"
            )
        return self
