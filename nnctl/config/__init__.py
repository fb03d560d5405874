"""Training configs: load YAML, validate it against the schema, and hand back typed dataclasses.

``load_config(path, overrides)`` is the entry point; every problem is a :class:`ConfigError` that
names the file, the YAML line and the dotted key (exit code 2). See docs/config.md.
"""

from nnctl.config.overrides import Override, apply_overrides, parse_override
from nnctl.config.schema import (
    ACTIVATIONS,
    INITIALIZERS,
    LAYER_TYPES,
    LOSSES,
    METRICS,
    OPTIMIZERS,
    SCHEDULES,
    Config,
    DataConfig,
    EarlyStoppingConfig,
    Initializer,
    LayerConfig,
    LossConfig,
    ModelConfig,
    OptimizerConfig,
    ScheduleConfig,
    SourceConfig,
    TrainConfig,
    config_to_dict,
    load_config,
    parse_config_text,
)
from nnctl.errors import ConfigError

__all__ = [
    "ACTIVATIONS", "INITIALIZERS", "LAYER_TYPES", "LOSSES", "METRICS", "OPTIMIZERS", "SCHEDULES",
    "Config", "ConfigError", "DataConfig", "EarlyStoppingConfig", "Initializer", "LayerConfig",
    "LossConfig", "ModelConfig", "OptimizerConfig", "Override", "ScheduleConfig", "SourceConfig",
    "TrainConfig", "apply_overrides", "config_to_dict", "load_config", "parse_config_text",
    "parse_override",
]
