"""UNet++ (Zhou et al., 2018): the U-Net with nested, dense skip pathways and deep supervision.

The encoder's features are the grid's first column X[i,0] (level i, finest first). Node X[i,j] (j >= 1)
up-samples X[i+1,j-1] and fuses it with every node before it on its level, X[i,0..j-1]: an `UpBlock` whose
skip is their concatenation, `channels[i]` wide. With L levels below the top, the top row X[0,1..L] holds L
outputs of growing depth, each with its own head (1x1, or 3x3 under a timm encoder: see `UNetBase`).

Deep supervision (`deep_supervision=True`, the default): in training mode the model returns (main output,
[auxiliary outputs]): the head of X[0,L], then the heads of X[0,1..L-1], all at the input's size, so that a
loss supervises every head (`segen.training.seg` takes the mean over the heads: equal weights, as the paper).
In eval mode it returns one tensor: the last head's output or, with `prune=k`, head k's, computing only what
head k needs: the nodes X[i,j] with i+j <= k and, with a native encoder, its first k+1 levels only (the
paper's pruned UNet++ L^k). Without deep supervision there is one head, on X[0,L], and nothing to prune.

The encoders are the U-Net's (`segen.models.unet`): native (behind the optional stem) or timm. The top-row
nodes share one tail back to full resolution: the skip-less up-sampling stages after a timm encoder whose
finest feature is at 1/2 or 1/4, or the stem's exit. Inputs are padded to `size_multiple`, outputs cropped back.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from segen.models.registry import OptionCheck, register_model
from segen.models.unet import CHECKS, CHOICES, COMMON_DEFAULTS, UNetBase, UNetEncoder, check_reductions, skipless_stages
from segen.nn import UpBlock

#: What a UNet++ returns: one tensor, or (main output, auxiliary outputs) in training with deep supervision.
UNetPlusPlusOutput = torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]


class NestedDecoder(nn.Module):
    """UNet++'s nested skip pathways over an encoder's features (successive halvings, finest first), and the
    skip-less up-sampling stages after a timm encoder (see `UNetDecoder`) that every top-row node shares.

    Attributes:
        levels: L, the levels below the top row; the top-row nodes are X[0,1..L].
        out_channels: channels of a top-row node after `finish`.
    """

    def __init__(self, channels: list[int], upsampling: str, norm: str, act: str,
                 reductions: list[int] | None = None) -> None:
        super().__init__()
        reductions = check_reductions(channels, reductions)
        self.levels = len(channels) - 1
        self.nodes = nn.ModuleDict({
            f"{i}_{j}": UpBlock(channels[i + 1], j * channels[i], channels[i], upsampling, norm, act)
            for j in range(1, self.levels + 1) for i in range(self.levels - j + 1)})
        self.extra, self.out_channels = skipless_stages(channels[0], reductions[0], upsampling, norm, act)

    def forward(self, features: list[torch.Tensor], upto: int | None = None) -> list[torch.Tensor]:
        """The top-row nodes X[0,1..`upto`] (None: L), which need the features X[0..upto,0] only."""
        upto = self.levels if upto is None else upto
        grid = [[f] for f in features[:upto + 1]]
        for j in range(1, upto + 1):
            for i in range(upto - j + 1):
                grid[i].append(self.nodes[f"{i}_{j}"](grid[i + 1][j - 1], torch.cat(grid[i][:j], dim=1)))
        return grid[0][1:]

    def finish(self, x: torch.Tensor) -> torch.Tensor:
        """A top-row node through the skip-less up-sampling stages (none after a native encoder)."""
        for block in self.extra:
            x = block(x, None)
        return x


class UNetPlusPlus(UNetBase):
    """UNet++ segmenter returning logits: 1 channel for binary (sigmoid), C for C classes (softmax).

    The options are the U-Net's (see `UNet`, without decoder dropout), plus `deep_supervision` (a head on
    every top-row node, all returned in training mode) and `prune` (eval mode returns head k's output,
    1 <= k <= L, computing only what it needs; None: the last head's). `prune` may be set on a built model.
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 1, depth: int | None = None, base_width: int = 64,
                 norm: str = "batch", activation: str = "relu", dropout: float = 0.0,
                 upsampling: str = "auto", stem_stride: int = 1, encoder: str = "double",
                 deep_supervision: bool = True, prune: int | None = None, head_kernel: int | None = None) -> None:
        super().__init__(in_channels, num_classes, depth, base_width, norm, activation, dropout, upsampling,
                         stem_stride, encoder, head_kernel)
        self.decoder = NestedDecoder(self.encoder.out_channels, self.upsampling, norm, activation,
                                     self.encoder.reductions)
        self.deep_supervision = deep_supervision
        width = self.out_width(self.decoder.out_channels)
        self.head = self.make_head(width)
        aux = self.decoder.levels - 1 if deep_supervision else 0
        self.aux_heads = nn.ModuleList(self.make_head(width) for _ in range(aux))
        self.prune = prune

    @property
    def prune(self) -> int | None:
        """The head (1 to L) whose output eval mode returns; None: the last."""
        return self._prune

    @prune.setter
    def prune(self, k: int | None) -> None:
        levels = self.decoder.levels
        if k is not None and (isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= levels):
            raise ValueError(f"prune must be a head from 1 to {levels} (this model's levels) or None, got {k!r}")
        if k is not None and k < levels and not self.deep_supervision:
            raise ValueError("prune needs deep_supervision: without it only the last head is trained")
        self._prune = k

    def forward(self, x: torch.Tensor) -> UNetPlusPlusOutput:
        """Training mode with deep supervision: (main output, [outputs of heads 1..L-1]); otherwise the last
        head's output, or in eval mode head `prune`'s."""
        if self.training and self.deep_supervision:
            *aux, main = self.head_outputs(x)
            return main, aux
        k = self.decoder.levels if self.training or self.prune is None else self.prune
        return self._outputs(x, k, every=False)[0]

    def head_outputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The output of every head, X[0,1]'s first (the last head's only, without deep supervision)."""
        return self._outputs(x, self.decoder.levels, every=self.deep_supervision)

    def _outputs(self, x: torch.Tensor, upto: int, every: bool) -> list[torch.Tensor]:
        """The outputs of heads 1..`upto` (`every`) or of head `upto` alone, cropped to `x`'s size."""
        h, w = x.shape[-2:]
        body_in, kept = self.enter(x)
        top = self.decoder(self._features(body_in, upto + 1), upto)
        chosen = list(range(1, upto + 1)) if every else [upto]
        return [self._head(j)(self.leave(self.decoder.finish(top[j - 1]), kept))[..., :h, :w] for j in chosen]

    def _head(self, j: int) -> nn.Module:
        return self.head if j == self.decoder.levels else self.aux_heads[j - 1]

    def _features(self, x: torch.Tensor, levels: int) -> list[torch.Tensor]:
        """The encoder's first `levels` features; fewer than all only when pruned (eval mode: no bottleneck
        dropout), and then computed only as deep as needed by a native encoder."""
        if levels == len(self.encoder.out_channels):
            return self.features(x)
        if isinstance(self.encoder, UNetEncoder):
            return self.encoder(x, levels)
        return self.encoder(x)[:levels]


