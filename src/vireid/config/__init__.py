"""Configuration: frozen dataclasses loaded from YAML (``base:`` inheritance, dotted overrides).

:mod:`vireid.config.build` is the one place that turns a config into constructor
arguments; nothing else in the library reads a config object.
"""

from vireid.config.loader import (
    apply_overrides,
    config_diff,
    dump_config,
    from_dict,
    load_config,
    parse_overrides,
    save_config,
)
from vireid.config.schema import Config, DataConfig, EvalConfig, LossConfig, ModelConfig, OptimConfig, TrainConfig
from vireid.config.validate import to_dict

__all__ = [
    "Config",
    "DataConfig",
    "EvalConfig",
    "LossConfig",
    "ModelConfig",
    "OptimConfig",
    "TrainConfig",
    "apply_overrides",
    "config_diff",
    "dump_config",
    "from_dict",
    "load_config",
    "parse_overrides",
    "save_config",
    "to_dict",
]
