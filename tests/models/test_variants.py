"""UNet++ and Attention U-Net: the model matrix over native and timm encoders, deep supervision, pruning,
attention gates, and a short training run through the deep supervision loss."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from conftest import tiny_config
from segen.checkpoint import load_checkpoint
from segen.errors import ConfigError
from segen.models import (
    AttentionUNet,
    UNetPlusPlus,
    check_model_options,
    create_model,
    describe_models,
    list_models,
    model_defaults,
)
from segen.nn import AttentionGate, UpBlock
from segen.training import train_segmentation
from segen.training.seg import supervised_loss

VARIANTS = ("unetplusplus-small", "attention-unet-small")


def _outputs(out: torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]) -> list[torch.Tensor]:
    """Every output of a forward pass: the main one first, then any auxiliary ones."""
    return [out] if isinstance(out, torch.Tensor) else [out[0], *out[1]]


def _flops(model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """(the model's output for `x`, the floating-point operations it took)."""
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        out = model(x)
    return out, counter.get_total_flops()


@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize("encoder", ["double", "resnet18"])
@pytest.mark.parametrize("classes", [1, 4])
def test_variants_run_any_size_forward_and_backward(name: str, encoder: str, classes: int,
                                                    record_property: Callable[[str, object], None]) -> None:
    torch.manual_seed(0)
    model = create_model(name, num_classes=classes, encoder=encoder).train()
    x = torch.randn(2, 3, 37, 53)  # odd sizes, not multiples of the encoder's reduction
    outputs = _outputs(model(x))
    assert all(o.shape == (2, classes, 37, 53) for o in outputs)
    torch.stack([o.square().mean() for o in outputs]).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    params = sum(p.numel() for p in model.parameters())
    record_property("parameters", params)
    assert params > 100_000 and model.size_multiple == (16 if encoder == "double" else 32)
    with torch.no_grad():
        out = model.eval()(x)
    assert isinstance(out, torch.Tensor) and out.shape == (2, classes, 37, 53) and torch.isfinite(out).all()


@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize(("encoder", "stem_stride"), [("residual", 1), ("double", 2), ("residual", 4)])
def test_variants_take_the_residual_encoder_and_the_stem(name: str, encoder: str, stem_stride: int) -> None:
    model = create_model(name, in_channels=1, num_classes=3, depth=2, base_width=8, encoder=encoder,
                         stem_stride=stem_stride, upsampling="bilinear", norm="group").train()
    outputs = _outputs(model(torch.randn(2, 1, 21, 30)))
    assert all(o.shape == (2, 3, 21, 30) for o in outputs)
    supervised_loss(torch.nn.CrossEntropyLoss(), (outputs[0], outputs[1:]), torch.randint(0, 3, (2, 21, 30))
                    ).backward()
    assert all(p.grad is not None for p in model.parameters())
    assert model.size_multiple == 4 * stem_stride


def test_deep_supervision_returns_every_head_in_training_only() -> None:
    model = create_model("unetplusplus-small", num_classes=2, depth=3, base_width=8)
    assert isinstance(model, UNetPlusPlus) and len(model.aux_heads) == 2
    x = torch.randn(1, 3, 29, 35)
    main, aux = model.train()(x)
    assert main.shape == (1, 2, 29, 35) and [a.shape for a in aux] == [(1, 2, 29, 35)] * 2
    with torch.no_grad():
        heads = model.eval().head_outputs(x)
        assert len(heads) == 3
        torch.testing.assert_close(model(x), heads[-1])  # eval: the last head alone
    plain = create_model("unetplusplus-small", num_classes=2, depth=3, base_width=8, deep_supervision=False)
    assert len(plain.aux_heads) == 0 and not any(k.startswith("aux_heads") for k in plain.state_dict())
    out = plain.train()(x)
    assert isinstance(out, torch.Tensor) and out.shape == (1, 2, 29, 35)


def test_timm_encoders_at_a_quarter_resolution_get_full_size_heads() -> None:
    model = create_model("unetplusplus-small", num_classes=3, encoder="convnext_atto").train()
    assert isinstance(model, UNetPlusPlus)
    assert model.encoder.reductions[0] == 4 and len(model.decoder.extra) == 2  # back up from 1/4
    main, aux = model(torch.randn(1, 3, 45, 39))
    assert len(aux) == model.decoder.levels - 1 == 2
    assert all(o.shape == (1, 3, 45, 39) for o in (main, *aux))


@pytest.mark.parametrize("encoder", ["double", "resnet18"])
def test_pruning_keeps_the_shape_costs_less_and_gives_that_heads_output(encoder: str) -> None:
    torch.manual_seed(0)
    model = create_model("unetplusplus-small", num_classes=3, encoder=encoder).eval()
    assert isinstance(model, UNetPlusPlus)
    x = torch.randn(1, 3, 37, 53)
    with torch.no_grad():
        heads = model.head_outputs(x)
    full, full_flops = _flops(model, x)
    torch.testing.assert_close(full, heads[-1])
    costs = []
    for k in range(1, model.decoder.levels):
        model.prune = k
        pruned, flops = _flops(model, x)
        assert pruned.shape == full.shape == (1, 3, 37, 53)
        torch.testing.assert_close(pruned, heads[k - 1])  # the full model's head k
        costs.append(flops)
    assert costs == sorted(costs) and costs[-1] < full_flops  # shallower heads cost less
    if encoder == "double":
        assert costs[0] < full_flops / 5  # L^1 runs two encoder levels and one node
    model.prune = None
    torch.testing.assert_close(_flops(model, x)[0], full)


def test_prune_and_deep_supervision_are_checked() -> None:
    pruned = create_model("unetplusplus-small", num_classes=2, depth=3, base_width=8, prune=2).eval()
    assert isinstance(pruned, UNetPlusPlus) and pruned.prune == 2
    assert pruned(torch.randn(1, 3, 17, 19)).shape == (1, 2, 17, 19)
    with pytest.raises(ConfigError, match="prune must be a head from 1 to 3"):
        create_model("unetplusplus-small", depth=3, prune=4)
    with pytest.raises(ConfigError, match="prune needs deep_supervision"):
        create_model("unetplusplus-small", depth=3, prune=1, deep_supervision=False)
    with pytest.raises(ValueError, match="prune must be"):
        pruned.prune = 0
    with pytest.raises(ConfigError, match=r"model.prune: must be a head number >= 1"):
        check_model_options("unetplusplus-small", "segmentation", {"prune": "last"})
    with pytest.raises(ConfigError, match="model.deep_supervision: unknown value 'yes'"):
        check_model_options("unetplusplus", "segmentation", {"deep_supervision": "yes"})
    with pytest.raises(ConfigError, match="model.prune: not an option of attention-unet"):
        check_model_options("attention-unet", "segmentation", {"prune": 1})
    check_model_options("unetplusplus-small", "segmentation", {"encoder": "resnet18", "prune": 2})


def test_attention_gate_scales_the_skip_by_alpha_in_zero_one() -> None:
    torch.manual_seed(0)
    gate = AttentionGate(8, 16)
    skip, signal = torch.randn(2, 8, 12, 10), torch.randn(2, 16, 6, 5)
    alpha = gate.coefficients(skip, signal)
    assert alpha.shape == (2, 1, 12, 10) and alpha.min() >= 0 and alpha.max() <= 1
    torch.testing.assert_close(gate(skip, signal), skip * alpha)
    for layer in (gate.skip_proj, gate.gate_proj, gate.psi):  # all zeros: alpha = sigmoid(0) everywhere
        torch.nn.init.zeros_(layer.weight)
    torch.nn.init.zeros_(gate.psi.bias)
    torch.testing.assert_close(gate(skip, signal), skip * 0.5)


def test_attention_unet_gates_every_skip_inside_the_model() -> None:
    model = create_model("attention-unet-small", num_classes=2, depth=3, base_width=8).eval()
    assert isinstance(model, AttentionUNet) and len(model.decoder.gates) == 3
    seen: list[bool] = []

    def check(gate: torch.nn.Module, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        alpha = gate.coefficients(*inputs)
        seen.append(bool(0 <= alpha.min() <= alpha.max() <= 1) and torch.allclose(out, inputs[0] * alpha))

    hooks = [g.register_forward_hook(check) for g in model.decoder.gates]
    with torch.no_grad():
        model(torch.randn(1, 3, 33, 41))
    for hook in hooks:
        hook.remove()
    assert seen == [True, True, True]


def test_variants_keep_the_unet_state_dict_layout() -> None:
    unet = create_model("unet-small", depth=2, base_width=8, stem_stride=2).state_dict()
    attention = create_model("attention-unet-small", depth=2, base_width=8, stem_stride=2).state_dict()
    assert {k.split(".")[0] for k in unet} == {"stem", "encoder", "decoder", "head"}
    assert {"stem.full.0.weight", "encoder.levels.0.0.0.weight", "decoder.blocks.0.up.weight", "head.weight"} <= set(
        unet)
    assert set(attention) - set(unet) == {k for k in attention if k.startswith("decoder.gates.")} != set()
    assert all(attention[k].shape == v.shape for k, v in unet.items())
    nested = create_model("unetplusplus-small", depth=2, base_width=8).state_dict()
    assert {k.split(".")[0] for k in nested} == {"encoder", "decoder", "head", "aux_heads"}
    assert {k.split(".")[2] for k in nested if k.startswith("decoder.nodes.")} == {"0_1", "1_1", "0_2"}


def test_supervised_loss_is_the_mean_over_every_head() -> None:
    target = torch.zeros(1, 1, 2, 2)
    outputs = [torch.full((1, 1, 2, 2), v) for v in (1.0, 2.0, 3.0)]
    mse = torch.nn.MSELoss()
    assert supervised_loss(mse, outputs[0], target).item() == pytest.approx(1.0)
    assert supervised_loss(mse, (outputs[0], outputs[1:]), target).item() == pytest.approx((1 + 4 + 9) / 3)
    assert supervised_loss(mse, (outputs[0], []), target).item() == pytest.approx(1.0)


def test_variant_presets_are_registered_and_listed() -> None:
    names = set(list_models("segmentation"))
    assert {"unetplusplus", "unetplusplus-small", "attention-unet", "attention-unet-small"} <= names
    assert model_defaults("unetplusplus-small")["base_width"] == model_defaults("unet-small")["base_width"] == 16
    assert model_defaults("attention-unet")["base_width"] == 64 and model_defaults("unetplusplus")["deep_supervision"]
    listing = describe_models()
    assert "  attention-unet-small " in listing and "UNet++" in listing


def test_unetplusplus_trains_with_deep_supervision_end_to_end(multiclass_root: Path, tmp_path: Path) -> None:
    cfg = tiny_config(multiclass_root, tmp_path / "run", epochs=1)
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, name="unetplusplus-small"))
    result = train_segmentation(cfg, progress=False)
    assert result.state.finished and result.state.epoch == 1
    record = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[0])
    assert math.isfinite(record["train/loss"]) and math.isfinite(record["val/loss"])
    spec = load_checkpoint(tmp_path / "run" / "last.pt").model
    assert any(k.startswith("aux_heads.") for k in spec.weights)  # the auxiliary heads are trained and saved
    model = create_model(spec.name, **spec.kwargs)
    model.load_state_dict(spec.weights)
    with torch.no_grad():
        out = model.eval()(torch.rand(1, spec.kwargs["in_channels"], 48, 48))
    assert isinstance(out, torch.Tensor) and out.shape == (1, spec.kwargs["num_classes"], 48, 48)


