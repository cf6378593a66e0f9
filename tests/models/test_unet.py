"""U-Net shapes for every preset and option, registry behaviour."""

from __future__ import annotations

import pytest
import torch

from segen.errors import ConfigError
from segen.models import UNet, create_model, list_models, model_defaults
from segen.nn import ResidualBlock
from segen.training.seg import supervised_loss

MACS_RATIO_RESNET_LAYOUT_SMALL = 2.0  # the residual encoder doubles the encoder's work, not more


@pytest.mark.parametrize("name", list_models("segmentation"))
@pytest.mark.parametrize("num_classes", [1, 3])
def test_every_preset_keeps_odd_input_size(name: str, num_classes: int) -> None:
    model = create_model(name, num_classes=num_classes).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 97, 131))
    assert out.shape == (1, num_classes, 97, 131)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", list_models("segmentation"))
def test_every_preset_trains(name: str) -> None:
    model = create_model(name, in_channels=1, num_classes=2).train()
    out = model(torch.randn(2, 1, 37, 45))  # deeply supervised models return (main, auxiliary outputs)
    supervised_loss(torch.nn.CrossEntropyLoss(), out, torch.randint(0, 2, (2, 37, 45))).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_presets_follow_the_original_widths() -> None:
    assert model_defaults("unet")["base_width"] == 64
    model = create_model("unet")
    assert isinstance(model, UNet)
    assert model.encoder.out_channels == [64, 128, 256, 512, 1024]
    assert model.encoder.reductions == [1, 2, 4, 8, 16]
    params = sum(p.numel() for p in model.parameters())
    assert 30e6 < params < 32e6  # the paper's 31 M
    assert create_model("unet-small").encoder.out_channels[0] < 64


@pytest.mark.parametrize("norm", ["batch", "instance", "group", "none"])
@pytest.mark.parametrize("upsampling", ["transpose", "bilinear"])
def test_options_forward_and_backward(norm: str, upsampling: str) -> None:
    model = UNet(in_channels=1, num_classes=2, depth=3, base_width=8, norm=norm, upsampling=upsampling,
                 activation="silu", dropout=0.1)
    x = torch.randn(2, 1, 33, 45, requires_grad=True)
    out = model(x)
    assert out.shape == (2, 2, 33, 45)
    out.mean().backward()
    assert x.grad is not None
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("depth", [1, 2, 5])
def test_depth_and_tiny_inputs(depth: int) -> None:
    model = UNet(in_channels=5, num_classes=4, depth=depth, base_width=4).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 5, 7, 3)).shape == (1, 4, 7, 3)


def test_skip_connections_join_equal_sizes() -> None:
    model = UNet(depth=4, base_width=4).eval()
    features = model.encoder(torch.randn(1, 3, 64, 64))
    assert [f.shape[-1] for f in features] == [64, 32, 16, 8, 4]


def test_unknown_model_lists_valid_names() -> None:
    with pytest.raises(ConfigError, match="unknown model 'resnet'.*unet-small"):
        create_model("resnet")


def test_bad_arguments_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unet"):
        create_model("unet", num_classes=0)
    with pytest.raises(ConfigError):
        create_model("unet", norm="spectral")


def _conv_macs(model: torch.nn.Module, x: torch.Tensor) -> int:
    """Multiply-accumulates of every (transposed) convolution in one forward pass of `x`."""
    total = 0

    def count(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        # a convolution does one weight's worth of MACs per output pixel, a transposed one per input pixel
        where = inputs[0] if isinstance(module, torch.nn.ConvTranspose2d) else out
        total += where.shape[-2] * where.shape[-1] * module.weight.numel()

    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.ConvTranspose2d)]
    hooks = [conv.register_forward_hook(count) for conv in convs]
    with torch.no_grad():
        model.eval()(x)
    for hook in hooks:
        hook.remove()
    return total


