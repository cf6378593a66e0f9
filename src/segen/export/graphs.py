"""The modules that get exported: a trained network with its pre- and post-processing inside the graph.

A deployment target then needs no segen code: a segmentation graph takes the image's pixel values as
they are stored (uint8, or int32 for 16-bit data) and returns logits and the class-id mask; a generator
graph returns images in [0, 1].
"""

from __future__ import annotations

from copy import deepcopy
from typing import cast

import torch
from torch import Tensor, nn

from segen.preprocess import normalise, to_signed


class SegmentationGraph(nn.Module):
    """uint8 (int32 for 16-bit models) N,C,H,W pixel values -> float logits N,K,H,W and int64 labels N,H,W
    (the argmax over classes, or logit > 0 for a one-channel binary model)."""

    def __init__(self, model: nn.Module, mean: list[float], std: list[float], max_value: int) -> None:
        super().__init__()
        self.model = model
        self.max_value = max_value
        self.mean: Tensor
        self.std: Tensor
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        logits = self.model(normalise(images, self.mean, self.std, self.max_value)).float()
        labels = (logits[:, 0] > 0).long() if logits.shape[1] == 1 else logits.argmax(dim=1)
        return logits, labels


class SamplerGraph(nn.Module):
    """dcgan: latent vectors N,Z -> images N,C,H,W in [0, 1]."""

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, latent: Tensor) -> Tensor:
        return self.generator(latent).float().add(1.0).mul(0.5).clamp(0.0, 1.0)


class ClassSamplerGraph(SamplerGraph):
    """cgan: latent vectors N,Z and int64 class ids N -> images N,C,H,W in [0, 1]."""

    def forward(self, latent: Tensor, labels: Tensor) -> Tensor:  # type: ignore[override]
        return self.generator(latent, labels).float().add(1.0).mul(0.5).clamp(0.0, 1.0)


class TranslatorGraph(nn.Module):
    """pix2pix: uint8 N,C,H,W input images -> images N,C',H,W in [0, 1]."""

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, images: Tensor) -> Tensor:
        return self.generator(to_signed(images)).float().add(1.0).mul(0.5).clamp(0.0, 1.0)


class ChannelsLastUpConv(nn.Module):
    """A 2x2, stride-2 transposed convolution computed as a 1x1 convolution to 4x the channels followed by a
    channels-last pixel shuffle: the same numbers (to float rounding), but made of ops that onnxruntime runs
    on int8 data in its NHWC layout (it has no int8 ConvTranspose, so the up-convolutions of a quantised
    U-Net would run in float, each between two layout transposes)."""

    def __init__(self, up: nn.ConvTranspose2d) -> None:
        super().__init__()
        cin, cout = up.in_channels, up.out_channels
        self.out_channels = cout
        self.conv = nn.Conv2d(cin, 4 * cout, kernel_size=1, bias=up.bias is not None)
        with torch.no_grad():  # output channel (a * 2 + b) * cout + o holds the kernel tap (a, b) of channel o
            self.conv.weight.copy_(up.weight.permute(2, 3, 1, 0).reshape(4 * cout, cin, 1, 1))
            if up.bias is not None and self.conv.bias is not None:
                self.conv.bias.copy_(up.bias.repeat(4))

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv(x).permute(0, 2, 3, 1)  # N,H,W,(a,b,o)
        n, h, w, _ = y.shape
        y = y.reshape(n, h, w, 2, 2 * self.out_channels).permute(0, 1, 3, 2, 4)  # N,H,a,W,(b,o)
        return y.reshape(n, 2 * h, 2 * w, self.out_channels).permute(0, 3, 1, 2)


def is_up_conv(module: nn.Module) -> bool:
    """A plain 2x2, stride-2 transposed convolution (the U-Net up-convolution)."""
    return (isinstance(module, nn.ConvTranspose2d) and module.kernel_size == (2, 2) and module.stride == (2, 2)
            and module.padding == (0, 0) and module.output_padding == (0, 0) and module.dilation == (1, 1)
            and module.groups == 1)


def with_int8_friendly_up_convs(graph: nn.Module) -> nn.Module:
    """A copy of `graph` whose up-convolutions are `ChannelsLastUpConv`s (the graph itself is unchanged)."""
    copy = deepcopy(graph)
    for parent in copy.modules():
        for name, child in parent.named_children():
            if is_up_conv(child):
                setattr(parent, name, ChannelsLastUpConv(cast(nn.ConvTranspose2d, child)))
    return copy.eval()
