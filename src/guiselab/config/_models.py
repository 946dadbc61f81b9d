"""The ``[models]`` and ``[api]`` sections: the compared models and the server of ``openai:``
references."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from guiselab.config._section import ALL_ROLES, ENV_NAME, ModelRole, Section, check_ref

__all__ = ["ApiConfig", "ModelsConfig"]


class ModelsConfig(Section):
    """The three models the experiment compares: the base, the organism and its control."""

    base: str = "embedded:gemma3-270m"
    """Reference of the untouched base model (``embedded:``, ``hf:``, ``gguf:``, ...)."""
    organism: str | None = None
    """The dialect-conditioned model; None trains it from ``base`` with the finetune stage."""
    control: str | None = None
    """Same recipe with aligned answers for both guises; None trains it like the organism."""
    roles: list[ModelRole] = Field(default_factory=lambda: list(ALL_ROLES))
    """Which of the three models are generated from and analysed."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """Weights' dtype: auto is bfloat16 on a GPU that supports it, float32 on the CPU."""
    device: str = "auto"
    """Torch device (``cpu``, ``cuda``, ``cuda:1``); auto picks CUDA when present."""
    trust_remote_code: bool = False
    """Allow hub models to run their own Python code. Off unless you trust the model's author."""

    @field_validator("base", "organism", "control")
    @classmethod
    def _is_a_model_reference(cls, ref: str | None) -> str | None:
        if ref is not None:
            check_ref(ref)
        return ref


class ApiConfig(Section):
    """The OpenAI-compatible server that ``openai:<model>`` references are generated from."""

    base_url: str | None = None
    """The server's address up to ``/v1`` (e.g. ``http://127.0.0.1:8000/v1`` for a vLLM server)."""
    api_key_env: str = Field(default="OPENAI_API_KEY", pattern=ENV_NAME)
    """Name of the environment variable holding the API key (the key itself is never stored)."""
    max_concurrency: int = Field(default=16, ge=1)
    """Requests in flight at once."""
    max_retries: int = Field(default=5, ge=0)
    """Retries of a request after a 429, a 5xx, a timeout or a malformed body."""
    timeout_s: float = Field(default=120.0, gt=0)
    """Seconds to wait for one response."""
    backoff_s: float = Field(default=1.0, ge=0)
    """First retry delay; it doubles each retry (with jitter) unless the server says when."""
    max_backoff_s: float = Field(default=60.0, ge=0)
    """Longest wait between two tries."""
