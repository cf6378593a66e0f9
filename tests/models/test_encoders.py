"""timm encoders under the U-Net decoder: the model matrix, offline weights, and the transfer recipe."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from segen.config import DataConfig, ModelConfig, OptimConfig, SegConfig, TrainConfig
from segen.errors import ConfigError
from segen.models import create_model, describe_encoders, describe_models
from segen.models.encoders import load_encoder_weights, pretrained_settings, resolve_imagenet_weights
from segen.training.transfer import EncoderFreeze, input_normalisation, parameter_groups

#: Small timm encoders of three families (random weights: nothing is downloaded).
ENCODERS = ("resnet18", "tf_efficientnet_lite0", "mobilenetv3_small_100", "convnext_atto")


@pytest.mark.parametrize("encoder", ENCODERS)
@pytest.mark.parametrize("classes", [1, 4])
def test_timm_encoders_run_any_size_forward_and_backward(encoder: str, classes: int) -> None:
    torch.manual_seed(0)
    model = create_model("unet-small", num_classes=classes, encoder=encoder).train()
    x = torch.randn(2, 3, 37, 53)  # odd sizes, not multiples of the encoder's reduction
    out = model(x)
    assert out.shape == (2, classes, 37, 53)
    out.square().mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert model.size_multiple == 32 and sum(p.numel() for p in model.parameters()) > 100_000


def test_a_grey_input_and_a_shallower_encoder() -> None:
    model = create_model("unet-small", in_channels=1, num_classes=2, encoder="resnet18", depth=3).eval()
    assert model.encoder.reductions == [2, 4, 8] and model.size_multiple == 8
    assert model(torch.randn(1, 1, 20, 30)).shape == (1, 2, 20, 30)
    convnext = create_model("unet-small", num_classes=2, encoder="convnext_atto").eval()
    assert convnext.encoder.reductions[0] == 4 and len(convnext.decoder.extra) == 2  # back up from 1/4


def test_native_options_do_not_apply_to_timm_encoders() -> None:
    base = {"data": {"root": "d"}, "train": {"out": "o"}}
    with pytest.raises(ConfigError, match="model.base_width: applies to the native encoders"):
        SegConfig.from_dict({**base, "model": {"encoder": "resnet18", "base_width": 32}}).validate()
    with pytest.raises(ConfigError, match="model.encoder_weights: needs a pretrained encoder"):
        SegConfig.from_dict({**base, "model": {"encoder_weights": "w.pt"}}).validate()
    assert "encoder_weights" not in ModelConfig(encoder="resnet18", encoder_weights="w.pt").overrides()


def test_weights_load_from_safetensors_and_a_state_dict(tmp_path: Path) -> None:
    torch.manual_seed(1)
    source = create_model("unet-small", num_classes=2, encoder="resnet18")
    torch.manual_seed(2)
    target = create_model("unet-small", num_classes=2, encoder="resnet18")
    state = {k: v.contiguous() for k, v in source.encoder.body.state_dict().items()}
    state["fc.weight"] = torch.zeros(10, 512)  # a classifier head is skipped
    save_file(state, str(tmp_path / "r18.safetensors"))
    load_encoder_weights(target.encoder, tmp_path / "r18.safetensors")
    for key, value in source.encoder.body.state_dict().items():
        assert torch.equal(target.encoder.body.state_dict()[key], value)
    torch.save({"state_dict": state}, tmp_path / "r18.pt")
    load_encoder_weights(target.encoder, tmp_path / "r18.pt")


def test_a_grey_encoder_takes_rgb_weights_adapted(tmp_path: Path) -> None:
    rgb = create_model("unet-small", num_classes=2, encoder="resnet18")
    save_file({k: v.contiguous() for k, v in rgb.encoder.body.state_dict().items()}, str(tmp_path / "w.safetensors"))
    grey = create_model("unet-small", in_channels=1, num_classes=2, encoder="resnet18")
    load_encoder_weights(grey.encoder, tmp_path / "w.safetensors")
    expected = rgb.encoder.body.state_dict()["conv1.weight"].sum(dim=1, keepdim=True)
    assert torch.allclose(grey.encoder.body.state_dict()["conv1.weight"], expected)


def test_weights_that_do_not_fit_name_the_file_and_the_keys(tmp_path: Path) -> None:
    model = create_model("unet-small", num_classes=2, encoder="resnet18")
    other = create_model("unet-small", num_classes=2, encoder="resnet34")
    save_file({k: v.contiguous() for k, v in other.encoder.body.state_dict().items()},
              str(tmp_path / "r34.safetensors"))
    with pytest.raises(ConfigError, match=r"r34.safetensors: does not fit encoder resnet18: 96 weights it does not "
                                          r"have \(first: layer1\.2"):
        load_encoder_weights(model.encoder, tmp_path / "r34.safetensors")
    wide = {k: v for k, v in model.encoder.body.state_dict().items()}
    wide["conv1.weight"] = torch.zeros(32, 3, 7, 7)
    torch.save(wide, tmp_path / "wide.pt")
    with pytest.raises(ConfigError, match=r"wide.pt: does not fit encoder resnet18: 1 weights of the wrong shape "
                                          r"\(first: conv1.weight is \(32, 3, 7, 7\), the encoder wants \(64,"):
        load_encoder_weights(model.encoder, tmp_path / "wide.pt")
    partial = {k: v for k, v in model.encoder.body.state_dict().items() if not k.startswith("layer4")}
    torch.save(partial, tmp_path / "partial.pt")
    with pytest.raises(ConfigError, match=r"partial.pt: does not fit encoder resnet18: \d+ encoder weights missing "
                                          r"\(first: layer4"):
        load_encoder_weights(model.encoder, tmp_path / "partial.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a weights file")
    with pytest.raises(ConfigError, match="junk.pt: not a readable weights file"):
        load_encoder_weights(model.encoder, tmp_path / "junk.pt")
    with pytest.raises(ConfigError, match="nowhere.pt: encoder weights file not found"):
        load_encoder_weights(model.encoder, tmp_path / "nowhere.pt")


def test_imagenet_weights_offline_say_where_they_are_expected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    with pytest.raises(ConfigError, match=r"ImageNet weights not found offline: expected timm/resnet18\.\S+/model"
                                          r"\.safetensors in the Hugging Face cache"):
        resolve_imagenet_weights("resnet18", allow_download=False)


def test_pretrained_settings_give_the_encoders_normalisation() -> None:
    lite = pretrained_settings("tf_efficientnet_lite0", 3)
    assert lite.mean == (0.5, 0.5, 0.5) and lite.std == (0.5, 0.5, 0.5)
    grey = pretrained_settings("resnet18", 1)
    assert len(grey.mean) == 1 and grey.mean[0] == pytest.approx((0.485 + 0.456 + 0.406) / 3)
    cfg = SegConfig(model=ModelConfig(encoder="resnet18", encoder_weights="w.pt"), data=DataConfig(root="d"),
                    train=TrainConfig(out="o"))
    assert input_normalisation(cfg, 3, [0.1] * 3, [0.2] * 3)[0] == [0.485, 0.456, 0.406]
    scratch = dataclasses.replace(cfg, model=ModelConfig(encoder="resnet18"))
    assert input_normalisation(scratch, 3, [0.1] * 3, [0.2] * 3) == ([0.1] * 3, [0.2] * 3)


def test_the_encoder_learns_slower_and_can_start_frozen() -> None:
    cfg = SegConfig(model=ModelConfig(encoder="resnet18", encoder_weights="w.pt"), data=DataConfig(root="d"),
                    optim=OptimConfig(encoder_lr_mult=0.1, freeze_encoder="2epochs"), train=TrainConfig(out="o"))
    model = create_model("unet-small", num_classes=2, encoder="resnet18")
    groups = parameter_groups(model, cfg)
    encoder_ids = {id(p) for p in model.encoder.parameters()}
    for group in groups:
        inside = {id(p) in encoder_ids for p in group["params"]}
        assert inside == {group["lr_mult"] == 0.1}
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    freeze = EncoderFreeze(model, cfg)
    freeze.update(epoch=1, step=50, elapsed=10.0)
    model.train()
    freeze.hold_statistics()
    assert freeze.frozen and not model.encoder.training and model.decoder.training
    assert not any(p.requires_grad for p in model.encoder.parameters())
    freeze.update(epoch=2, step=100, elapsed=20.0)
    assert not freeze.frozen and all(p.requires_grad for p in model.encoder.parameters())
    scratch = dataclasses.replace(cfg, model=ModelConfig(encoder="resnet18"))
    assert {g["lr_mult"] for g in parameter_groups(model, scratch)} == {1.0}  # no pretrained weights: one rate


def test_models_and_encoders_are_listed() -> None:
    listing = describe_models()
    assert "segmentation:" in listing and "unet-small" in listing and "pix2pix" in listing
    encoders = describe_encoders()
    assert "double" in encoders and "tf_efficientnet_lite0" in encoders and "features_only" in encoders


@pytest.mark.parametrize(("mode", "batch", "held"), [("auto", 4, True), ("auto", 16, False), ("train", 4, False),
                                                     ("frozen", 32, True)])
def test_a_pretrained_encoders_batchnorm_statistics_by_mode(mode: str, batch: int, held: bool) -> None:
    cfg = SegConfig(model=ModelConfig(encoder="resnet18", encoder_weights="w.pt"), data=DataConfig(root="d"),
                    optim=OptimConfig(encoder_bn=mode), train=TrainConfig(out="o", batch_size=batch))
    model = create_model("unet-small", num_classes=2, encoder="resnet18")
    freeze = EncoderFreeze(model, cfg)
    freeze.update(epoch=0, step=0, elapsed=0.0)
    model.train()
    freeze.hold_statistics()
    norms = [m for m in model.encoder.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all(m.training != held for m in norms)
    assert model.decoder.training and all(p.requires_grad for p in model.encoder.parameters())
    before = norms[0].running_mean.clone()
    model(torch.randn(2, 3, 32, 32))
    assert torch.equal(norms[0].running_mean, before) == held
