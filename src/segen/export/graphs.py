"""The modules that get exported: a trained network with its pre- and post-processing inside the graph.

A deployment target then needs no segen code: a segmentation graph takes the image's pixel values as
they are stored (uint8, or int32 for 16-bit data) and returns logits and the class-id mask; a generator
graph returns images in [0, 1].
"""

from __future__ import annotations

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
