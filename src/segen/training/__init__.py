"""The Trainer and the training tasks."""

from segen.training.seg import SegmentationTask, SegRunResult, train_segmentation
from segen.training.trainer import Trainer, TrainerState, TrainTask

__all__ = ["SegRunResult", "SegmentationTask", "TrainTask", "Trainer", "TrainerState", "train_segmentation"]
