"""DiffAugment keeps shapes, passes gradients and draws its parameters from the stated ranges."""

from __future__ import annotations

import pytest
import torch

from segen.data.diffaugment import DIFFAUGMENT_OPS, diff_augment, parse_policy
from segen.errors import ConfigError


def seeded(seed: int = 0) -> torch.Generator:
    """A CPU generator seeded with `seed`."""
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("shape", [(2, 3, 32, 32), (3, 1, 24, 40), (1, 4, 9, 7), (2, 3, 2, 3)])
@pytest.mark.parametrize("policy", [*[(op,) for op in DIFFAUGMENT_OPS], DIFFAUGMENT_OPS])
def test_shape_dtype_and_gradients(shape: tuple[int, int, int, int], policy: tuple[str, ...]) -> None:
    x = (torch.rand(shape, generator=seeded()) * 2 - 1).requires_grad_(True)
    out = diff_augment(x, policy, generator=seeded(1))
    assert out.shape == x.shape and out.dtype == x.dtype
    weights = torch.randn(shape, generator=seeded(2))
    (out * weights).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert x.grad.abs().sum() > 0


def test_default_policy_is_the_full_one() -> None:
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    assert torch.equal(diff_augment(x, generator=seeded(3)), diff_augment(x, DIFFAUGMENT_OPS, generator=seeded(3)))
    assert DIFFAUGMENT_OPS == ("color", "translation", "cutout")


def test_translation_moves_a_pixel_by_at_most_an_eighth() -> None:
    n, size = 64, 32
    x = torch.full((n, 1, size, size), -1.0)
    x[:, :, 16, 16] = 1.0
    out = diff_augment(x, "translation", generator=seeded(4))
    flat = out.flatten(1).argmax(dim=1)
    rows, cols = flat // size, flat % size
    assert (out.flatten(1).amax(dim=1) == 1.0).all()  # the pixel is shifted, never lost (16 +- 4 is inside)
    assert ((rows - 16).abs() <= size // 8).all() and ((cols - 16).abs() <= size // 8).all()
    assert (rows != 16).any() and (cols != 16).any()
    assert (rows - 16).abs().max() == size // 8  # the full range is drawn
    assert ((out == 1.0).flatten(1).sum(dim=1) == 1).all()


def test_translation_fills_uncovered_pixels_with_zero() -> None:
    x = torch.ones(32, 2, 16, 16)
    out = diff_augment(x, ["translation"], generator=seeded(5))
    assert set(out.unique().tolist()) <= {0.0, 1.0}
    zeros_per_sample = (out[:, 0] == 0).flatten(1).sum(dim=1)
    assert zeros_per_sample.max() > 0
    assert zeros_per_sample.max() <= 16 * 16 - 14 * 14  # at most 2 rows and 2 columns uncovered


@pytest.mark.parametrize("size", [(32, 32), (20, 30), (7, 5)])
def test_cutout_zeroes_a_rectangle_of_half_each_side(size: tuple[int, int]) -> None:
    h, w = size
    x = torch.ones(16, 3, h, w)
    out = diff_augment(x, "cutout", generator=seeded(6))
    hole_h, hole_w = int(h / 2 + 0.5), int(w / 2 + 0.5)
    for sample in out:
        assert torch.equal(sample[0], sample[1]) and torch.equal(sample[0], sample[2])
        hole = sample[0] == 0
        rows, cols = hole.any(dim=1).nonzero().flatten(), hole.any(dim=0).nonzero().flatten()
        assert int(hole.sum()) == hole_h * hole_w
        assert len(rows) == hole_h and len(cols) == hole_w  # one solid rectangle
        assert rows[-1] - rows[0] + 1 == hole_h and cols[-1] - cols[0] + 1 == hole_w
    assert len({tuple(s[0].nonzero()[0].tolist()) for s in out == 0}) > 1  # placed at random


def test_color_shifts_mean_and_scales_contrast_within_ranges() -> None:
    n = 256
    base = torch.linspace(-0.5, 0.5, 64).view(1, 1, 8, 8).expand(n, 1, 8, 8).contiguous()
    out = diff_augment(base, "color", generator=seeded(7))
    shift = out.mean(dim=(1, 2, 3)) - base.mean(dim=(1, 2, 3))
    assert shift.min() >= -0.5 - 1e-6 and shift.max() <= 0.5 + 1e-6
    assert shift.min() < -0.4 and shift.max() > 0.4
    scale = out.std(dim=(1, 2, 3)) / base.std(dim=(1, 2, 3))
    assert scale.min() >= 0.5 - 1e-5 and scale.max() <= 1.5 + 1e-5
    assert scale.min() < 0.6 and scale.max() > 1.4


def test_color_saturation_on_rgb() -> None:
    n = 256
    grey = torch.linspace(-0.5, 0.5, 64).view(1, 1, 8, 8).expand(n, 3, 8, 8).contiguous()
    out = diff_augment(grey, "color", generator=seeded(8))
    assert torch.allclose(out[:, 0], out[:, 1]) and torch.allclose(out[:, 0], out[:, 2])  # grey stays grey
    colour = grey.clone()
    colour[:, 0] += 0.2
    colour[:, 2] -= 0.2
    out = diff_augment(colour, "color", generator=seeded(8))
    chroma = (out - out.mean(dim=1, keepdim=True)).flatten(1).norm(dim=1)
    ratio = chroma / (colour - colour.mean(dim=1, keepdim=True)).flatten(1).norm(dim=1)
    assert ratio.min() >= 0 and ratio.max() <= 2.0 * 1.5 + 1e-5  # saturation times contrast
    assert ratio.min() < 0.1 and ratio.max() > 2.0
    assert torch.allclose(out.mean(dim=(1, 2, 3)) - colour.mean(dim=(1, 2, 3)),
                          diff_augment(grey, "color", generator=seeded(8)).mean(dim=(1, 2, 3)) - grey.mean(), atol=1e-5)


def test_seeded_generator_is_reproducible() -> None:
    x = torch.rand(4, 3, 16, 16) * 2 - 1
    first = diff_augment(x, generator=seeded(9))
    assert torch.equal(first, diff_augment(x, generator=seeded(9)))
    assert not torch.equal(first, diff_augment(x, generator=seeded(10)))


def test_empty_policy_is_identity() -> None:
    x = torch.rand(2, 3, 8, 8)
    for policy in ("", (), [], " , "):
        assert diff_augment(x, policy) is x


def test_policy_strings_and_unknown_names() -> None:
    assert parse_policy("color, cutout") == ("color", "cutout")
    assert parse_policy(["translation"]) == ("translation",)
    with pytest.raises(ConfigError, match="unknown DiffAugment op 'flip'; valid: color, translation, cutout"):
        diff_augment(torch.zeros(1, 3, 4, 4), "color,flip")
    with pytest.raises(ValueError, match="N,C,H,W"):
        diff_augment(torch.zeros(3, 4, 4), "color")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_with_a_cpu_generator() -> None:
    x = (torch.rand(2, 3, 16, 16, device="cuda") * 2 - 1).requires_grad_(True)
    out = diff_augment(x, generator=seeded(11))
    assert out.device == x.device
    out.sum().backward()
    assert x.grad is not None
    cpu = diff_augment(x.detach().cpu(), generator=seeded(11))
    assert torch.allclose(out.detach().cpu(), cpu, atol=1e-5)
