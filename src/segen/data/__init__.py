"""Dataset formats, joint transforms and the built-in synthetic data."""

from segen.data.dataset import (
    EpochSampler,
    SegmentationData,
    SegmentationDataset,
    SizeGroupedBatches,
    load_segmentation_data,
    load_split_dataset,
    training_crop,
)
from segen.data.folder import ClassInfo, Sample, list_split, read_classes
from segen.data.io import read_image, read_mask
from segen.data.synthetic import SyntheticSpec, make_sample, write_folder_dataset
from segen.data.transforms import TrainTransform

__all__ = ["ClassInfo", "EpochSampler", "Sample", "SegmentationData", "SegmentationDataset",
           "SizeGroupedBatches", "SyntheticSpec", "TrainTransform", "list_split", "load_segmentation_data",
           "load_split_dataset", "make_sample", "read_classes", "read_image", "read_mask", "training_crop",
           "write_folder_dataset"]
