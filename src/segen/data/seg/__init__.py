"""Segmentation datasets: registered formats, loading, checks, statistics, conversion and downloads."""

from segen.data.seg.dataset import (
    SegmentationData,
    SegmentationDataset,
    SizeGroupedBatches,
    load_segmentation_data,
    load_split_dataset,
)
from segen.data.seg.folder import ClassInfo, Sample, list_split, read_classes
from segen.data.seg.formats import DatasetFormat, get_format, list_formats, register_format

__all__ = ["ClassInfo", "DatasetFormat", "Sample", "SegmentationData", "SegmentationDataset", "SizeGroupedBatches",
           "get_format", "list_formats", "list_split", "load_segmentation_data", "load_split_dataset", "read_classes",
           "register_format"]
