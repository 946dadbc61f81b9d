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

__all__ = ["ModelSource", "adapter_dir", "model_sources"]


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


def adapter_dir(run_dir: Path, role: str) -> Path:
    """Where a run keeps the LoRA adapter it trained for ``role``."""
    return run_dir / "adapters" / role


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
        if given is not None:
            ident = identify(given, key=key)
        else:
            ident = identify(models.base, adapter=adapter_dir(run_dir, role), key=key)

        def load(ident: Any = ident, key: str = key) -> Any:
            return load_model(ident.label, models, key=key, identity=ident)

        sources.append(ModelSource(role, ident.label, ident.fingerprint, load, identity=ident))
    return sources
