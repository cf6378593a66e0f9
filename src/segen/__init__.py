"""segen: image segmentation (U-Net family) and image generation (GANs) with PyTorch.

Python API (mirrors the command line)::

    import segen
    cfg = segen.SegConfig(data=segen.DataConfig(root="data"), train=segen.TrainConfig(out="runs/a"))
    segen.train_segmentation(cfg)
    mask = segen.Segmenter.from_checkpoint("runs/a/best.pt").predict("image.png")
"""

from segen.config import (
    AugmentConfig,
    DataConfig,
    GanConfig,
    GanDataConfig,
    GanModelConfig,
    GanOptimConfig,
    ModelConfig,
    OptimConfig,
    SegConfig,
    TrainConfig,
)
from segen.data import SyntheticSpec, write_folder_dataset
from segen.errors import CheckpointError, ConfigError, DataError, SegenError
from segen.inference import Ensemble, Segmenter, TileSpec, Tiling, evaluate_segmentation, predict_files
from segen.inference.generator import Generator
from segen.models import create_model, list_models
from segen.training import train_segmentation
from segen.training.gan import train_gan

__version__ = "0.1.0"

__all__ = [
           "AugmentConfig",
           "CheckpointError",
           "ConfigError",
           "DataConfig",
           "DataError",
           "Ensemble",
           "GanConfig",
           "GanDataConfig",
           "GanModelConfig",
           "GanOptimConfig",
           "Generator",
           "ModelConfig",
           "OptimConfig",
           "SegConfig",
           "SegenError",
           "Segmenter",
           "SyntheticSpec",
           "TileSpec",
           "Tiling",
           "TrainConfig",
           "create_model",
           "evaluate_segmentation",
           "list_models",
           "predict_files",
           "train_gan",
           "train_segmentation",
           "write_folder_dataset",
]
