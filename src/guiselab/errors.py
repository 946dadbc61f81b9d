"""Errors a user can cause. The CLI prints them as one line and exits with code 2."""

from __future__ import annotations

__all__ = ["ConfigError", "GuiselabError", "InputFileError", "ModelRefError"]


class GuiselabError(Exception):
    """A problem with the user's input: its message names the file/line/key and the fix."""

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.where = where
        self.message = message
        super().__init__(f"{where}: {message}" if where else message)


class ConfigError(GuiselabError):
    """A config file, preset or option that cannot be used as given."""


class InputFileError(GuiselabError):
    """A pair file, training file or samples file that cannot be read as given."""


class ModelRefError(GuiselabError):
    """A model reference that names nothing loadable."""


class RemoteError(Exception):
    """A remote service failed in a way the user should hear about in one line (exit 1)."""
