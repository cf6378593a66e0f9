"""The built-in synthetic dataset: deterministic, exact masks, folder layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from segen.data import SyntheticSpec, make_sample, write_folder_dataset


def test_deterministic_by_seed_and_index() -> None:
    spec = SyntheticSpec(48, 64, num_classes=4)
    a_img, a_mask = make_sample(spec, seed=7, index=3)
    b_img, b_mask = make_sample(spec, seed=7, index=3)
    assert np.array_equal(a_img, b_img) and np.array_equal(a_mask, b_mask)
    c_img, _ = make_sample(spec, seed=8, index=3)
    assert not np.array_equal(a_img, c_img)
    assert a_img.shape == (48, 64, 3) and a_mask.shape == (48, 64)


def test_masks_are_exact_and_in_range() -> None:
    spec = SyntheticSpec(64, 64, num_classes=3, noise=0.0)
    for i in range(5):
        image, mask = make_sample(spec, 1, i)
        assert set(np.unique(mask).tolist()) <= {0, 1, 2}
        assert (mask > 0).any()
        # shapes are filled with their own colour family: mean colours differ from the background's
        for k in np.unique(mask):
            if k:
                assert np.abs(image[mask == k].mean(0) - image[mask == 0].mean(0)).max() > 10


def test_binary_marks_every_shape() -> None:
    _, mask = make_sample(SyntheticSpec(64, 64, num_classes=2), 0, 0)
    assert set(np.unique(mask).tolist()) == {0, 1}


def test_writes_folder_format(tmp_path: Path) -> None:
    root = write_folder_dataset(tmp_path / "d", SyntheticSpec(32, 32, num_classes=4, channels=1), seed=2,
                                splits={"train": 3, "val": 2})
    assert len(list((root / "train" / "images").glob("*.png"))) == 3
    assert len(list((root / "val" / "masks").glob("*.png"))) == 2
    classes = yaml.safe_load((root / "classes.yaml").read_text())
    assert classes["names"][0] == "background" and len(classes["names"]) == 4
    assert Image.open(root / "train" / "images" / "train_0000.png").mode == "L"


def test_rejects_bad_specs() -> None:
    with pytest.raises(ValueError):
        SyntheticSpec(num_classes=1)
    with pytest.raises(ValueError):
        SyntheticSpec(height=8)


@pytest.mark.parametrize("channels", [1, 3])
def test_12_bit_data_is_written_as_16_bit_png(tmp_path: Path, channels: int) -> None:
    from segen.data.io import read_image

    spec = SyntheticSpec(32, 32, num_classes=3, channels=channels, bits=12)
    image, mask = make_sample(spec, 0, 0)
    eight, same_mask = make_sample(SyntheticSpec(32, 32, num_classes=3, channels=channels), 0, 0)
    assert image.dtype == np.uint16 and 2047 < image.max() <= 4095 and np.array_equal(mask, same_mask)
    assert np.abs(image / 4095.0 - eight / 255.0).max() < 0.01  # the same picture, finer steps
    root = write_folder_dataset(tmp_path / "d", spec, splits={"train": 1})
    read = read_image(root / "train" / "images" / "train_0000.png", channels)
    assert np.array_equal(read.permute(1, 2, 0).numpy(), image)
    with pytest.raises(ValueError, match="bits"):
        SyntheticSpec(bits=17)
