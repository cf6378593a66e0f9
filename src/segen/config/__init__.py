"""Typed, validated run configurations; load and save as YAML.

A run is described by one frozen dataclass tree. The CLI turns a YAML file plus flags into it,
the run folder and every checkpoint store it as plain data, so a run can be rebuilt from either.
Configs check types and ranges; model names, options and choices are the model registry's.
"""

from segen.config.base import (
    DEVICES,
    PRECISIONS,
    RESUMABLE_CHANGES,
    SCHEDULES,
    Interval,
    TrainConfig,
    check_resume,
    from_dict,
    load_yaml,
    merge,
    parse_interval,
    to_yaml,
)
from segen.config.gan import (
    CONDITIONINGS,
    DIFFAUGMENT_POLICIES,
    DIRECTIONS,
    GAN_DEFAULT_BATCH,
    GAN_LOSSES,
    GanConfig,
    GanDataConfig,
    GanModelConfig,
    GanOptimConfig,
)
from segen.config.seg import (
    AUGMENT_PRESETS,
    ENCODER_BN_MODES,
    NATIVE_ENCODERS,
    SMALL_BATCH,
    AugmentConfig,
    DataConfig,
    ModelConfig,
    OptimConfig,
    SegConfig,
)

__all__ = [
    "AUGMENT_PRESETS",
    "CONDITIONINGS",
    "DEVICES",
    "DIFFAUGMENT_POLICIES",
    "DIRECTIONS",
    "ENCODER_BN_MODES",
    "GAN_DEFAULT_BATCH",
    "GAN_LOSSES",
    "NATIVE_ENCODERS",
    "PRECISIONS",
    "RESUMABLE_CHANGES",
    "SCHEDULES",
    "SMALL_BATCH",
    "AugmentConfig",
    "DataConfig",
    "GanConfig",
    "GanDataConfig",
    "GanModelConfig",
    "GanOptimConfig",
    "Interval",
    "ModelConfig",
    "OptimConfig",
    "SegConfig",
    "TrainConfig",
    "check_resume",
    "from_dict",
    "load_yaml",
    "merge",
    "parse_interval",
    "to_yaml",
]