@pytest.mark.parametrize("name", ["unet-small", "attention-unet-small"])
@pytest.mark.parametrize("encoder", ["double", "tf_efficientnet_lite0"])
def test_decoder_widths_set_each_level_and_keep_any_size(name: str, encoder: str) -> None:
    torch.manual_seed(0)
    depth = 3 if encoder == "double" else None
    levels = 3 if encoder == "double" else 4  # Lite0: five features (1/2 .. 1/32), four fusing levels
    widths = [24, 40, 64, 96][:levels]
    model = create_model(name, num_classes=3, encoder=encoder, depth=depth, decoder_widths=widths).train()
    x = torch.randn(2, 3, 37, 53)
    out = model(x)
    assert out.shape == (2, 3, 37, 53)
    out.square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    assert [block.out_channels for block in model.decoder.blocks] == widths[::-1]  # innermost first
    assert model.decoder.in_widths == [*widths[1:], model.encoder.out_channels[-1]]
    default = create_model(name, num_classes=3, encoder=encoder, depth=depth)
    if encoder == "double":  # the paper's: each level as wide as its skip
        assert [b.out_channels for b in default.decoder.blocks] == model.encoder.out_channels[:-1][::-1]
    else:  # under a timm encoder: 256 at the coarsest level, halving towards the finest, then 16 at full size
        assert [b.out_channels for b in default.decoder.blocks] == [256, 128, 64, 32]
        assert default.decoder.out_channels == 16