def test_stride_four_stem_and_residual_encoder_make_resnet18_layout() -> None:
    model = UNet(num_classes=11, depth=3, base_width=64, stem_stride=4, encoder="residual")
    small = create_model("unet-small", num_classes=11)
    assert isinstance(small, UNet) and model.stem is not None
    assert model.size_multiple == 32 and small.size_multiple == 16
    x = torch.randn(1, 3, 192, 256)
    body_in, kept = model.stem.enter(x)
    assert [k.shape[1:] for k in kept] == [(16, 192, 256), (32, 96, 128)]  # thin full- and half-res features
    features = model.encoder(body_in)
    assert [f.shape[1] for f in features] == [64, 128, 256, 512]  # ResNet-18's widths at 1/4 to 1/32
    assert [f.shape[-1] for f in features] == [64, 32, 16, 8]
    assert sum(isinstance(m, ResidualBlock) for m in model.encoder.modules()) == 8  # two per level
    assert 13e6 < sum(p.numel() for p in model.parameters()) < 15e6  # ResNet-18's 11 M in the encoder
    assert _conv_macs(model, x) / _conv_macs(small, x) < MACS_RATIO_RESNET_LAYOUT_SMALL


def test_residual_blocks_add_their_input() -> None:
    block = ResidualBlock(8, 8).eval()
    for conv in (block.conv1[0], block.conv2[0]):
        torch.nn.init.zeros_(conv.weight)
    x = torch.rand(1, 8, 5, 5)  # non-negative, so relu(0 + x) == x
    with torch.no_grad():
        assert torch.allclose(block(x), x)
        assert ResidualBlock(4, 8)(torch.rand(1, 4, 5, 5)).shape == (1, 8, 5, 5)  # projected shortcut


def test_classic_unet_macs_match_the_hand_count() -> None:
    model = UNet(in_channels=1, num_classes=2, depth=1, base_width=4)
    # level 0: 1->4, 4->4 at 8x8; level 1: 4->8, 8->8 at 4x4; up 8->4 (2x2 transposed) at 4x4 input;
    # decoder 8->4, 4->4 at 8x8; head 4->2 (1x1) at 8x8
    expected = 64 * 9 * (4 + 16) + 16 * 9 * (32 + 64) + 16 * 4 * 32 + 64 * 9 * (32 + 16) + 64 * 8
    assert _conv_macs(model, torch.randn(1, 1, 8, 8)) == expected


@pytest.mark.parametrize("stride", [2, 4])
def test_stems_keep_any_input_size(stride: int) -> None:
    model = UNet(in_channels=2, num_classes=3, depth=2, base_width=8, stem_stride=stride).eval()
    with torch.no_grad():
        for size in [(5, 7), (33, 47), (64, 64)]:
            assert model(torch.randn(1, 2, *size)).shape == (1, 3, *size)


def test_stem_stride_must_be_one_two_or_four() -> None:
    with pytest.raises(ConfigError, match="stem_stride"):
        create_model("unet-small", stem_stride=3)


def test_registry_carries_each_models_metadata_and_checks_options() -> None:
    from segen.models import check_model_options, model_entry

    assert model_entry("unet-small").family == "segmentation" and model_entry("unet-small").conditioning is None
    assert [model_entry(n, "gan").conditioning for n in ("dcgan", "cgan", "pix2pix")] == ["none", "class", "image"]
    assert model_entry("unet").choices["stem_stride"] == (1, 2, 4)
    check_model_options("unet-small", "segmentation", {"encoder": "residual", "stem_stride": 4})
    with pytest.raises(ConfigError, match=r"model.encoder: unknown encoder 'dense'; valid: double, residual or a timm"):
        check_model_options("unet-small", "segmentation", {"encoder": "dense"})
    with pytest.raises(ConfigError, match="model.generator: not an option of dcgan"):
        check_model_options("dcgan", "gan", {"generator": "unet"})
    with pytest.raises(ConfigError, match="model.generator: unknown value 'giant' for pix2pix"):
        check_model_options("pix2pix", "gan", {"generator": "giant"})
    with pytest.raises(ConfigError, match="unknown gan model 'unet'; valid: cgan, dcgan, pix2pix"):
        check_model_options("unet", "gan", {})
