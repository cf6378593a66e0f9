"""Joint augmentation keeps masks aligned with images and introduces no invalid class ids."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from segen.config import AugmentConfig, DataConfig
from segen.data import SyntheticSpec, TrainTransform, load_segmentation_data, make_sample
from segen.data import write_folder_dataset as write_dataset
from segen.data.seg.dataset import fit_crop
from segen.errors import DataError

CODES = torch.tensor([0, 80, 160, 240], dtype=torch.uint8)


def encoded_pair(h: int = 90, w: int = 120) -> tuple[torch.Tensor, torch.Tensor]:
    """A mask of blocks and an image whose every channel encodes the mask (class k -> CODES[k])."""
    mask = torch.zeros(h, w, dtype=torch.uint8)
    mask[10:50, 10:60] = 1
    mask[40:85, 70:115] = 2
    mask[60:88, 5:40] = 3
    return CODES[mask.long()].expand(3, h, w).contiguous(), mask


def interior(image: torch.Tensor) -> torch.Tensor:
    """Pixels whose 3x3 neighbourhood has a single value (no interpolation mixing)."""
    x = image[0].float()[None, None]
    hi = torch.nn.functional.max_pool2d(x, 3, 1, 1)
    lo = -torch.nn.functional.max_pool2d(-x, 3, 1, 1)
    return (hi == lo)[0, 0]


@pytest.mark.parametrize("seed", range(12))
def test_mask_follows_image(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)
    aug = AugmentConfig(scale=(0.6, 1.6), rotate_degrees=30, resample_p=1.0,
                        pipeline=[{"name": "hflip", "p": 0.5}, {"name": "vflip", "p": 0.5}])
    image, mask = encoded_pair()
    out_image, out_mask = TrainTransform((64, 72), aug, ignore_index=255)(image, mask)
    assert out_image.shape == (3, 64, 72) and out_mask.shape == (64, 72)
    assert out_image.dtype == torch.uint8 and out_mask.dtype == torch.uint8
    assert set(out_mask.unique().tolist()) <= {0, 1, 2, 3, 255}
    stable = interior(out_image) & (out_mask != 255)
    assert stable.sum() > 500
    for k, code in enumerate(CODES.tolist()):
        region = stable & (out_image[0] == code)
        assert (out_mask[region] == k).all(), f"class {k} misaligned"


@pytest.mark.parametrize("seed", range(6))
def test_rotated_crops_of_large_images_have_no_empty_corners(seed: int) -> None:
    random.seed(seed)
    image, mask = encoded_pair(200, 200)
    aug = AugmentConfig(scale=(0.8, 1.2), rotate_degrees=45, resample_p=1.0, preset="none")
    _, out_mask = TrainTransform((64, 64), aug, ignore_index=255)(image, mask)
    assert (out_mask != 255).all()


def test_plain_crops_are_not_resampled() -> None:
    random.seed(0)
    image, mask = encoded_pair()
    aug = AugmentConfig(resample_p=0.0, preset="none")
    out_image, out_mask = TrainTransform((32, 48), aug)(image, mask)
    assert set(out_image.unique().tolist()) <= set(CODES.tolist())  # no interpolated values
    assert torch.equal(CODES[out_mask.long()], out_image[0])


def test_padding_uses_ignore_value() -> None:
    random.seed(0)
    image, mask = encoded_pair(20, 20)
    aug = AugmentConfig(scale=(1.0, 1.0), rotate_degrees=0, preset="none")
    out_image, out_mask = TrainTransform((40, 40), aug, ignore_index=255)(image, mask)
    assert (out_mask == 255).sum() == 40 * 40 - 20 * 20
    assert (out_image[:, out_mask == 255] == 0).all()


def test_colour_jitter_changes_only_the_image() -> None:
    random.seed(1)
    torch.manual_seed(1)
    image, mask = encoded_pair(64, 64)
    aug = AugmentConfig(scale=(1.0, 1.0), rotate_degrees=0,
                        pipeline=[{"name": "brightness", "p": 1.0, "limit": 0.5}, {"name": "hue", "p": 1.0}])
    out_image, out_mask = TrainTransform((64, 64), aug)(image, mask)
    assert torch.equal(out_mask, mask)
    assert not torch.equal(out_image, image)


def test_greyscale_images_are_jittered() -> None:
    random.seed(2)
    image, mask = encoded_pair(32, 32)
    aug = AugmentConfig(scale=(1.0, 1.0), rotate_degrees=0, pipeline=[{"name": "contrast", "p": 1.0, "limit": 0.5}])
    out_image, _ = TrainTransform((32, 32), aug, channels=1)(image[:1].contiguous(), mask)
    assert out_image.shape == (1, 32, 32)


def test_presets_by_channel_count() -> None:
    from segen.data.augment import PRESETS

    grey = TrainTransform((32, 32), AugmentConfig(), channels=1)
    colour = TrainTransform((32, 32), AugmentConfig(), channels=3)
    assert [op.name for op in grey.pipeline.ops] == [spec["name"] for spec in PRESETS["biomedical"]]
    assert [op.name for op in colour.pipeline.ops] == [spec["name"] for spec in PRESETS["natural"]]
    assert "vflip" not in [op.name for op in colour.pipeline.ops]


def test_presets_set_the_share_of_resampled_crops_unless_given() -> None:
    from segen.data.augment import PRESET_RESAMPLE_P

    assert TrainTransform((32, 32), AugmentConfig(), channels=1).crop.p == PRESET_RESAMPLE_P["biomedical"] == 0.5
    assert TrainTransform((32, 32), AugmentConfig(), channels=3).crop.p == PRESET_RESAMPLE_P["natural"] == 0.0
    strong = TrainTransform((32, 32), AugmentConfig(preset="natural-strong"), channels=3)
    assert strong.crop.p == 0.5 and "brightness" in [op.name for op in strong.pipeline.ops]
    assert TrainTransform((32, 32), AugmentConfig(resample_p=0.25), channels=3).crop.p == 0.25
    custom = AugmentConfig(resample_p=None, pipeline=[{"name": "vflip", "p": 1.0}])
    assert TrainTransform((32, 32), custom, channels=1).crop.p == 0.5  # the "auto" preset's share still applies


def test_unknown_augmentation_op_is_a_config_error() -> None:
    from segen.errors import ConfigError

    with pytest.raises(ConfigError, match="twist"):
        TrainTransform((32, 32), AugmentConfig(pipeline=[{"name": "twist"}]))


# --- small images (the crop keeps its size) -------------------------------------------------------------------


def test_one_small_image_does_not_shrink_the_crop(tmp_path: Path) -> None:
    root = write_dataset(tmp_path / "d", SyntheticSpec(64, 64, num_classes=3), splits={"train": 4, "val": 2})
    image, mask = make_sample(SyntheticSpec(20, 30, num_classes=3), 5, 0)
    Image.fromarray(image).save(root / "train" / "images" / "train_0001.png")
    Image.fromarray(mask).save(root / "train" / "masks" / "train_0001.png")
    data = load_segmentation_data(DataConfig(root=str(root), image_size=(48, 48)), seed=0)
    assert [n for n in data.notes if "1 of 4 training images" in n and "smaller than the 48x48 crop" in n]
    small = data.train.sizes.index((20, 30))
    transform = TrainTransform((48, 48), AugmentConfig(preset="none"), ignore_index=255, channels=3)
    out_image, out_mask = transform(data.train.image(small), data.train.mask(small))
    assert out_image.shape == (3, 48, 48) and out_mask.shape == (48, 48)
    assert (out_mask == 255).sum() == 48 * 48 - 20 * 30  # padded pixels never count
    assert data.crop == (48, 48)


def test_fit_crop_is_cut_to_the_largest_image() -> None:
    assert fit_crop((256, 256), [(180, 240), (120, 300)]) == (180, 256)
    assert fit_crop((64, 64), [(180, 240)]) == (64, 64)
    assert fit_crop((64, 64), []) == (64, 64)


def test_a_crop_larger_than_every_image_is_cut_down(tmp_path: Path) -> None:
    root = write_dataset(tmp_path / "d", SyntheticSpec(40, 56, num_classes=3), splits={"train": 3, "val": 1})
    data = load_segmentation_data(DataConfig(root=str(root), image_size=(64, 64)), seed=0)
    assert data.crop == (40, 56)
    assert [n for n in data.notes if "training crop 40x56" in n]
    assert not [n for n in data.notes if "smaller than the" in n]  # nothing is padded any more


# --- 16-bit data -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 3])
def test_16bit_dataset_is_scaled_by_its_range(tmp_path: Path, channels: int) -> None:
    spec = SyntheticSpec(40, 40, num_classes=3, channels=channels, bits=12)
    root = write_dataset(tmp_path / "d", spec, splits={"train": 3, "val": 1})
    data = load_segmentation_data(DataConfig(root=str(root), image_size=(32, 32)), seed=0)
    assert data.max_value == 4095
    pixels = np.stack([data.train.image(i).numpy() for i in range(3)]) / 4095.0
    np.testing.assert_allclose(data.mean, pixels.mean(axis=(0, 2, 3)), atol=1e-6)
    np.testing.assert_allclose(data.std, pixels.std(axis=(0, 2, 3)), atol=1e-4)
    transform = TrainTransform((32, 32), AugmentConfig(preset="biomedical", resample_p=1.0), 255, channels,
                               max_value=data.max_value)
    image, mask = data.train[0]
    assert image.dtype == torch.int32 and int(image.max()) > 255
    for seed in range(4):
        random.seed(seed)
        torch.manual_seed(seed)
        out, out_mask = transform(image, mask)
        assert out.dtype == torch.int32 and out.shape == (channels, 32, 32) and out_mask.shape == (32, 32)
        assert int(out.min()) >= 0 and 255 < int(out.max()) <= 4095


def test_8bit_dataset_range_and_mixed_depths(tmp_path: Path) -> None:
    root = write_dataset(tmp_path / "d", SyntheticSpec(32, 32, num_classes=3), splits={"train": 3, "val": 1})
    assert load_segmentation_data(DataConfig(root=str(root), image_size=(32, 32)), seed=0).max_value == 255
    image, _ = make_sample(SyntheticSpec(32, 32, num_classes=3, bits=16), 0, 9)
    from segen.data.io import save_image

    save_image(image, root / "train" / "images" / "train_0002.png")
    with pytest.raises(DataError, match="8-bit image in a dataset of 16-bit images") as info:
        load_segmentation_data(DataConfig(root=str(root), image_size=(32, 32)), seed=0)
    assert info.value.kind == "mismatch"
