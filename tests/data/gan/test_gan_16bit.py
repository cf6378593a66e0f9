"""GAN datasets serve 16-bit images as uint8 scaled by the data's value range (12-bit PNGs: 0..4095), not by 65535."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from segen.data import SyntheticSpec, make_sample
from segen.data.gan import ClassFolderImages, PairedImages, UnlabelledImages, open_gan_dataset
from segen.data.io import image_bits, save_image
from segen.data.synthetic import write_paired_dataset
from segen.errors import DataError

SPEC = SyntheticSpec(16, 16, num_classes=3, bits=12)


def _write(folder: Path, count: int = 3, spec: SyntheticSpec = SPEC, first: int = 0) -> list[np.ndarray]:
    """12-bit PNGs folder/{first..}.png; returns their pixels (H,W,C uint16)."""
    folder.mkdir(parents=True, exist_ok=True)
    images = []
    for i in range(first, first + count):
        image, _ = make_sample(spec, 7, i)
        save_image(image, folder / f"{i}.png")
        images.append(image)
    return images


def _as_uint8(image: np.ndarray, max_value: int) -> torch.Tensor:
    """C,H,W uint8 of H,W,C pixels in 0..max_value, rounded."""
    return torch.from_numpy(np.round(image.astype(np.float64) / max_value * 255).astype(np.uint8)).permute(2, 0, 1)


def _close(served: torch.Tensor, expected: torch.Tensor) -> None:
    assert served.dtype == torch.uint8 and served.shape == expected.shape
    assert int((served.int() - expected.int()).abs().max()) <= 1  # float32 rounding at .5


def test_12bit_pngs_are_scaled_by_the_data_range(tmp_path: Path) -> None:
    images = _write(tmp_path / "rgb")
    assert image_bits(tmp_path / "rgb" / "0.png") == 16 and max(int(i.max()) for i in images) > 2047
    data = UnlabelledImages(tmp_path / "rgb", None, None)
    assert data.max_value == 4095 and data.channels == 3
    for index, image in enumerate(images):
        _close(data[index], _as_uint8(image, 4095))
    assert int(data[0].max()) > 128  # divided by 65535 it would stay below 16
    grey = _write(tmp_path / "grey", spec=SyntheticSpec(16, 16, num_classes=3, bits=12, channels=1))
    _close(UnlabelledImages(tmp_path / "grey", None, None)[1], _as_uint8(grey[1], 4095))


def test_12bit_class_folders_and_pairs(tmp_path: Path) -> None:
    cats, dogs = _write(tmp_path / "classes" / "cat", 2), _write(tmp_path / "classes" / "dog", 2, first=2)
    classes = ClassFolderImages(tmp_path / "classes", None, 3)
    image, label = classes[3]
    assert classes.max_value == 4095 and int(label) == 1
    _close(image, _as_uint8(dogs[1], 4095))
    _close(classes[0][0], _as_uint8(cats[0], 4095))

    root = write_paired_dataset(tmp_path / "pairs", SPEC, seed=7, count=3)  # A: 8-bit label maps, B: 12-bit images
    dataset, info = open_gan_dataset(root, "image", None, None)
    assert info.layout == "paired-folders" and info.channels == 3
    source, target = dataset[0]
    assert source.dtype == target.dtype == torch.uint8
    assert torch.equal(source, torch.from_numpy(np.array(Image.open(root / "A" / "1.png"))).permute(2, 0, 1))
    _close(target, _as_uint8(make_sample(SPEC, 7, 1)[0], 4095))
    unconditional, _ = open_gan_dataset(root, "none", None, None)
    _close(unconditional[0], _as_uint8(make_sample(SPEC, 7, 1)[0], 4095))


def test_12bit_side_by_side_pairs_share_one_range(tmp_path: Path) -> None:
    a, b = make_sample(SPEC, 1, 0)[0], make_sample(SPEC, 1, 1)[0]
    (tmp_path / "sbs").mkdir()
    save_image(np.concatenate([a, b], axis=1), tmp_path / "sbs" / "1.png")
    source, target = PairedImages(tmp_path / "sbs", None)[0]
    _close(source, _as_uint8(a, 4095))
    _close(target, _as_uint8(b, 4095))


def test_mixed_bit_depths_are_refused(tmp_path: Path) -> None:
    _write(tmp_path / "wide_first", 2)
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "wide_first" / "9.png")
    with pytest.raises(DataError, match=r"9\.png: 8-bit image in a dataset of 16-bit images") as info:
        UnlabelledImages(tmp_path / "wide_first", None, None)
    assert info.value.kind == "mismatch"
    (tmp_path / "narrow_first").mkdir()
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "narrow_first" / "0.png")
    _write(tmp_path / "narrow_first", 1, first=1)
    data = UnlabelledImages(tmp_path / "narrow_first", None, None)  # 8-bit data: only the first header is read
    assert data.max_value is None and data[0].dtype == torch.uint8
    with pytest.raises(DataError, match=r"1\.png: 16-bit image in a dataset of 8-bit images"):
        data[1]
