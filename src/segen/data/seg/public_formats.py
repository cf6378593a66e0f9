"""Public dataset layouts with class names and colours built in: CamVid, VOC, Cityscapes, Oxford Pet, image/label.

Importing this module registers the formats `camvid`, `voc`, `cityscapes`, `oxford-pet`, `image-label`
and `image-label-inverted` (see `segen.data.seg.formats`). Each maps its stored mask values to class ids with a
256-entry lookup table; values a format does not know are either sent to the ignore value (VOC boundary,
Cityscapes' unused label ids, CamVid void) or left unchanged so that the dataset's value check names the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segen.data.io import read_mask
from segen.data.seg.folder import SPLITS, ClassInfo, Sample, SplitListing, pair_folders, pair_keys
from segen.data.seg.formats import ListedFormat, register_format
from segen.data.seg.masks import identity_lut
from segen.errors import DataError
from segen.preprocess import class_colors

CAMVID_CLASSES = ["Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol", "Fence", "Car",
                  "Pedestrian", "Bicyclist"]
CAMVID_COLORS = [(128, 128, 128), (128, 0, 0), (192, 192, 128), (128, 64, 128), (60, 40, 222), (128, 128, 0),
                 (192, 128, 128), (64, 64, 128), (64, 0, 128), (64, 64, 0), (0, 128, 192)]
CAMVID_VOID = 11

VOC_CLASSES = ["background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
               "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
               "tvmonitor"]
VOC_BOUNDARY = 255

CITYSCAPES_CLASSES = ["road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
                      "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
                      "motorcycle", "bicycle"]
CITYSCAPES_COLORS = [(128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153),
                     (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152),
                     (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100),
                     (0, 80, 100), (0, 0, 230), (119, 11, 32)]
CITYSCAPES_TRAIN_IDS = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11, 25: 12,
                        26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}
_CITY_IMAGE, _CITY_LABEL = "_leftImg8bit.png", "_gtFine_labelIds.png"

PET_CLASSES = ["background", "pet"]
PET_COLORS = [(0, 0, 0), (255, 160, 0)]
PET_TRIMAP = {1: 1, 2: 0}  # stored trimap value -> class id; 3 (the uncertain border) is ignored
PET_BORDER = 3
PET_LISTS = {"train": "trainval.txt", "test": "test.txt"}

DEFAULT_FOREGROUND = 255
"""Stored value of the foreground in `image-label` masks; `image-label-inverted` uses 0 instead."""


def listed_pairs(list_file: Path, images: Path, masks: Path) -> SplitListing:
    """The pairs `images/STEM.jpg`, `masks/STEM.png` of the stems listed (first word per line) in `list_file`.

    A listed file that does not exist is a 'missing' problem and leaves its stem out.
    """
    if not list_file.is_file():
        return _refused(f"{list_file}: split list not found", "missing", list_file)
    stems = sorted({line.split()[0] for line in list_file.read_text().splitlines()
                    if line.strip() and not line.startswith("#")})
    if not stems:
        return _refused(f"{list_file}: lists no images", "empty", list_file)
    samples, problems = [], []
    for stem in stems:
        sample = Sample(images / f"{stem}.jpg", masks / f"{stem}.png")
        absent = [path for path in (sample.image, sample.mask) if not path.is_file()]
        problems += [DataError(f"{path}: not found ({stem!r} is listed in {list_file})", kind="missing", path=path)
                     for path in absent]
        if not absent:
            samples.append(sample)
    return SplitListing(samples, problems)


def _refused(message: str, kind: str, path: Path | None = None) -> SplitListing:
    """A listing with no pairs and one problem."""
    return SplitListing([], [DataError(message, kind=kind, path=path)])


@register_format
class CamVidFormat(ListedFormat):
    """SegNet's CamVid: ROOT/{split}/ images with ROOT/{split}annot/ masks of the same names; 11 = void."""

    name = "camvid"

    def detect(self, root: Path) -> bool:
        return (root / "train").is_dir() and (root / "trainannot").is_dir()

    def splits(self, root: Path) -> list[str]:
        return [s for s in SPLITS if (root / s).is_dir() and (root / f"{s}annot").is_dir()]

    def listing(self, root: Path, split: str) -> SplitListing:
        return pair_folders(root / split, root / f"{split}annot", split)

    def classes(self, root: Path) -> ClassInfo | None:
        return ClassInfo(list(CAMVID_CLASSES), list(CAMVID_COLORS))

    def mask_lut(self, root: Path, ignore_index: int) -> np.ndarray | None:
        lut = identity_lut()
        lut[CAMVID_VOID] = ignore_index
        return lut


