"""What every config section shares: strict parsing, the model roles, reference checks."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from guiselab.errors import ModelRefError
from guiselab.refs import parse_ref

__all__ = ["ALL_ROLES", "ENV_NAME", "ModelRole", "Section", "check_ref"]

ModelRole = Literal["base", "control", "organism"]
ALL_ROLES: tuple[ModelRole, ...] = ("base", "control", "organism")

ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
"""An environment variable's name: what a config holds in place of a key."""


def check_ref(ref: str) -> None:
    """A model reference's syntax (what it names is checked when a run opens)."""
    try:
        parse_ref(ref)
    except ModelRefError as exc:
        raise ValueError(exc.message) from None


class Section(BaseModel):
    """A config section: unknown keys are refused, values are typed and frozen."""

    # strict: TOML values are typed, so a string is never read as a bool or a number
    # (lax pydantic would take trust_remote_code = "yes" as true).
    model_config = ConfigDict(
        extra="forbid", use_attribute_docstrings=True, frozen=True, strict=True
    )
