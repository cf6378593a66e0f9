"""Encoders from timm: any timm model that supports `features_only`, as the contracting path of a U-Net.

The encoder returns the features of each stage, finest first, with the channels and reductions timm
declares. Pretrained weights are never fetched here: `load_encoder_weights` loads a local file
(safetensors, or a state dict that loads with `weights_only=True`), and `resolve_imagenet_weights`
finds timm's ImageNet file in the local Hugging Face cache (or downloads it when online and allowed).
A request for weights that cannot be honoured is an error naming the keys and the file, never a silent
random initialisation.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from segen.errors import ConfigError

#: Encoders that the test matrix runs (random weights); any other timm `features_only` model works too.
TESTED_TIMM_ENCODERS = ("resnet18", "resnet34", "resnet50", "efficientnet_b0", "tf_efficientnet_lite0",
                        "mobilenetv3_large_100", "convnext_tiny", "regnety_004")


def _timm() -> Any:
    try:
        import timm
    except ImportError:  # pragma: no cover - timm is a dependency; this guards broken installs
        raise ConfigError("timm encoders need the timm package: pip install 'timm>=1.0'") from None
    return timm


def is_timm_encoder(name: str) -> bool:
    """Whether timm knows model `name` (no weights are touched)."""
    return bool(_timm().is_model(name))


@dataclass(frozen=True)
class PretrainedSettings:
    """What a pretrained timm encoder expects of its input: per-channel mean and std in [0, 1] units."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    hf_hub_id: str | None
    first_conv: str | None


def pretrained_settings(name: str, in_channels: int) -> PretrainedSettings:
    """The input normalisation of timm model `name`'s default pretrained weights, for `in_channels` channels
    (a grey input takes the mean of the RGB values, as timm's adapted first convolution sums over RGB)."""
    cfg = _timm().models.get_pretrained_cfg(name)
    mean = tuple(getattr(cfg, "mean", None) or (0.485, 0.456, 0.406))
    std = tuple(getattr(cfg, "std", None) or (0.229, 0.224, 0.225))
    if in_channels != len(mean):
        mean, std = (sum(mean) / len(mean),) * in_channels, (sum(std) / len(std),) * in_channels
    return PretrainedSettings(mean, std, getattr(cfg, "hf_hub_id", None), getattr(cfg, "first_conv", None))


