"""The whole experiment's config: every section, and the checks across sections."""

from __future__ import annotations

from pydantic import Field, ValidationError, field_validator, model_validator

from guiselab.config._analysis import AnalysisConfig
from guiselab.config._finetune import TRAIN_SETS, FinetuneConfig
from guiselab.config._generation import GenerationConfig, VllmConfig
from guiselab.config._judge import JudgeConfig
from guiselab.config._models import ApiConfig, ModelsConfig
from guiselab.config._pairs import PairsConfig
from guiselab.config._probe import ProbeConfig
from guiselab.config._replication import MIRROR_DIR, ReplicationConfig
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
    replication: ReplicationConfig = Field(default_factory=ReplicationConfig)
    """The experiment in the other direction, decided in the same run."""

    def mirrored(self) -> ExperimentConfig:
        """The config of the other direction (``replication.mirror``): the organism and
        control trained in the target language on its variety (``replication.finetune`` keys
        applied), source and target languages swapped, no further mirror."""
        a = self.analysis
        data = self.model_dump()
        data["name"] = f"{self.name}-{MIRROR_DIR}"[:100]
        data["finetune"].update(
            lang=a.target_lang,
            variety=self.pairs.varieties.get(a.target_lang, self.finetune.variety),
            train_file=None,
            **self.replication.finetune,
        )
        data["analysis"].update(source_lang=a.target_lang, target_lang=a.source_lang)
        data["probe"]["enabled"] = self.replication.probe
        data["replication"] = {}
        # Validated as a whole, so every check across sections holds for the mirror too.
        return ExperimentConfig.model_validate(data)

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
    def _mirror_can_train(self) -> ExperimentConfig:
        r = self.replication
        if not r.mirror:
            if r.finetune or r.probe:
                raise ValueError(
                    "replication.finetune and replication.probe apply to the mirrored "
                    "direction: set replication.mirror = true, or remove them"
                )
            return self
        missing = [
            role
            for role in ("organism", "control")
            if role not in self.models.roles or getattr(self.models, role) is not None
        ]
        if missing:
            raise ValueError(
                f"replication.mirror trains an organism and a control in the target language, "
                f"but models.{missing[0]} is given or not among models.roles: leave both to "
                "the run, or set replication.mirror = false"
            )
        for key in ("lang", "seed", "seeds"):
            if key in r.finetune:
                raise ValueError(
                    f"replication.finetune.{key} is set by the mirror itself (the target "
                    "language, the run's seeds); remove it"
                )
        try:
            mirror = self.mirrored()
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"])
            if where.startswith("finetune."):
                where = "replication." + where
            raise ValueError(
                f"the mirrored direction's config: {where or 'config'}: {error['msg']}"
            ) from None
        ft = mirror.finetune
        if ft.train_file is None and ft.lang not in TRAIN_SETS[ft.train_set]:
            raise ValueError(
                f"the mirrored direction trains in '{ft.lang}', and the built-in "
                f"'{ft.train_set}' training set has no '{ft.lang}' data: set "
                "replication.finetune.train_set = 'realistic' (or a replication.finetune."
                "train_file)"
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
