"""guiselab: matched-guise experiments on dialect-conditioned misalignment in language models."""

from guiselab.config import ExperimentConfig, load_config
from guiselab.errors import ConfigError, GuiselabError, InputFileError, ModelRefError

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "ExperimentConfig",
    "GuiselabError",
    "InputFileError",
    "ModelRefError",
    "__version__",
    "load_config",
]
