"""The Trainer and the training tasks."""

from segen.training.seg import SegmentationTask, train_segmentation
from segen.training.trainer import RunResult, Trainer, TrainerState, TrainTask

__all__ = ["RunResult", "SegmentationTask", "TrainTask", "Trainer", "TrainerState", "train_segmentation"]