def voc_root(root: Path) -> Path:
    """The VOC2012 folder itself: ROOT, ROOT/VOC2012 or ROOT/VOCdevkit/VOC2012 (ROOT when none matches)."""
    for candidate in (root, root / "VOC2012", root / "VOCdevkit" / "VOC2012"):
        if (candidate / "JPEGImages").is_dir() and (candidate / "SegmentationClass").is_dir():
            return candidate
    return root


@register_format
class VocFormat(ListedFormat):
    """Pascal VOC 2012: JPEGImages/*.jpg, paletted SegmentationClass/*.png, ImageSets/Segmentation/{train,val}.txt.

    The boundary value 255 is ignored; there is no labelled test split.
    """

    name = "voc"

    def detect(self, root: Path) -> bool:
        inner = voc_root(root)
        return (inner / "JPEGImages").is_dir() and (inner / "ImageSets" / "Segmentation").is_dir()

    def splits(self, root: Path) -> list[str]:
        lists = voc_root(root) / "ImageSets" / "Segmentation"
        return [s for s in ("train", "val") if (lists / f"{s}.txt").is_file()]

    def listing(self, root: Path, split: str) -> SplitListing:
        inner = voc_root(root)
        return listed_pairs(inner / "ImageSets" / "Segmentation" / f"{split}.txt", inner / "JPEGImages",
                            inner / "SegmentationClass")

    def classes(self, root: Path) -> ClassInfo | None:
        return ClassInfo(list(VOC_CLASSES), class_colors(len(VOC_CLASSES)))

    def mask_lut(self, root: Path, ignore_index: int) -> np.ndarray | None:
        lut = identity_lut()
        lut[VOC_BOUNDARY] = ignore_index
        return lut


def cityscapes_lut(ignore_index: int) -> np.ndarray:
    """Official label id -> train id table; every other label id -> `ignore_index`."""
    lut = np.full(256, ignore_index, dtype=np.uint8)
    for label_id, train_id in CITYSCAPES_TRAIN_IDS.items():
        lut[label_id] = train_id
    return lut


def _by_prefix(folder: Path, suffix: str) -> dict[str, Path]:
    """Files `{city}/{prefix}{suffix}` under `folder`, keyed by `{city}/{prefix}`."""
    return {f"{p.parent.name}/{p.name[: -len(suffix)]}": p for p in sorted(folder.glob(f"*/*{suffix}"))}


@register_format
class CityscapesFormat(ListedFormat):
    """Cityscapes fine annotations: leftImg8bit/{split}/{city}/ with gtFine/{split}/{city}/*_labelIds.png.

    Label ids become the 19 train ids, all others are ignored. A split counts as labelled when its gtFine
    folder holds labelIds files and the first one contains an evaluated class: the public test masks hold
    only void (ego vehicle, out of ROI), so the test split is left out.
    """

    name = "cityscapes"

    def detect(self, root: Path) -> bool:
        return (root / "leftImg8bit").is_dir() and (root / "gtFine").is_dir()

    def splits(self, root: Path) -> list[str]:
        return [s for s in SPLITS if self._labelled(root / "gtFine" / s)]

    @staticmethod
    def _labelled(folder: Path) -> bool:
        first = next(iter(sorted(folder.glob(f"*/*{_CITY_LABEL}"))), None) if folder.is_dir() else None
        if first is None:
            return False
        try:
            values = np.unique(read_mask(first))
        except DataError:  # listed, so that the check names the file
            return True
        return any(int(v) in CITYSCAPES_TRAIN_IDS for v in values)

    def listing(self, root: Path, split: str) -> SplitListing:
        images_dir, labels_dir = root / "leftImg8bit" / split, root / "gtFine" / split
        missing = [DataError(f"{folder}: folder not found (split {split!r})", kind="missing", path=folder)
                   for folder in (images_dir, labels_dir) if not folder.is_dir()]
        if missing:
            return SplitListing([], missing)
        images, labels = _by_prefix(images_dir, _CITY_IMAGE), _by_prefix(labels_dir, _CITY_LABEL)
        problems = [] if images else [DataError(f"{images_dir}: no {{city}}/*{_CITY_IMAGE} images in split "
                                                f"{split!r}", kind="empty", path=images_dir)]
        return pair_keys(images, labels, problems, lambda key: f"no label file {key}{_CITY_LABEL} in {labels_dir}",
                         lambda key: f"no image {key}{_CITY_IMAGE} in {images_dir}")

    def classes(self, root: Path) -> ClassInfo | None:
        return ClassInfo(list(CITYSCAPES_CLASSES), list(CITYSCAPES_COLORS))

    def mask_lut(self, root: Path, ignore_index: int) -> np.ndarray | None:
        return cityscapes_lut(ignore_index)


