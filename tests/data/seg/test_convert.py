"""`convert_dataset` keeps 16-bit images at full depth: 16-bit PNG out, values unchanged or resized, never cut."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from segen.config import DataConfig
from segen.data import SyntheticSpec, load_segmentation_data, write_folder_dataset
from segen.data.io import image_bits, read_image, read_mask
from segen.data.readers import resize_image
from segen.data.seg.convert import convert_dataset

SPEC = SyntheticSpec(24, 24, num_classes=3, bits=12)


def _pairs(root: Path, split: str) -> list[tuple[Path, Path]]:
    images = sorted((root / split / "images").iterdir())
    return [(image, root / split / "masks" / f"{image.stem}.png") for image in images]


def test_convert_keeps_12bit_images_at_full_depth(tmp_path: Path) -> None:
    src = write_folder_dataset(tmp_path / "src", SPEC, seed=1, splits={"train": 3, "val": 1})
    dst = convert_dataset("folder", src, tmp_path / "out", progress=False)
    for split in ("train", "val"):
        for (image, mask), (out_image, out_mask) in zip(_pairs(src, split), _pairs(dst, split), strict=True):
            assert out_image.name == image.name and image_bits(out_image) == 16
            converted = read_image(out_image, 3)
            assert converted.dtype == torch.int32 and torch.equal(converted, read_image(image, 3))
            assert np.array_equal(read_mask(out_mask), read_mask(mask))
    assert load_segmentation_data(DataConfig(root=str(dst)), seed=0).max_value == 4095


def test_convert_resizes_12bit_images_without_cutting_them_to_8_bits(tmp_path: Path) -> None:
    src = write_folder_dataset(tmp_path / "src", SPEC, seed=1, splits={"train": 2})
    dst = convert_dataset("folder", src, tmp_path / "out", resize=(12, 16), progress=False)
    for (image, _), (out_image, out_mask) in zip(_pairs(src, "train"), _pairs(dst, "train"), strict=True):
        converted = read_image(out_image, 3)
        assert image_bits(out_image) == 16 and converted.shape == (3, 12, 16) and int(converted.max()) > 255
        assert torch.equal(converted, resize_image(read_image(image, 3), (12, 16)))
        assert read_mask(out_mask).shape == (12, 16)


def test_convert_16bit_grey_tiff_to_16bit_png(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for sub in ("images", "masks"):
        (src / "train" / sub).mkdir(parents=True)
    pixels = (np.arange(20 * 30, dtype=np.uint32).reshape(20, 30) * 97 % 65536).astype(np.uint16)
    Image.fromarray(pixels).save(src / "train" / "images" / "a.tif")
    Image.fromarray((pixels % 2).astype(np.uint8)).save(src / "train" / "masks" / "a.png")
    dst = convert_dataset("folder", src, tmp_path / "out", progress=False)
    out = dst / "train" / "images" / "a.png"
    with Image.open(out) as im:
        assert im.mode.startswith("I") and image_bits(out) == 16
    assert np.array_equal(read_image(out, 1)[0].numpy(), pixels.astype(np.int32))
