"""Convolution-norm-activation blocks, up-sampling blocks, the attention gate and size padding."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

NORMS = ("batch", "instance", "group", "layer", "none")
ACTIVATIONS = ("relu", "leaky_relu", "gelu", "silu", "elu")
UPSAMPLINGS = ("transpose", "bilinear", "nearest")


def make_norm(kind: str, channels: int) -> nn.Module:
    """A normalisation layer by name: batch, instance, group, layer (one group over C, H, W) or none."""
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "group":
        return nn.GroupNorm(math.gcd(channels, 8 if channels % 8 == 0 else channels), channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}")


def make_activation(kind: str) -> nn.Module:
    """An activation by name: relu, leaky_relu, gelu, silu or elu."""
    table: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "elu": nn.ELU}
    if kind == "leaky_relu":
        return nn.LeakyReLU(0.2, inplace=True)
    if kind in ("relu", "silu", "elu"):
        return table[kind](inplace=True)
    if kind in table:
        return table[kind]()
    raise ValueError(f"unknown activation {kind!r}")


class ConvNormAct(nn.Sequential):
    """3x3 (by default) convolution, normalisation, activation; bias only without a norm."""

    def __init__(self, cin: int, cout: int, norm: str = "batch", act: str = "relu", kernel: int = 3,
                 stride: int = 1) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=norm == "none"),
            make_norm(norm, cout),
            make_activation(act),
        )


def _then_dropout(layers: list[nn.Module], dropout: float) -> list[nn.Module]:
    """`layers`, followed by channel dropout when `dropout` > 0."""
    return [*layers, nn.Dropout2d(dropout)] if dropout > 0 else layers


class DoubleConv(nn.Sequential):
    """Two ConvNormAct blocks, the unit of every U-Net level; optional dropout after them."""

    def __init__(self, cin: int, cout: int, norm: str = "batch", act: str = "relu", dropout: float = 0.0) -> None:
        super().__init__(*_then_dropout([ConvNormAct(cin, cout, norm, act), ConvNormAct(cout, cout, norm, act)],
                                        dropout))


class ResidualBlock(nn.Module):
    """Two 3x3 ConvNormAct with an identity (or 1x1 projection) shortcut, activated after the sum."""

    def __init__(self, cin: int, cout: int, norm: str = "batch", act: str = "relu") -> None:
        super().__init__()
        self.conv1 = ConvNormAct(cin, cout, norm, act)
        self.conv2 = nn.Sequential(nn.Conv2d(cout, cout, 3, padding=1, bias=norm == "none"), make_norm(norm, cout))
        self.shortcut: nn.Module = nn.Identity() if cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, bias=norm == "none"), make_norm(norm, cout))
        self.act = make_activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv2(self.conv1(x)) + self.shortcut(x))


class ResidualLevel(nn.Sequential):
    """A residual encoder level: two ResidualBlocks (four convolutions), optional dropout after them."""

    def __init__(self, cin: int, cout: int, norm: str = "batch", act: str = "relu", dropout: float = 0.0) -> None:
        super().__init__(*_then_dropout([ResidualBlock(cin, cout, norm, act), ResidualBlock(cout, cout, norm, act)],
                                        dropout))


class UpBlock(nn.Module):
    """Doubles the resolution, concatenates the skip at that level (if any: `cskip` 0 takes none), then a
    DoubleConv.

    `mode="transpose"` uses a 2x2 transposed convolution (the original up-convolution, halving the channels);
    `mode="bilinear"` uses bilinear up-sampling followed by a 1x1 convolution; `mode="nearest"` repeats each
    pixel and keeps the channels, which the DoubleConv after the concatenation brings down to `cout` (as
    segmentation_models_pytorch's decoder: it learns faster behind a pretrained encoder).
    """

    def __init__(self, cin: int, cskip: int, cout: int, mode: str = "transpose", norm: str = "batch",
                 act: str = "relu", dropout: float = 0.0) -> None:
        super().__init__()
        up_width = cout
        if mode == "transpose":
            self.up: nn.Module = nn.ConvTranspose2d(cin, cout, kernel_size=2, stride=2)
        elif mode == "bilinear":
            self.up = nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                                    nn.Conv2d(cin, cout, kernel_size=1))
        elif mode == "nearest":
            self.up = nn.Upsample(scale_factor=2, mode="nearest")
            up_width = cin
        else:
            raise ValueError(f"unknown up-sampling {mode!r}")
        self.conv = DoubleConv(up_width + cskip, cout, norm, act, dropout)
        self.out_channels = cout

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None) -> torch.Tensor:
        x = self.up(x)
        return self.conv(x if skip is None else torch.cat([skip, x], dim=1))


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad the bottom and right of an N,C,H,W tensor so H and W are multiples of `multiple`.

    Reflection padding where the image is large enough, replication otherwise.
    """
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if not _recording_shapes() and ph == 0 and pw == 0:
        return x
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def _recording_shapes() -> bool:
    """Whether the model is being traced or exported, when a size check must not become a fixed branch."""
    return bool(torch.jit.is_tracing() or torch.compiler.is_exporting())


class AttentionGate(nn.Module):
    """Additive attention gate (Oktay et al., 2018): scales a skip connection by coefficients in [0, 1]
    computed from the skip and a gating signal from the coarser decoder level.

    W_x brings the skip to the gate's resolution (`factor` times coarser): a channel-wise linear map on each
    `factor` x `factor` cell, as the paper's code (its 1x1 convolution sub-sampled without dropping pixels; a
    plain 1x1 convolution when `factor` is 1). W_g is a 1x1 convolution of the gate; their sum goes through ReLU,
    a 1x1 convolution to one channel (psi) and a sigmoid, and these coefficients are resampled bilinearly to the
    skip's size and multiply it. `inter_channels` defaults to half the skip's.
    """

    def __init__(self, skip_channels: int, gate_channels: int, inter_channels: int | None = None,
                 factor: int = 2) -> None:
        super().__init__()
        inter = inter_channels or max(1, skip_channels // 2)
        self.skip_proj = nn.Conv2d(skip_channels, inter, kernel_size=factor, stride=factor, bias=False)
        self.gate_proj = nn.Conv2d(gate_channels, inter, kernel_size=1)
        self.psi = nn.Conv2d(inter, 1, kernel_size=1)

    def coefficients(self, skip: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        """The attention coefficients alpha (N,1,H,W at the skip's size), in [0, 1]."""
        theta = self.skip_proj(skip)
        phi = self.gate_proj(gate)
        if phi.shape[-2:] != theta.shape[-2:]:
            phi = F.interpolate(phi, size=theta.shape[-2:], mode="bilinear", align_corners=False)
        alpha = torch.sigmoid(self.psi(F.relu(theta + phi)))
        return F.interpolate(alpha, size=skip.shape[-2:], mode="bilinear", align_corners=False)

    def forward(self, skip: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        return skip * self.coefficients(skip, gate)
