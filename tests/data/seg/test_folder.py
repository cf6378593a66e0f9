"""Reading the folder format: pairing, class info, binary 0/255 masks, palettes, hold-out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segen.config import DataConfig
from segen.data import list_split, load_segmentation_data, read_mask
from segen.errors import DataError


def test_multiclass_dataset(multiclass_root: Path) -> None:
    data = load_segmentation_data(DataConfig(root=str(multiclass_root)), seed=0)
    assert data.classes.names == ["background", "circle", "rectangle", "triangle"]
    assert data.channels == 3 and not data.binary_255
    assert len(data.train) == 12 and len(data.val) == 4 and data.test is not None and len(data.test) == 4
    image, mask = data.train[0]
    assert image.dtype.is_floating_point is False and image.shape == (3, 64, 64)
    assert mask.shape == (64, 64)
    assert len(data.mean) == 3 and all(0 < s < 1 for s in data.std)
    assert not any("held out" in note for note in data.notes)  # a val split exists: nothing held out


def test_binary_255_without_val_split(binary_root: Path) -> None:
    data = load_segmentation_data(DataConfig(root=str(binary_root), val_fraction=0.25), seed=0)
    assert data.binary_255 and data.classes.names == ["background", "foreground"]
    assert data.channels == 1
    assert len(data.train) == 9 and len(data.val) == 3
    assert "held out 3 of 12" in data.notes[0]
    assert set(data.train[0][1].unique().tolist()) <= {0, 1}
    again = load_segmentation_data(DataConfig(root=str(binary_root), val_fraction=0.25), seed=0)
    assert [s.image for s in again.val.samples] == [s.image for s in data.val.samples]


def test_paletted_masks_read_as_indices(tmp_path: Path) -> None:
    ids = np.array([[0, 1], [2, 255]], dtype=np.uint8)
    image = Image.fromarray(ids, mode="P")
    image.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [9] * (253 * 3))
    image.save(tmp_path / "m.png")
    assert np.array_equal(read_mask(tmp_path / "m.png"), ids)


def test_colour_masks_are_rejected(tmp_path: Path) -> None:
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (4, 4, 3), dtype=np.uint8)).save(tmp_path / "m.png")
    with pytest.raises(DataError, match="m.png: mask is a colour image"):
        read_mask(tmp_path / "m.png")


def test_mixed_extensions_pair_by_stem(data_copy: Path) -> None:
    image = data_copy / "train" / "images" / "train_0000.png"
    Image.open(image).convert("RGB").save(image.with_suffix(".jpg"), quality=95)
    image.unlink()
    samples = list_split(data_copy, "train")
    assert samples[0].image.suffix == ".jpg" and samples[0].mask.suffix == ".png"
