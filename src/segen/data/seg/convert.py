"""Convert any registered dataset format to the canonical folder format.

The result is `DST/{split}/{images,masks}/*.png` plus `DST/classes.yaml`: images are written as PNG
(lossless, also for JPEG sources, so no second JPEG generation is added) at their own depth: 8-bit
images as 8-bit PNG, 16-bit images (PNG, TIFF) as 16-bit PNG with their values unchanged, so the
converted data keeps its value range. Masks are written as single-channel PNG of class ids after the
source format's lookup table (unknown values -> the ignore value). Everything is
written into a temporary sibling folder that is renamed to DST at the end, so a failed conversion leaves
no half-written dataset and an existing non-empty DST is never touched.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
import yaml
from PIL import Image
from tqdm import tqdm

from segen.data.io import image_channels, read_image, read_mask, save_image
from segen.data.readers import resize_image, resize_mask
from segen.data.seg.folder import ClassInfo, Sample
from segen.data.seg.formats import get_format
from segen.data.seg.masks import bad_ids, out_of_range, size_mismatch
from segen.errors import DataError
from segen.runtime import write_atomic


def convert_dataset(fmt_name: str, src: Path, dst: Path, resize: tuple[int, int] | None = None,
                    ignore_index: int = 255, progress: bool = True) -> Path:
    """Write every labelled split of `src` (read as format `fmt_name`) to `dst` in the folder format.

    Args:
        fmt_name: a registered format name, or 'auto' to detect it.
        src: the source dataset root.
        dst: the destination folder; must not exist or be empty.
        resize: (height, width) to resize to (images bilinear with antialiasing, masks nearest), or None.
            16-bit images stay 16-bit (rounded to whole values).
        ignore_index: the class id written for ignored pixels (e.g. CamVid void, VOC boundary).
        progress: show a progress bar over samples.

    Returns:
        The destination folder.
    """
    src, dst = Path(src), Path(dst)
    _check_destination(dst)
    if not src.is_dir():
        raise DataError(f"{src}: data folder not found", kind="missing", path=src)
    if resize is not None and (len(resize) != 2 or min(resize) < 1):
        raise DataError(f"resize must be (height, width) with positive sizes, got {resize}", kind="invalid")
    fmt = get_format(fmt_name, src)
    splits = {split: fmt.samples(src, split) for split in fmt.splits(src)}
    if not splits:
        raise DataError(f"{src}: no labelled split found for format {fmt.name!r}", kind="missing", path=src)
    classes, lut = fmt.classes(src), fmt.mask_lut(src, ignore_index)
    channels = image_channels(next(iter(splits.values()))[0].image)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent))
    try:
        with tqdm(total=sum(map(len, splits.values())), desc=f"convert {fmt.name}", unit="img",
                  disable=not progress) as bar:
            for split, samples in splits.items():
                _write_split(tmp / split, samples, channels, lut, classes, ignore_index, resize, bar)
        if classes is not None:
            _write_classes(tmp / "classes.yaml", classes)
        _check_destination(dst)
        if dst.exists():
            dst.rmdir()
        tmp.rename(dst)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dst


def _check_destination(dst: Path) -> None:
    """Refuse a destination that is a file or a non-empty folder."""
    if dst.exists() and (not dst.is_dir() or any(dst.iterdir())):
        raise DataError(f"{dst}: destination exists and is not empty; choose a new folder", kind="exists", path=dst)


def _write_split(out: Path, samples: list[Sample], channels: int, lut: np.ndarray | None,
                 classes: ClassInfo | None, ignore_index: int, resize: tuple[int, int] | None, bar: tqdm) -> None:
    """Convert the samples of one split into `out`/images and `out`/masks."""
    (out / "images").mkdir(parents=True)
    (out / "masks").mkdir()
    seen: dict[str, Path] = {}
    for sample in samples:
        stem = sample.image.stem
        if stem in seen:
            raise DataError(f"{sample.image}: same name as {seen[stem]} in split {out.name!r}", kind="duplicate",
                            path=sample.image)
        seen[stem] = sample.image
        image, mask = _convert_pair(sample, channels, lut, classes, ignore_index, resize)
        save_image(image, out / "images" / f"{stem}.png")
        Image.fromarray(mask).save(out / "masks" / f"{stem}.png")
        bar.update(1)


def _convert_pair(sample: Sample, channels: int, lut: np.ndarray | None, classes: ClassInfo | None,
                  ignore_index: int, resize: tuple[int, int] | None) -> tuple[np.ndarray, np.ndarray]:
    """The image (H,W,C uint8, or uint16 for 16-bit files) and its class-id mask (H,W uint8), checked and resized."""
    pixels = read_image(sample.image, channels)
    raw = read_mask(sample.mask)
    if raw.shape != tuple(pixels.shape[-2:]):
        raise DataError(f"{sample.mask}: {size_mismatch(raw.shape, tuple(pixels.shape[-2:]), sample.image)}",
                        kind="mismatch", path=sample.mask)
    ids = np.ascontiguousarray(lut[raw] if lut is not None else raw, dtype=np.uint8)
    if classes is not None:
        bad = bad_ids(np.unique(ids).tolist(), classes.num_classes, ignore_index)
        if bad:
            raise DataError(f"{sample.mask}: {out_of_range(bad, classes.num_classes, ignore_index)}", kind="values",
                            path=sample.mask)
    if resize is not None:
        pixels = resize_image(pixels, resize)
        ids = resize_mask(torch.from_numpy(ids), resize).numpy()
    image = pixels.permute(1, 2, 0).numpy()
    return np.ascontiguousarray(image if pixels.dtype == torch.uint8 else image.astype(np.uint16)), ids


def _write_classes(path: Path, classes: ClassInfo) -> None:
    """classes.yaml with `names:` and, when known, `colors:`."""
    data: dict[str, object] = {"names": list(classes.names)}
    if classes.colors:
        data["colors"] = [list(c) for c in classes.colors]
    write_atomic(path, yaml.safe_dump(data, sort_keys=False, default_flow_style=None))