def check_prune(value: Any) -> str | None:
    """None if `value` can name a head to prune to (or is None), else why not."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        return None
    return f"must be a head number >= 1 (1: the shallowest) or null, got {value!r}"


_CHOICES: dict[str, tuple[Any, ...]] = {**CHOICES, "deep_supervision": (True, False)}
_CHECKS: dict[str, OptionCheck] = {**CHECKS, "prune": check_prune}
_DEFAULTS: dict[str, Any] = {**COMMON_DEFAULTS, "deep_supervision": True, "prune": None}


@register_model("unetplusplus", choices=_CHOICES, checks=_CHECKS, **_DEFAULTS, base_width=64)
def unetplusplus(**kwargs: object) -> UNetPlusPlus:
    """UNet++: nested dense skips, deep supervision, widths 64 to 1024 (36.2 M parameters)."""
    return UNetPlusPlus(**kwargs)  # type: ignore[arg-type]


@register_model("unetplusplus-small", choices=_CHOICES, checks=_CHECKS, **_DEFAULTS, base_width=16)
def unetplusplus_small(**kwargs: object) -> UNetPlusPlus:
    """UNet++ at a quarter of the widths, 16 to 256 (2.3 M parameters): fast on CPUs."""
    return UNetPlusPlus(**kwargs)  # type: ignore[arg-type]
