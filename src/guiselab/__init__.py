"""guiselab: matched-guise experiments on dialect-conditioned misalignment in language models.

``guiselab.run(config, out=...)`` runs an experiment and ``guiselab.open_run(path)`` opens a
run directory; both return a :class:`Run` (``.samples``, ``.results``, ``.decision``,
``.report()`` and one method per stage). See :mod:`guiselab.api`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from guiselab.config import ExperimentConfig, load_config
from guiselab.errors import ConfigError, GuiselabError, InputFileError, ModelRefError

if TYPE_CHECKING:
    from guiselab.api import Run, open_run, run

from guiselab.version import __version__

__all__ = [
    "ConfigError",
    "ExperimentConfig",
    "GuiselabError",
    "InputFileError",
    "ModelRefError",
    "Run",
    "__version__",
    "load_config",
    "open_run",
    "run",
]

_API = ("Run", "open_run", "run")


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})


def __getattr__(name: str) -> Any:
    # The API loads the model stack (torch, transformers); `import guiselab` alone stays light.
    if name in _API:
        from guiselab import api

        return getattr(api, name)
    raise AttributeError(f"module 'guiselab' has no attribute {name!r}")
