"""Joint augmentation keeps masks aligned with images and introduces no invalid class ids."""

from __future__ import annotations

import random

import pytest
import torch

from segen.config import AugmentConfig
from segen.data import TrainTransform

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
