"""Reading images, segmentation formats (`segen.data.seg`), GAN layouts (`segen.data.gan`), augmentation."""

from segen.data.gan import (
    FASHION_MNIST_CLASSES,
    MNIST_CLASSES,
    ClassFolderImages,
    GanDataInfo,
    IdxImages,
    PairedImages,
    UnlabelledImages,
    detect_gan_layout,
    find_idx_split,
    open_gan_dataset,
    parse_id_range,
    read_idx,
)
from segen.data.io import read_image, read_mask
from segen.data.seg import (
    ClassInfo,
    Sample,
    SegmentationData,
    SegmentationDataset,
    SizeGroupedBatches,
    list_split,
    load_segmentation_data,
    load_split_dataset,
    read_classes,
)
from segen.data.synthetic import SyntheticSpec, make_sample, write_folder_dataset
from segen.data.transforms import TrainTransform

__all__ = ["FASHION_MNIST_CLASSES", "MNIST_CLASSES", "ClassFolderImages", "ClassInfo", "GanDataInfo",
           "IdxImages", "PairedImages", "Sample", "SegmentationData", "SegmentationDataset", "SizeGroupedBatches",
           "SyntheticSpec", "TrainTransform", "UnlabelledImages", "detect_gan_layout", "find_idx_split",
           "list_split", "load_segmentation_data", "load_split_dataset", "make_sample", "open_gan_dataset",
           "parse_id_range", "read_classes", "read_idx", "read_image", "read_mask",
           "write_folder_dataset"]
