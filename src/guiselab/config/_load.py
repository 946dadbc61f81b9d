"""Loading a config: defaults, then a preset, then the user's TOML file; errors name the key.

A TOML syntax error names the line and column; a validation error names the key's dotted path
and never echoes what may be a secret written in place of an environment variable's name.
"""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import ValidationError

from guiselab._read import read_text
from guiselab.config._experiment import ExperimentConfig
from guiselab.errors import ConfigError

__all__ = ["config_to_toml", "load_config", "preset_names"]

_SECRET_WORDS = ("key", "token", "secret", "password")
"""Words in an unknown key's name that suggest a secret written into the config."""


def preset_names() -> list[str]:
    """Names of the presets shipped in the package."""
    folder = resources.files("guiselab") / "presets"
    return sorted(
        p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")
    )


_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)")


def _read_toml(text: str, where: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        reason = str(exc)
        position = _TOML_POSITION.search(reason)
        if position is not None:
            reason = f"{_TOML_POSITION.sub('', reason)} at column {position.group(2)}"
            where = f"{where}:{position.group(1)}"
        raise ConfigError(f"not valid TOML ({reason}); fix the syntax", where=where) from None
    except RecursionError:
        raise ConfigError(
            "TOML nested too deeply to read; a config is a few tables of plain keys",
            where=where,
        ) from None


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _explain(exc: ValidationError) -> str:
    err = exc.errors()[0]
    if not err["loc"]:  # a check across sections: its message names the keys
        return str(err["msg"]).removeprefix("Value error, ")
    key = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        if any(word in key.rsplit(".", 1)[-1].lower() for word in _SECRET_WORDS):
            return (
                f"unknown key '{key}'; guiselab reads API keys only from environment variables: "
                "remove it, export the key and name the variable in api.api_key_env / "
                "judge.api_key_env"
            )
        return f"unknown key '{key}'; remove it or check its spelling (see `guiselab init`)"
    if key.endswith("api_key_env"):  # never echo what may be a key written in its place
        return (
            f"key '{key}' must name an environment variable (like OPENAI_API_KEY), not hold "
            "the key itself: export the key and write the variable's name here"
        )
    value = err.get("input")
    shown = repr(value) if not isinstance(value, dict) else "a table"
    if len(shown) > 80:
        shown = shown[:77] + "..."
    message = str(err["msg"]).removeprefix("Value error, ")
    return f"key '{key}' = {shown}: {message} (`guiselab init` writes every key with its type)"


def load_config(path: Path | None = None, preset: str | None = None) -> ExperimentConfig:
    """Build the config from defaults, a preset and a TOML file, in that order.

    A TOML file may name its own preset with a top-level ``preset = "smoke"`` key; an explicit
    ``preset`` argument wins over it.
    """
    data: dict[str, Any] = {}
    where = "config"
    if path is not None:
        where = str(path)
        text = read_text(path, error=ConfigError, missing="no such config file; check the path")
        data = _read_toml(text, where)
    file_preset = data.pop("preset", None)
    if file_preset is not None and not isinstance(file_preset, str):
        raise ConfigError("key 'preset' must be a preset name string", where=where)
    chosen = preset or file_preset
    merged: dict[str, Any] = {}
    if chosen is not None:
        if chosen not in preset_names():
            raise ConfigError(
                f"no preset named '{chosen}'; choose one of {', '.join(preset_names())}",
                where="--preset" if preset else where,
            )
        text = (resources.files("guiselab") / "presets" / f"{chosen}.toml").read_text("utf-8")
        merged = _read_toml(text, f"preset {chosen}")
    merged = _merge(merged, data)
    try:
        return ExperimentConfig.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(_explain(exc), where=where) from None


def config_to_toml(config: ExperimentConfig) -> str:
    """The fully resolved config as TOML (None values are left out: they mean 'default')."""
    return tomli_w.dumps(config.model_dump(mode="json", exclude_none=True))
