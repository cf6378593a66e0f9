"""U-Net (Ronneberger et al., 2015): contracting encoder, expanding decoder with skips, 1x1 head.

Each encoder level applies two 3x3 conv-norm-act blocks and halves the resolution with 2x2 max
pooling; each decoder level doubles it, concatenates the encoder features of the same level and
applies two more convolutions. Widths double per level from `base_width`. Inputs of any size are
padded to a multiple of 2**depth * stem_stride inside the model and the output is cropped back.

With `stem_stride` 2 or 4 the U-Net body runs at 1/2 or 1/4 resolution: thin stride-2 convolutions
enter it and as many UpBlocks, fed by their full- and half-resolution features, leave it. That puts
the compute where wide convolutions run efficiently, as ResNet-encoder U-Nets do. `encoder="residual"`
makes each encoder level two residual blocks (ResNet's basic block) instead of two convolutions; with
`stem_stride=4, depth=3, base_width=64` that is ResNet-18's layout with the U-Net's decoder.

`UNetBase` holds what the whole U-Net family (U-Net, UNet++, Attention U-Net) shares: the encoder
(native behind its optional stem, or timm), the bottleneck dropout and the padding.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from segen.config import NATIVE_ENCODERS
from segen.models.encoders.timm_encoder import TimmEncoder, is_timm_encoder
from segen.models.registry import OptionCheck, register_model
from segen.nn import ACTIVATIONS, NORMS, UPSAMPLINGS, ConvNormAct, DoubleConv, ResidualLevel, UpBlock, pad_to_multiple


class UNetEncoder(nn.Module):
    """Contracting path; returns the features of every level, finest first.

    Attributes:
        out_channels: channels of each returned feature map.
        reductions: down-sampling factor of each returned feature map.
    """

    def __init__(self, in_channels: int, widths: list[int], norm: str, act: str, dropout: float,
                 residual: bool = False) -> None:
        super().__init__()
        last = len(widths) - 1
        level = ResidualLevel if residual else DoubleConv
        self.levels = nn.ModuleList(
            level(cin, cout, norm, act, dropout if i == last else 0.0)
            for i, (cin, cout) in enumerate(zip([in_channels, *widths[:-1]], widths, strict=True)))
        self.out_channels = list(widths)
        self.reductions = [2**i for i in range(len(widths))]

    def forward(self, x: torch.Tensor, levels: int | None = None) -> list[torch.Tensor]:
        """The features of the first `levels` levels (None: all), finest first."""
        features = []
        for i, level in enumerate(self.levels[:levels]):
            if i > 0:
                x = F.max_pool2d(x, 2)
            x = level(x)
            features.append(x)
        return features


MIN_DECODER_WIDTH = 16  # the thinnest up-sampling stage after a timm encoder's finest feature (smp's last width)


def check_reductions(channels: list[int], reductions: list[int] | None) -> list[int]:
    """The reductions of an encoder's features (None: 1, 2, 4, ...); ValueError unless successive halvings
    from a power of two."""
    reductions = reductions or [2**i for i in range(len(channels))]
    if any(b != 2 * a for a, b in pairwise(reductions)) or reductions[0] & (reductions[0] - 1):
        raise ValueError(f"the encoder's features must be at successive halvings, got reductions {reductions}")
    return reductions


def skipless_stages(width: int, reduction: int, upsampling: str, norm: str, act: str) -> tuple[nn.ModuleList, int]:
    """UpBlocks without skips from 1/`reduction` back to full resolution, halving `width` each time (down to
    MIN_DECODER_WIDTH), and the width they end with; none when `reduction` is 1."""
    widths = [width]
    for _ in range(reduction.bit_length() - 1):
        widths.append(max(MIN_DECODER_WIDTH, widths[-1] // 2))
    return nn.ModuleList(UpBlock(cin, 0, cout, upsampling, norm, act) for cin, cout in pairwise(widths)), widths[-1]


TIMM_DECODER_WIDEST = 256  # a timm encoder's decoder: 256 at the coarsest level, halving towards the finest


def timm_decoder_widths(levels: int) -> list[int]:
    """The default decoder widths under a timm encoder, finest first: 256 at the coarsest level, halving
    towards the finest (not below MIN_DECODER_WIDTH), as segmentation_models_pytorch's 256-to-16 decoder.
    Mobile encoders have thin skips (16 to 112 channels for tf_efficientnet_lite0), and a decoder that only
    matches them learns more slowly (CamVid, benchmarks/RESULTS.md)."""
    return [max(MIN_DECODER_WIDTH, TIMM_DECODER_WIDEST >> (levels - 1 - i)) for i in range(levels)]


def decoder_widths(channels: list[int], widths: list[int] | None) -> list[int]:
    """The output width of each decoder level, finest first: `widths` (one per level below the coarsest
    feature) or, when None, the width of the skip each level fuses. ValueError on a wrong count or width."""
    levels = len(channels) - 1
    if widths is None:
        return list(channels[:-1])
    if len(widths) != levels or any(w < 1 for w in widths):
        raise ValueError(f"decoder_widths needs {levels} widths >= 1 (one per decoder level, finest first) for "
                         f"this encoder, got {list(widths)}")
    return list(widths)


class UNetDecoder(nn.Module):
    """Expanding path over an encoder's features (each level half the resolution of the one before): from the
    coarsest up, fusing each skip connection; then, when the finest feature is at 1/2 or 1/4 resolution (timm
    encoders), up-sampling stages without skips back to full resolution, halving the width each time.

    Level i ends `widths[i]` wide (finest first; None: the width of its skip, channels[i]). The
    `dropout_levels` innermost blocks end in dropout `dropout` (pix2pix's noise source).

    Attributes:
        in_widths: the width of the input each level up-samples (finest first): the coarser level's output,
            or the encoder's coarsest feature for the innermost level.
    """

    def __init__(self, channels: list[int], upsampling: str, norm: str, act: str, dropout: float = 0.0,
                 dropout_levels: int = 0, reductions: list[int] | None = None,
                 widths: list[int] | None = None) -> None:
        super().__init__()
        reductions = check_reductions(channels, reductions)
        levels = len(channels) - 1
        outs = decoder_widths(channels, widths)
        self.in_widths = [*outs[1:], channels[-1]]
        self.blocks = nn.ModuleList(
            UpBlock(self.in_widths[i], channels[i], outs[i], upsampling, norm, act,
                    dropout if levels - i <= dropout_levels else 0.0)
            for i in reversed(range(levels)))
        self.extra, self.out_channels = skipless_stages(outs[0], reductions[0], upsampling, norm, act)

    def fuse(self, x: torch.Tensor, skip: torch.Tensor, level: int) -> torch.Tensor:
        """Decoder block `level` (0: the innermost): up-sample `x` and fuse `skip` into it."""
        return self.blocks[level](x, skip)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = features[-1]
        for level, skip in zip(range(len(self.blocks)), reversed(features[:-1]), strict=True):
            x = self.fuse(x, skip, level)
        for block in self.extra:
            x = block(x, None)
        return x


class Stem(nn.Module):
    """Entry and exit of a U-Net body at 1/`stride` resolution (stride 2 or 4).

    Entry: a 3x3 convolution at full resolution, then one stride-2 ConvNormAct per halving; each keeps
    its features (half the width of the next, down to `body_width / stride`) for the exit, where one
    UpBlock per halving fuses them back, ending at full resolution with the thinnest width.
    """

    def __init__(self, in_channels: int, body_width: int, stride: int, upsampling: str, norm: str,
                 act: str) -> None:
        super().__init__()
        halvings = stride.bit_length() - 1
        widths = [max(1, body_width >> (halvings - i)) for i in range(halvings)] + [body_width]
        self.full = ConvNormAct(in_channels, widths[0], norm, act)
        self.down = nn.ModuleList(ConvNormAct(cin, cout, norm, act, stride=2) for cin, cout in pairwise(widths))
        self.up = nn.ModuleList(UpBlock(widths[i + 1], widths[i], widths[i], upsampling, norm, act)
                                for i in reversed(range(halvings)))
        self.out_channels = widths[0]

    def enter(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(body input, the features kept for the exit, finest first)."""
        kept = [self.full(x)]
        for down in self.down:
            kept.append(down(kept[-1]))
        return kept.pop(), kept

    def leave(self, body_out: torch.Tensor, kept: list[torch.Tensor]) -> torch.Tensor:
        x = body_out
        for up, skip in zip(self.up, reversed(kept), strict=True):
            x = up(x, skip)
        return x


DECODER_DROPOUT_LEVELS = 3  # decoder levels that `decoder_dropout` applies to, innermost first (as pix2pix)


class UNetBase(nn.Module):
    """The encoder side of every U-Net variant: a native encoder ("double": two 3x3 convolutions per level,
    as the paper; "residual": two residual blocks) behind an optional stride-2/4 `Stem`, or a timm model;
    dropout `dropout` after the innermost level; inputs padded to `size_multiple`. Subclasses add a decoder
    and heads (`make_head`) and call `enter`, `features` and `leave` around them.

    `upsampling` "auto" and `head_kernel` None resolve by encoder: the paper's 2x2 up-convolution and 1x1
    head for the native encoders; nearest-neighbour up-sampling and a 3x3 head under a timm encoder, which
    learns from a pretrained encoder several times faster (CamVid, benchmarks/RESULTS.md).
    """

    def __init__(self, in_channels: int, num_classes: int, depth: int | None, base_width: int, norm: str,
                 activation: str, dropout: float, upsampling: str, stem_stride: int, encoder: str,
                 head_kernel: int | None = None) -> None:
        super().__init__()
        native = encoder in NATIVE_ENCODERS
        if upsampling == "auto":
            upsampling = "transpose" if native else "nearest"
        if head_kernel is None:
            head_kernel = 1 if native else 3
        if head_kernel not in HEAD_KERNELS:
            raise ValueError(f"head_kernel must be 1 or 3, got {head_kernel!r}")
        self.upsampling = upsampling
        self.head_kernel = head_kernel
        if in_channels < 1 or num_classes < 1 or (depth is not None and depth < 1) or base_width < 1:
            raise ValueError("in_channels, num_classes, depth and base_width must be >= 1")
        if stem_stride not in STEM_STRIDES:
            raise ValueError(f"stem_stride must be 1, 2 or 4, got {stem_stride}")
        self.num_classes = num_classes
        self.stem: Stem | None = None
        self.stem_stride = stem_stride
        self.bottleneck_dropout: nn.Module = nn.Identity()
        self.encoder: UNetEncoder | TimmEncoder
        if encoder in NATIVE_ENCODERS:
            widths = [base_width * 2**i for i in range((depth or NATIVE_DEPTH) + 1)]
            body_in = in_channels
            if stem_stride > 1:
                self.stem = Stem(in_channels, base_width, stem_stride, self.upsampling, norm, activation)
                body_in = base_width
            self.encoder = UNetEncoder(body_in, widths, norm, activation, dropout, residual=encoder == "residual")
        else:
            if stem_stride != 1:
                raise ValueError("stem_stride applies to the native encoders (double, residual) only")
            self.encoder = TimmEncoder(encoder, in_channels, depth)
            self.bottleneck_dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.size_multiple = max(self.encoder.reductions) * stem_stride

    @property
    def depth(self) -> int:
        """Halvings from the input to the coarsest feature map (within the U-Net body)."""
        return max(self.encoder.reductions).bit_length() - 1

    def make_head(self, width: int) -> nn.Conv2d:
        """A head from `width` channels at full resolution to the logits (`head_kernel` x `head_kernel`)."""
        return nn.Conv2d(width, self.num_classes, kernel_size=self.head_kernel, padding=self.head_kernel // 2)

    def out_width(self, body_width: int) -> int:
        """Channels at full resolution of a body output `body_width` wide (after the stem's exit, if any)."""
        return self.stem.out_channels if self.stem is not None else body_width

    def enter(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(the body's input: `x` padded, through the stem's entry if any; what the stem's exit needs)."""
        x = pad_to_multiple(x, self.size_multiple)
        return (x, []) if self.stem is None else self.stem.enter(x)

    def leave(self, body_out: torch.Tensor, kept: list[torch.Tensor]) -> torch.Tensor:
        """A body output back at the padded input's resolution (through the stem's exit, if any)."""
        return body_out if self.stem is None else self.stem.leave(body_out, kept)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The encoder's features of a padded input, finest first (the deepest after bottleneck dropout)."""
        features = self.encoder(x)
        return [*features[:-1], self.bottleneck_dropout(features[-1])]


class UNet(UNetBase):
    """U-Net segmenter returning logits: 1 channel for binary (sigmoid), C for C classes (softmax).

    `dropout` follows the innermost encoder level; `decoder_dropout` the three innermost decoder levels;
    `encoder` is "double" (two 3x3 convolutions per level, as the paper) or "residual" (two residual blocks)
    or a timm model; `decoder_widths` sets each decoder level's width, finest first (None: the width of the
    skip it fuses, as the paper, for the native encoders; under a timm encoder, `timm_decoder_widths`: 256 at
    the coarsest level halving towards the finest, which suits the thin skips of mobile encoders);
    `upsampling` and `head_kernel` as `UNetBase`.
    """

    decoder_class: type[UNetDecoder] = UNetDecoder

    def __init__(self, in_channels: int = 3, num_classes: int = 1, depth: int | None = None, base_width: int = 64,
                 norm: str = "batch", activation: str = "relu", dropout: float = 0.0,
                 upsampling: str = "auto", stem_stride: int = 1, decoder_dropout: float = 0.0,
                 encoder: str = "double", decoder_widths: list[int] | None = None,
                 head_kernel: int | None = None) -> None:
        super().__init__(in_channels, num_classes, depth, base_width, norm, activation, dropout, upsampling,
                         stem_stride, encoder, head_kernel)
        if decoder_widths is not None and self.stem is not None:
            raise ValueError("decoder_widths applies with stem_stride 1 (the stem's exit takes the body's width)")
        if decoder_widths is None and encoder not in NATIVE_ENCODERS:
            decoder_widths = timm_decoder_widths(len(self.encoder.out_channels) - 1)
        self.decoder = self.decoder_class(self.encoder.out_channels, self.upsampling, norm, activation,
                                          decoder_dropout, DECODER_DROPOUT_LEVELS, self.encoder.reductions,
                                          decoder_widths)
        self.head = self.make_head(self.out_width(self.decoder.out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        body_in, kept = self.enter(x)
        return self.head(self.leave(self.decoder(self.features(body_in)), kept))[..., :h, :w]


NATIVE_DEPTH = 4  # the native encoders' default halvings (the paper's)
STEM_STRIDES = (1, 2, 4)
HEAD_KERNELS = (1, 3)
#: The valid values of the U-Net family's choice-valued options.
CHOICES: dict[str, tuple[Any, ...]] = {"stem_stride": STEM_STRIDES, "norm": NORMS, "activation": ACTIVATIONS,
                                       "upsampling": ("auto", *UPSAMPLINGS), "head_kernel": HEAD_KERNELS}


def check_encoder(name: Any) -> str | None:
    """None if `name` is a native encoder or a timm model, else why not."""
    if name in NATIVE_ENCODERS or (isinstance(name, str) and is_timm_encoder(name)):
        return None
    return (f"unknown encoder {name!r}; valid: {', '.join(NATIVE_ENCODERS)} or a timm model such as resnet34 "
            "(see `segen models --encoders`)")


#: The checks of the U-Net family's open-valued options.
CHECKS: dict[str, OptionCheck] = {"encoder": check_encoder}
#: The options every U-Net variant takes, with their defaults (`base_width` is set by each preset).
COMMON_DEFAULTS: dict[str, Any] = {"in_channels": 3, "num_classes": 1, "depth": None, "norm": "batch",
                                   "activation": "relu", "dropout": 0.0, "upsampling": "auto", "stem_stride": 1,
                                   "encoder": "double", "head_kernel": None}
#: The U-Net's options with their defaults (`base_width` is set by each preset).
UNET_DEFAULTS: dict[str, Any] = {**COMMON_DEFAULTS, "decoder_dropout": 0.0, "decoder_widths": None}


@register_model("unet", choices=CHOICES, checks=CHECKS, **UNET_DEFAULTS, base_width=64)
def unet(**kwargs: object) -> UNet:
    """The original U-Net widths, 64 to 1024 (31 M parameters)."""
    return UNet(**kwargs)  # type: ignore[arg-type]

@register_model("unet-medium", choices=CHOICES, checks=CHECKS, **UNET_DEFAULTS, base_width=32)
def unet_medium(**kwargs: object) -> UNet:
    """Half the original widths, 32 to 512 (7.8 M parameters)."""
    return UNet(**kwargs)  # type: ignore[arg-type]

@register_model("unet-small", choices=CHOICES, checks=CHECKS, **UNET_DEFAULTS, base_width=16)
def unet_small(**kwargs: object) -> UNet:
    """A quarter of the original widths, 16 to 256 (1.9 M parameters): fast on CPUs."""
    return UNet(**kwargs)  # type: ignore[arg-type]
