"""U-Net shapes for every preset and option, registry behaviour."""

from __future__ import annotations

import pytest
import torch

from segen.errors import ConfigError
from segen.models import UNet, create_model, list_models, model_defaults


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
    out = model(torch.randn(2, 1, 37, 45))
    torch.nn.functional.cross_entropy(out, torch.randint(0, 2, (2, 37, 45))).backward()
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
        create_model("unet", norm="layer")
