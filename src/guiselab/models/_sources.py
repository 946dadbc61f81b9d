"""The models a run samples from: their roles, identities and how to load them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from guiselab.config import ExperimentConfig
from guiselab.errors import ModelRefError
from guiselab.models._load import LoadedModel, ModelIdentity, identify, load_model
from guiselab.models._openai import OpenAIBackend
from guiselab.refs import parse_ref
from guiselab.store import content_key

__all__ = ["ModelSource", "adapter_dir", "model_sources", "replicate_name"]


@dataclass(frozen=True)
class ModelSource:
    """A model in the experiment: its role, identity and how to load it when needed."""

    role: str
    label: str
    fingerprint: str
    load: Callable[[], LoadedModel]
    remote: OpenAIBackend | None = None
    """Set for models served by an OpenAI-compatible server (``openai:``): nothing loads."""
    identity: ModelIdentity | None = None
    """Where an in-process model's weights and adapter are (for engines that load them
    themselves, such as vLLM)."""
    replicate: int = 0
    """Which of the role's trained adapters (``finetune.seeds``) this is; 0 for the first and
    for every model the run does not train."""

    @property
    def name(self) -> str:
        """The role, with the replicate for a second or later trained adapter."""
        return replicate_name(self.role, self.replicate)


def replicate_name(role: str, replicate: int) -> str:
    """``organism`` for the first trained adapter of a role, ``organism-r1`` for the next."""
    return role if replicate == 0 else f"{role}-r{replicate}"


def adapter_dir(run_dir: Path, role: str, replicate: int = 0) -> Path:
    """Where a run keeps the LoRA adapter it trained for ``role`` (and replicate)."""
    return run_dir / "adapters" / replicate_name(role, replicate)


def model_sources(config: ExperimentConfig, run_dir: Path) -> list[ModelSource]:
    """The models the run samples from, identified by their weights' sha256.

    A model served by an OpenAI-compatible server (``openai:``) is identified by its name and
    the server's address: its weights are not ours to hash.
    """
    models = config.models
    sources = []
    for role in models.roles:
        given = models.base if role == "base" else getattr(models, role)
        key = f"models.{role}"
        ref = parse_ref(given, key=key) if given is not None else None
        if ref is not None and ref.kind == "openai":
            backend = OpenAIBackend(ref.target, config.api)
            fingerprint = content_key("openai", config.api.base_url, ref.target)

            def refuse(label: str = str(ref), key: str = key) -> Any:
                raise ModelRefError(f"'{label}' is served remotely; it cannot be loaded", where=key)

            sources.append(ModelSource(role, str(ref), fingerprint, refuse, backend))
            continue
        if given is not None or role == "base":
            idents = [identify(given or models.base, key=key)]
        else:  # trained by the run: one adapter per training seed
            idents = [
                identify(models.base, adapter=adapter_dir(run_dir, role, r), key=key)
                for r in range(config.finetune.seeds)
            ]
        for replicate, ident in enumerate(idents):

            def load(ident: Any = ident, key: str = key) -> Any:
                return load_model(ident.label, models, key=key, identity=ident)

            sources.append(
                ModelSource(
                    role, ident.label, ident.fingerprint, load, identity=ident, replicate=replicate
                )
            )
    return sources
