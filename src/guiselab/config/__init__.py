"""The experiment's one config: typed, strict, saved beside every result.

A config is built in layers: the sections' defaults, then a preset shipped in
``guiselab/presets/<name>.toml``, then the user's TOML file. Unknown keys and wrong types are
rejected with the key's dotted path.
"""

from guiselab.config._analysis import AnalysisConfig
from guiselab.config._comments import commented_config
from guiselab.config._experiment import ExperimentConfig
from guiselab.config._finetune import TRAIN_SETS, FinetuneConfig
from guiselab.config._generation import GenerationConfig, VllmConfig
from guiselab.config._judge import JudgeConfig
from guiselab.config._load import config_to_toml, load_config, preset_names
from guiselab.config._models import ApiConfig, ModelsConfig
from guiselab.config._pairs import PairsConfig
from guiselab.config._probe import ProbeConfig
from guiselab.config._replication import MIRROR_DIR, ReplicationConfig

__all__ = [
    "MIRROR_DIR",
    "TRAIN_SETS",
    "AnalysisConfig",
    "ApiConfig",
    "ExperimentConfig",
    "FinetuneConfig",
    "GenerationConfig",
    "JudgeConfig",
    "ModelsConfig",
    "PairsConfig",
    "ProbeConfig",
    "ReplicationConfig",
    "VllmConfig",
    "commented_config",
    "config_to_toml",
    "load_config",
    "preset_names",
]
