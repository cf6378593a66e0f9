"""GAN datasets: registered layouts (unlabelled images, class folders, IDX files, image pairs), detected or named."""

from segen.data.gan.classes import ClassFolderImages
from segen.data.gan.common import FASHION_MNIST_CLASSES, MNIST_CLASSES, parse_id_range
from segen.data.gan.idx import IdxImages, find_idx_split, read_idx
from segen.data.gan.images import UnlabelledImages
from segen.data.gan.layouts import (
           GanDataInfo,
           GanLayout,
           GanRequest,
           detect_gan_layout,
           get_gan_layout,
           list_gan_layouts,
           open_gan_dataset,
           register_gan_layout,
)
from segen.data.gan.pairs import PairedImages

__all__ = ["FASHION_MNIST_CLASSES", "MNIST_CLASSES", "ClassFolderImages", "GanDataInfo", "GanLayout", "GanRequest",
           "IdxImages", "PairedImages", "UnlabelledImages", "detect_gan_layout", "find_idx_split", "get_gan_layout",
           "list_gan_layouts", "open_gan_dataset", "parse_id_range", "read_idx", "register_gan_layout"]