class TimmEncoder(nn.Module):
    """The stages of timm model `name` up to a total reduction of 2**`depth` (None: all of them).

    Attributes:
        out_channels: channels of each returned feature map, finest first.
        reductions: down-sampling factor of each returned feature map.
    """

    def __init__(self, name: str, in_channels: int = 3, depth: int | None = None) -> None:
        super().__init__()
        timm = _timm()
        if not timm.is_model(name):
            raise ConfigError(f"unknown encoder {name!r}: not a native encoder (double, residual) nor a timm model "
                              "(see `segen models --encoders`)", kind="unknown")
        try:
            with torch.device("meta"):  # the stages' layout only: no memory, no initialisation
                probe = timm.create_model(name, pretrained=False, features_only=True, in_chans=in_channels)
        except (RuntimeError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"encoder {name!r}: timm cannot build it with features_only ({exc})") from None
        reductions = list(probe.feature_info.reduction())
        keep = [i for i, r in enumerate(reductions) if depth is None or r <= 2**depth]
        if not keep:
            raise ConfigError(f"encoder {name!r}: no stage within depth {depth} (its reductions: {reductions})")
        self.body = timm.create_model(name, pretrained=False, features_only=True, in_chans=in_channels,
                                      out_indices=tuple(probe.feature_info.out_indices[i] for i in keep))
        self.name = name
        self.out_channels = list(self.body.feature_info.channels())
        self.reductions = list(self.body.feature_info.reduction())

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return list(self.body(x))


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from a safetensors file or a tensors-only torch file (`weights_only=True`)."""
    if not path.is_file():
        raise ConfigError(f"{path}: encoder weights file not found", kind="missing", path=path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state: Any = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any failure to read the file is reported with its name
        raise ConfigError(f"{path}: not a readable weights file ({type(exc).__name__}: {exc})".splitlines()[0],
                          kind="invalid", path=path) from None
    for key in ("state_dict", "model", "model_state"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConfigError(f"{path}: does not hold a state dict of tensors", kind="invalid", path=path)
    return state


def load_encoder_weights(encoder: TimmEncoder, path: Path) -> None:
    """Load pretrained weights into `encoder` from `path`; the classifier and stages beyond the encoder's depth
    are skipped. A first convolution trained on 3 channels is adapted to the encoder's input channels (as timm
    does). Raises ConfigError naming the file and the keys that are missing or do not fit."""
    state = read_weights(path)
    own = encoder.body.state_dict()
    first_conv = pretrained_settings(encoder.name, 3).first_conv
    conv_key = f"{first_conv}.weight" if first_conv else None
    if conv_key in own and conv_key in state and state[conv_key].shape[1] != own[conv_key].shape[1]:
        from timm.models import adapt_input_conv

        state = {**state, conv_key: adapt_input_conv(own[conv_key].shape[1], state[conv_key])}
    missing = [k for k in own if k not in state]
    wrong = [k for k in own if k in state and state[k].shape != own[k].shape]
    foreign = [k for k in state if k not in _full_model_keys(encoder.name)]
    if missing or wrong or foreign:
        if missing:
            problem = f"{len(missing)} encoder weights missing (first: {', '.join(missing[:3])})"
        elif wrong:
            problem = (f"{len(wrong)} weights of the wrong shape (first: {wrong[0]} is {tuple(state[wrong[0]].shape)}, "
                       f"the encoder wants {tuple(own[wrong[0]].shape)})")
        else:
            problem = f"{len(foreign)} weights it does not have (first: {', '.join(foreign[:3])})"
        raise ConfigError(f"{path}: does not fit encoder {encoder.name}: {problem}", kind="mismatch", path=path)
    encoder.body.load_state_dict({k: state[k] for k in own})


def _full_model_keys(name: str) -> set[str]:
    """The state-dict keys of timm model `name` with its head (built on the meta device: no memory, no weights)."""
    with torch.device("meta"):
        return set(_timm().create_model(name, pretrained=False).state_dict())


def resolve_imagenet_weights(name: str, allow_download: bool | None = None) -> Path:
    """The local file of timm model `name`'s default pretrained weights: from the Hugging Face cache, or
    downloaded into it when online (`allow_download` None: unless HF_HUB_OFFLINE is set)."""
    settings = pretrained_settings(name, 3)
    if not settings.hf_hub_id:
        raise ConfigError(f"encoder {name!r}: timm lists no downloadable pretrained weights; give "
                          "--encoder-weights FILE", kind="missing")
    repo = settings.hf_hub_id.split("/", 2)
    repo_id = "/".join(repo[:2])
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(hf_hub_download(repo_id, "model.safetensors", local_files_only=True))
    except (LocalEntryNotFoundError, FileNotFoundError, OSError):
        pass
    if allow_download is None:
        allow_download = os.environ.get("HF_HUB_OFFLINE", "0") in ("0", "", "false", "False")
    cache = os.environ.get("HF_HUB_CACHE") or os.environ.get("HF_HOME") or "~/.cache/huggingface"
    where = f"{repo_id}/model.safetensors in the Hugging Face cache ({cache})"
    if not allow_download:
        raise ConfigError(f"encoder {name!r}: ImageNet weights not found offline: expected {where}; "
                          "download them once online, or give --encoder-weights FILE", kind="missing")
    try:
        return Path(hf_hub_download(repo_id, "model.safetensors"))
    except Exception as exc:  # network and hub errors all end the same way
        raise ConfigError(f"encoder {name!r}: cannot download ImageNet weights ({type(exc).__name__}); expected "
                          f"{where}, or give --encoder-weights FILE", kind="missing") from None