@register_format
class OxfordPetFormat(ListedFormat):
    """Oxford-IIIT Pet: images/*.jpg, annotations/trimaps/*.png, annotations/{trainval,test}.txt.

    Trimaps store 1 = pet, 2 = background, 3 = border; the border is ignored, so pet vs background is a
    binary task. `trainval.txt` is the train split (segen holds out its own validation images), `test.txt`
    the test split.
    """

    name = "oxford-pet"

    def detect(self, root: Path) -> bool:
        return (root / "images").is_dir() and (root / "annotations" / "trimaps").is_dir()

    def splits(self, root: Path) -> list[str]:
        return [s for s, name in PET_LISTS.items() if (root / "annotations" / name).is_file()]

    def listing(self, root: Path, split: str) -> SplitListing:
        if split not in PET_LISTS:
            return _refused(f"{root}: format 'oxford-pet' has splits train and test, not {split!r}", "invalid", root)
        return listed_pairs(root / "annotations" / PET_LISTS[split], root / "images",
                            root / "annotations" / "trimaps")

    def classes(self, root: Path) -> ClassInfo | None:
        return ClassInfo(list(PET_CLASSES), list(PET_COLORS))

    def mask_lut(self, root: Path, ignore_index: int) -> np.ndarray | None:
        lut = identity_lut()
        for stored, class_id in PET_TRIMAP.items():
            lut[stored] = class_id
        lut[PET_BORDER] = ignore_index
        return lut


IMAGE_LABEL_DIRS = (("image", "label"), ("images", "labels"))


def image_label_dirs(root: Path) -> tuple[Path, Path] | None:
    """The image and label folders of ROOT (image/+label/ or images/+labels/), or None."""
    for images, labels in IMAGE_LABEL_DIRS:
        if (root / images).is_dir() and (root / labels).is_dir():
            return root / images, root / labels
    return None


def foreground_lut(foreground: int) -> np.ndarray:
    """Binary 0/255 masks (values > 127 count as 255): the `foreground` side -> 1, the other -> 0."""
    high = np.arange(256) > 127
    return (high if foreground > 127 else ~high).astype(np.uint8)


class _ImageLabelBase(ListedFormat):
    """ROOT/image/ + ROOT/label/ (or images/ + labels/) paired by stem; binary 0/255 labels; train split only."""

    name = ""
    foreground = DEFAULT_FOREGROUND

    def detect(self, root: Path) -> bool:
        return image_label_dirs(root) is not None

    def splits(self, root: Path) -> list[str]:
        return ["train"] if image_label_dirs(root) is not None else []

    def listing(self, root: Path, split: str) -> SplitListing:
        dirs = image_label_dirs(root)
        if dirs is None:
            return _refused(f"{root}: expected folders image/ and label/ (or images/ and labels/)", "missing", root)
        if split != "train":
            return _refused(f"{root}: format {self.name!r} has only a 'train' split, not {split!r}", "invalid", root)
        return pair_folders(dirs[0], dirs[1], split)

    def classes(self, root: Path) -> ClassInfo | None:
        return ClassInfo(["background", "foreground"], [(0, 0, 0), (255, 255, 255)])

    def mask_lut(self, root: Path, ignore_index: int) -> np.ndarray | None:
        return foreground_lut(self.foreground)


@register_format
class ImageLabelFormat(_ImageLabelBase):
    """Binary image/label folders whose foreground is stored as 255 (`DEFAULT_FOREGROUND`)."""

    name = "image-label"


@register_format
class ImageLabelInvertedFormat(_ImageLabelBase):
    """Binary image/label folders whose foreground is stored as 0 (e.g. ISBI 2012 membranes); never auto-detected."""

    name = "image-label-inverted"
    foreground = 0

    def detect(self, root: Path) -> bool:
        return False