@pytest.mark.parametrize("name", ["unet-small", "attention-unet-small", "unetplusplus-small"])
@pytest.mark.parametrize("encoder", ["double", "tf_efficientnet_lite0"])
def test_upsampling_and_head_follow_the_encoder(name: str, encoder: str) -> None:
    model = create_model(name, num_classes=3, encoder=encoder, depth=3 if encoder == "double" else None)
    ups = [m for m in model.decoder.modules() if isinstance(m, UpBlock)]
    if encoder == "double":  # the paper's: 2x2 up-convolutions halving the channels, a 1x1 head
        assert all(isinstance(b.up, nn.ConvTranspose2d) for b in ups)
        assert model.head.kernel_size == (1, 1)
    else:  # nearest-neighbour up-sampling keeping the channels, a 3x3 head
        assert all(isinstance(b.up, nn.Upsample) and b.up.mode == "nearest" for b in ups)
        assert model.head.kernel_size == (3, 3)
    chosen = create_model(name, num_classes=3, encoder=encoder, depth=3 if encoder == "double" else None,
                          upsampling="nearest", head_kernel=3).eval()
    assert chosen.head.kernel_size == (3, 3)
    x = torch.randn(1, 3, 37, 53)
    assert chosen(x).shape == (1, 3, 37, 53)


def test_nearest_up_block_keeps_the_channels_until_the_convolutions() -> None:
    block = UpBlock(32, 8, 16, "nearest")
    out = block(torch.randn(2, 32, 5, 7), torch.randn(2, 8, 10, 14))
    assert out.shape == (2, 16, 10, 14) and block.out_channels == 16
    assert block.conv[0][0].in_channels == 32 + 8
    with pytest.raises(ConfigError, match="model.head_kernel: unknown value 5"):
        check_model_options("unet-small", "segmentation", {"head_kernel": 5})


def test_decoder_widths_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"decoder_widths needs 3 widths >= 1 .* got \[8, 16\]"):
        create_model("unet-small", depth=3, decoder_widths=[8, 16])
    with pytest.raises(ConfigError, match="decoder_widths applies with stem_stride 1"):
        create_model("unet-small", depth=2, stem_stride=2, decoder_widths=[8, 16])
    with pytest.raises(ConfigError, match="model.decoder_widths: not an option of unetplusplus-small"):
        check_model_options("unetplusplus-small", "segmentation", {"decoder_widths": [8, 16]})
