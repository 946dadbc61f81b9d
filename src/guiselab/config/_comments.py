"""The resolved config as commented TOML (``guiselab init``): each field's docstring above it."""

from __future__ import annotations

from pydantic import BaseModel

from guiselab.config._experiment import ExperimentConfig
from guiselab.config._load import config_to_toml

__all__ = ["commented_config"]


def _comment_lines(model: BaseModel, prefix: str) -> dict[str, str]:
    out = {}
    for name, field in type(model).model_fields.items():
        doc = (field.description or "").replace("\n", " ")
        out[f"{prefix}{name}"] = " ".join(doc.split())
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            out.update(_comment_lines(value, f"{prefix}{name}."))
    return out


def commented_config(config: ExperimentConfig, preset: str) -> str:
    """The resolved config as TOML with each field's docstring as a comment above it."""
    docs = _comment_lines(config, "")
    lines = [
        "# guiselab experiment config. Every key is optional: what is left out comes from the",
        f"# preset named below ('{preset}'), then from guiselab's defaults.",
        f'preset = "{preset}"',
        "",
    ]
    section = ""
    for raw in config_to_toml(config).splitlines():
        stripped = raw.strip()
        if stripped.startswith("["):
            section = stripped.strip("[]") + "."
            lines.append(raw)
            continue
        if "=" in stripped:
            key = section + stripped.split("=", 1)[0].strip()
            if key.lstrip(".") in docs and docs[key.lstrip(".")]:
                lines.append(f"# {docs[key.lstrip('.')]}")
        lines.append(raw)
    return "\n".join(lines) + "\n"
