"""U-Net (Ronneberger et al., 2015): contracting encoder, expanding decoder with skips, 1x1 head.

Each encoder level applies two 3x3 conv-norm-act blocks and halves the resolution with 2x2 max
pooling; each decoder level doubles it, concatenates the encoder features of the same level and
applies two more convolutions. Widths double per level from `base_width`. Inputs of any size are
padded to a multiple of 2**depth inside the model and the output is cropped back.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from segen.models.registry import register_model
from segen.nn import DoubleConv, UpBlock, pad_to_multiple


class UNetEncoder(nn.Module):
    """Contracting path; returns the features of every level, finest first.

    Attributes:
        out_channels: channels of each returned feature map.
        reductions: down-sampling factor of each returned feature map.
    """

    def __init__(self, in_channels: int, widths: list[int], norm: str, act: str, dropout: float) -> None:
        super().__init__()
        last = len(widths) - 1
        self.levels = nn.ModuleList(
            DoubleConv(cin, cout, norm, act, dropout if i == last else 0.0)
            for i, (cin, cout) in enumerate(zip([in_channels, *widths[:-1]], widths, strict=True)))
        self.out_channels = list(widths)
        self.reductions = [2**i for i in range(len(widths))]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for i, level in enumerate(self.levels):
            if i > 0:
                x = F.max_pool2d(x, 2)
            x = level(x)
            features.append(x)
        return features


class UNetDecoder(nn.Module):
    """Expanding path: from the coarsest feature map up, fusing each skip connection."""

    def __init__(self, widths: list[int], upsampling: str, norm: str, act: str) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            UpBlock(widths[i + 1], widths[i], widths[i], upsampling, norm, act)
            for i in reversed(range(len(widths) - 1)))
        self.out_channels = widths[0]

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = features[-1]
        for block, skip in zip(self.blocks, reversed(features[:-1]), strict=True):
            x = block(x, skip)
        return x


class UNet(nn.Module):
    """U-Net segmenter returning logits: 1 channel for binary (sigmoid), C for C classes (softmax)."""

    def __init__(self, in_channels: int = 3, num_classes: int = 1, depth: int = 4, base_width: int = 64,
                 norm: str = "batch", activation: str = "relu", dropout: float = 0.0,
                 upsampling: str = "transpose") -> None:
        super().__init__()
        if in_channels < 1 or num_classes < 1 or depth < 1 or base_width < 1:
            raise ValueError("in_channels, num_classes, depth and base_width must be >= 1")
        widths = [base_width * 2**i for i in range(depth + 1)]
        self.depth = depth
        self.num_classes = num_classes
        self.encoder = UNetEncoder(in_channels, widths, norm, activation, dropout)
        self.decoder = UNetDecoder(widths, upsampling, norm, activation)
        self.head = nn.Conv2d(widths[0], num_classes, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        features = self.encoder(pad_to_multiple(x, 2**self.depth))
        return self.head(self.decoder(features))[..., :h, :w]


_COMMON: dict[str, Any] = {"in_channels": 3, "num_classes": 1, "depth": 4, "norm": "batch", "activation": "relu",
           "dropout": 0.0, "upsampling": "transpose"}


@register_model("unet", **_COMMON, base_width=64)
def unet(**kwargs: object) -> UNet:
    """The original U-Net widths, 64 to 1024 (31 M parameters)."""
    return UNet(**kwargs)  # type: ignore[arg-type]


@register_model("unet-medium", **_COMMON, base_width=32)
def unet_medium(**kwargs: object) -> UNet:
    """Half the original widths, 32 to 512 (7.8 M parameters)."""
    return UNet(**kwargs)  # type: ignore[arg-type]


@register_model("unet-small", **_COMMON, base_width=16)
def unet_small(**kwargs: object) -> UNet:
    """A quarter of the original widths, 16 to 256 (1.9 M parameters): fast on CPUs."""
    return UNet(**kwargs)  # type: ignore[arg-type]
