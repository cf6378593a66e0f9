"""Attention U-Net (Oktay et al., 2018): the U-Net with additive attention gates on its skip connections.

Before a decoder level fuses an encoder feature, an `AttentionGate` scales that skip by coefficients in
[0, 1], computed from the skip and the gating signal: the coarser decoder level's features, the input of
that decoder block. Everything else is the U-Net's (`segen.models.unet`): the encoders (native, behind the
optional stem, or timm), the skip-less up-sampling stages after a timm encoder, the padding and the head;
its state dict is the U-Net's plus `decoder.gates`.
"""

from __future__ import annotations

import torch
from torch import nn

from segen.models.registry import register_model
from segen.models.unet import CHECKS, CHOICES, UNET_DEFAULTS, UNet, UNetDecoder
from segen.nn import AttentionGate


class AttentionUNetDecoder(UNetDecoder):
    """The U-Net decoder with an attention gate on each skip connection, gated by the decoder level below it."""

    def __init__(self, channels: list[int], upsampling: str, norm: str, act: str, dropout: float = 0.0,
                 dropout_levels: int = 0, reductions: list[int] | None = None,
                 widths: list[int] | None = None) -> None:
        super().__init__(channels, upsampling, norm, act, dropout, dropout_levels, reductions, widths)
        self.gates = nn.ModuleList(AttentionGate(channels[i], self.in_widths[i])
                                   for i in reversed(range(len(channels) - 1)))

    def fuse(self, x: torch.Tensor, skip: torch.Tensor, level: int) -> torch.Tensor:
        """Decoder block `level` (0: the innermost) on `x` and the skip gated by `x`."""
        return self.blocks[level](x, self.gates[level](skip, x))


class AttentionUNet(UNet):
    """Attention U-Net segmenter returning logits; the options are the U-Net's (see `UNet`)."""

    decoder_class = AttentionUNetDecoder


@register_model("attention-unet", choices=CHOICES, checks=CHECKS, **UNET_DEFAULTS, base_width=64)
def attention_unet(**kwargs: object) -> AttentionUNet:
    """The U-Net with attention-gated skips, widths 64 to 1024 (32.1 M parameters)."""
    return AttentionUNet(**kwargs)  # type: ignore[arg-type]


@register_model("attention-unet-small", choices=CHOICES, checks=CHECKS, **UNET_DEFAULTS, base_width=16)
def attention_unet_small(**kwargs: object) -> AttentionUNet:
    """Attention U-Net at a quarter of the widths, 16 to 256 (2.0 M parameters): fast on CPUs."""
    return AttentionUNet(**kwargs)  # type: ignore[arg-type]
