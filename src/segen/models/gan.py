"""GAN architectures: DCGAN, class-conditional DCGAN with a projection discriminator, and pix2pix.

Every registered GAN builds a `GANPair` holding a generator and a discriminator together with the
plain data a trainer needs (conditioning kind, latent size, classes, image size, channels).

- `dcgan` (Radford et al., 2016): latent vector -> linear projection to a small base map ->
  4x4 stride-2 transposed convolutions halving the width -> tanh image. The discriminator mirrors it
  with 4x4 stride-2 convolutions and LeakyReLU(0.2), then one logit per image.
- `cgan`: the same generator fed `concat(z, embed(label))`; a projection discriminator
  (Miyato & Koyama, 2018): `linear(h) + <embed(label), h>`, `h` the sum-pooled features.
- `pix2pix` (Isola et al., 2017): a U-Net generator and the 70x70 PatchGAN, which scores the
  (input, output) pair concatenated on channels. The default generator (`generator="unet"`) is the
  segmentation U-Net itself (`segen.models.UNet`: DoubleConv levels, UpBlocks with dropout in the
  three innermost, here behind a stride-2 stem) with a tanh output;
  `generator="paper"` is the paper's U-Net of single 4x4 stride-2 convolutions down to 1x1.

Weights follow the DCGAN initialisation: convolutions and linear layers N(0, 0.02), norm scales
N(1, 0.02), biases zero. Widths double per level up to 8x `width`, as in both papers.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from segen.config import CONDITIONINGS
from segen.models.registry import register_model
from segen.models.unet import UNet
from segen.nn import NORMS, make_activation, make_norm, pad_to_multiple

Size = int | Sequence[int]

MIN_SIZE, MAX_SIZE = 8, 1024
MAX_WIDTH_FACTOR = 8


def _image_size(value: Size) -> tuple[int, int]:
    """`value` as (H, W), each side between MIN_SIZE and MAX_SIZE."""
    size = (value, value) if isinstance(value, int) else tuple(value)
    if len(size) != 2 or not all(isinstance(s, int) and MIN_SIZE <= s <= MAX_SIZE for s in size):
        raise ValueError(f"image_size must be one or two integers in [{MIN_SIZE}, {MAX_SIZE}], got {value!r}")
    return size[0], size[1]


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")


def _widths(width: int, levels: int) -> list[int]:
    return [width * min(2**i, MAX_WIDTH_FACTOR) for i in range(levels)]


def num_stages(image_size: tuple[int, int]) -> int:
    """Stride-2 stages for a DCGAN of `image_size`: the most that leave at least 4 px on the short side."""
    return max(1, (min(image_size) // 4).bit_length() - 1)


def init_dcgan_weights(module: nn.Module) -> None:
    """DCGAN initialisation of one module (use with `Module.apply`); other modules are left alone."""
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d | nn.InstanceNorm2d | nn.GroupNorm) and module.weight is not None:
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def apply_spectral_norm(module: nn.Module) -> None:
    """Spectrally normalise every convolution, linear layer and embedding inside `module`."""
    targets = [m for m in module.modules() if isinstance(m, nn.Conv2d | nn.Linear | nn.Embedding)]
    for target in targets:
        _spectral_norm(target)


class DownConv(nn.Sequential):
    """4x4 convolution (stride 2 by default, padding 1), norm, activation; bias only without a norm."""

    def __init__(self, cin: int, cout: int, norm: str = "batch", act: str = "leaky_relu", stride: int = 2) -> None:
        super().__init__(nn.Conv2d(cin, cout, 4, stride, 1, bias=norm == "none"), make_norm(norm, cout),
                         make_activation(act))


class UpConv(nn.Sequential):
    """4x4 stride-2 transposed convolution (doubles H and W), norm, ReLU, optional dropout."""

    def __init__(self, cin: int, cout: int, norm: str = "batch", dropout: float = 0.0) -> None:
        layers = [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=norm == "none"), make_norm(norm, cout),
                  make_activation("relu")]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        super().__init__(*layers)


def _down_stack(channels: int, width: int, norm: str, stages: int) -> nn.Sequential:
    """DCGAN discriminator body: `stages` DownConv blocks, no norm on the first."""
    widths = _widths(width, stages)
    return nn.Sequential(*(DownConv(cin, cout, "none" if i == 0 else norm)
                           for i, (cin, cout) in enumerate(zip([channels, *widths[:-1]], widths, strict=True))))


class DCGANGenerator(nn.Module):
    """Latent vector (and optional class label) to an image in [-1, 1].

    With `n = num_stages(image_size)`, the latent is projected to a base map of
    `ceil(H / 2**n) x ceil(W / 2**n)` (4 to 8 px on the short side) and up-sampled n times; sizes that
    2**n does not divide are generated at the next multiple and center-cropped to exactly H x W.

    Args:
        latent_dim: size of z.
        channels: output image channels.
        image_size: output (H, W), or one int for square images.
        width: channels of the last up-sampling stage; earlier stages double it, up to 8x.
        norm: batch, instance, layer, group or none.
        num_classes: > 0 makes it class-conditional: a `latent_dim`-sized label embedding (N(0, 1)
            like z) is concatenated with z.
    """

    def __init__(self, latent_dim: int = 128, channels: int = 3, image_size: Size = (64, 64), width: int = 64,
                 norm: str = "batch", num_classes: int = 0) -> None:
        super().__init__()
        _check_positive(latent_dim=latent_dim, channels=channels, width=width)
        self.image_size = _image_size(image_size)
        self.num_stages = num_stages(self.image_size)
        self.base_size = tuple(-(-s // 2**self.num_stages) for s in self.image_size)
        widths = _widths(width, self.num_stages)[::-1]
        self.embed = nn.Embedding(num_classes, latent_dim) if num_classes > 0 else None
        in_dim = latent_dim * (2 if num_classes > 0 else 1)
        self.project = nn.Linear(in_dim, widths[0] * self.base_size[0] * self.base_size[1], bias=norm == "none")
        self.project_act = nn.Sequential(make_norm(norm, widths[0]), make_activation("relu"))
        self.stages = nn.Sequential(*(UpConv(cin, cout, norm) for cin, cout in pairwise(widths)))
        self.head = nn.Sequential(nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1), nn.Tanh())
        self.apply(init_dcgan_weights)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """(N, latent_dim) latents and, if conditional, (N,) int labels -> (N, channels, H, W)."""
        if self.embed is not None:
            if labels is None:
                raise ValueError("a class-conditional generator needs labels")
            z = torch.cat([z, self.embed(labels)], dim=1)
        x = self.project_act(self.project(z).view(z.shape[0], -1, *self.base_size))
        return _center_crop(self.head(self.stages(x)), self.image_size)


def _center_crop(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    top, left = (x.shape[-2] - size[0]) // 2, (x.shape[-1] - size[1]) // 2
    return x[..., top:top + size[0], left:left + size[1]]


class DCGANDiscriminator(nn.Module):
    """Image of exactly `image_size` to one real/fake logit: DownConv stages, then a linear layer.

    The linear layer over the final 4-8 px map is the DCGAN's last full-size convolution.

    Args:
        channels: image channels.
        image_size: (H, W) of the images it scores.
        width: channels of the first stage; later stages double it, up to 8x.
        norm: batch, instance, layer, group or none (not batch for WGAN-GP); never on the first stage.
        spectral_norm: spectrally normalise every weight.
    """

    def __init__(self, channels: int = 3, image_size: Size = (64, 64), width: int = 64, norm: str = "batch",
                 spectral_norm: bool = False) -> None:
        super().__init__()
        _check_positive(channels=channels, width=width)
        self.image_size = _image_size(image_size)
        stages = num_stages(self.image_size)
        self.features = _down_stack(channels, width, norm, stages)
        fh, fw = (s >> stages for s in self.image_size)
        self.head = nn.Linear(_widths(width, stages)[-1] * fh * fw, 1)
        self.apply(init_dcgan_weights)
        if spectral_norm:
            apply_spectral_norm(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, channels, H, W) images -> (N,) logits."""
        if tuple(x.shape[-2:]) != self.image_size:
            raise ValueError(f"expected {self.image_size[0]}x{self.image_size[1]} images, got {tuple(x.shape)}")
        return self.head(self.features(x).flatten(1)).squeeze(1)


class ProjectionDiscriminator(nn.Module):
    """Class-conditional discriminator: `linear(h) + sum(embed(y) * h)`, `h` the sum-pooled features.

    Same DownConv body and arguments as `DCGANDiscriminator`, plus `num_classes`.
    """

    def __init__(self, channels: int = 3, image_size: Size = (64, 64), num_classes: int = 10, width: int = 64,
                 norm: str = "batch", spectral_norm: bool = False) -> None:
        super().__init__()
        _check_positive(channels=channels, num_classes=num_classes, width=width)
        self.image_size = _image_size(image_size)
        stages = num_stages(self.image_size)
        self.features = _down_stack(channels, width, norm, stages)
        features = _widths(width, stages)[-1]
        self.linear = nn.Linear(features, 1)
        self.embed = nn.Embedding(num_classes, features)
        self.apply(init_dcgan_weights)
        nn.init.normal_(self.embed.weight, 0.0, 0.02)
        if spectral_norm:
            apply_spectral_norm(self)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """(N, channels, H, W) images and (N,) int labels -> (N,) logits."""
        h = self.features(x).sum(dim=(2, 3))
        return self.linear(h).squeeze(1) + (self.embed(labels) * h).sum(dim=1)


class Pix2PixGenerator(nn.Module):
    """pix2pix U-Net: image to image in [-1, 1], any input size.

    Encoder level i is a 4x4 stride-2 DownConv with `width * min(2**i, 8)` channels and LeakyReLU(0.2)
    (no norm on the first and the innermost level, whose 1x1 map gets a ReLU); each decoder level is an
    UpConv whose output is concatenated with the encoder features of the same size; the three innermost
    decoder levels use dropout; a final 4x4 transposed convolution and tanh make the image. Activations
    follow each norm (post-activation), so skips carry LeakyReLU features. Inputs are padded to a
    multiple of 2**depth (reflect, or replicate for small images) and the output cropped back.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, width: int = 64, depth: int = 8,
                 dropout: float = 0.5, norm: str = "batch") -> None:
        super().__init__()
        _check_positive(in_channels=in_channels, out_channels=out_channels, width=width, depth=depth)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.depth = depth
        self.size_multiple = 2**depth  # inputs are padded to this (exporters bound the graph's sizes by it)
        widths = _widths(width, depth)
        self.down = nn.ModuleList(
            DownConv(cin, cout, "none" if i in (0, depth - 1) else norm, "relu" if i == depth - 1 else "leaky_relu")
            for i, (cin, cout) in enumerate(zip([in_channels, *widths[:-1]], widths, strict=True)))
        self.up = nn.ModuleList(
            UpConv(widths[i] * (1 if i == depth - 1 else 2), widths[i - 1], norm, dropout if depth - i <= 3 else 0.0)
            for i in reversed(range(1, depth)))
        self.head = nn.Sequential(nn.ConvTranspose2d(widths[0] * (2 if depth > 1 else 1), out_channels, 4, 2, 1),
                                  nn.Tanh())
        self.apply(init_dcgan_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in_channels, H, W) -> (N, out_channels, H, W)."""
        h, w = x.shape[-2:]
        x = pad_to_multiple(x, 2**self.depth)
        skips = []
        for down in self.down:
            x = down(x)
            skips.append(x)
        x = skips.pop()
        for up in self.up:
            x = torch.cat([up(x), skips.pop()], dim=1)
        return self.head(x)[..., :h, :w]


class UNetTranslator(nn.Module):
    """pix2pix generator built from the segmentation U-Net: `segen.models.UNet` with a tanh output.

    The U-Net body (`depth` levels of two 3x3 convolutions from `width` channels) runs at half
    resolution behind a stride-2 stem (see `segen.models.unet`), which keeps the cost of a 256x256
    image within a CPU's reach; dropout `dropout` in the three innermost decoder levels (train mode
    only). Any input size: padding is done by the U-Net.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, width: int = 32, depth: int = 4,
                 dropout: float = 0.5, norm: str = "batch", stem_stride: int = 2) -> None:
        super().__init__()
        _check_positive(in_channels=in_channels, out_channels=out_channels, width=width, depth=depth)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.unet = UNet(in_channels, out_channels, depth, width, norm, "relu", 0.0, "transpose", stem_stride,
                         decoder_dropout=dropout)
        self.size_multiple = self.unet.size_multiple

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in_channels, H, W) -> (N, out_channels, H, W) in [-1, 1]."""
        return torch.tanh(self.unet(x))


class PatchDiscriminator(nn.Module):
    """PatchGAN: scores every overlapping patch of an (input, output) pair.

    `layers` 4x4 stride-2 DownConvs (no norm on the first), one stride-1 DownConv, then a 4x4 stride-1
    convolution to one logit per patch. `layers=3` is the 70x70 PatchGAN (C64-C128-C256-C512);
    a 256x256 pair gives a 30x30 logit map.
    """

    def __init__(self, in_channels: int = 6, width: int = 64, layers: int = 3, norm: str = "batch") -> None:
        super().__init__()
        _check_positive(in_channels=in_channels, width=width, layers=layers)
        widths = _widths(width, layers + 1)
        blocks = [DownConv(cin, cout, "none" if i == 0 else norm, stride=2 if i < layers else 1)
                  for i, (cin, cout) in enumerate(zip([in_channels, *widths[:-1]], widths, strict=True))]
        self.net = nn.Sequential(*blocks, nn.Conv2d(widths[-1], 1, 4, 1, 1))
        self.apply(init_dcgan_weights)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Condition (N, Ca, H, W) and image (N, Cb, H, W), Ca + Cb = in_channels -> (N, 1, h, w) logits."""
        return self.net(torch.cat([a, b], dim=1))


class GANPair(nn.Module):
    """A generator and a discriminator with the plain data a trainer needs.

    Calling the pair runs the generator (`pair(z)`, `pair(z, labels)` or `pair(image)`); the discriminator
    is called explicitly as `pair.discriminator(...)`.

    Attributes:
        conditioning: "none" (z only), "class" (z and labels) or "image" (image to image).
        latent_dim: size of z; 0 for image conditioning.
        num_classes: number of classes; 0 unless class-conditional.
        image_size: nominal (H, W) of generated images.
        channels: generated image channels.
        in_channels: input image channels for image conditioning, else 0.
    """

    def __init__(self, generator: nn.Module, discriminator: nn.Module, *, conditioning: str,
                 image_size: tuple[int, int], channels: int, latent_dim: int = 0, num_classes: int = 0,
                 in_channels: int = 0) -> None:
        super().__init__()
        if conditioning not in CONDITIONINGS:
            raise ValueError(f"conditioning must be one of {CONDITIONINGS}, got {conditioning!r}")
        self.generator = generator
        self.discriminator = discriminator
        self.conditioning = conditioning
        self.latent_dim = latent_dim
        self.num_classes = num_classes
        self.image_size = image_size
        self.channels = channels
        self.in_channels = in_channels

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        """The generator's output for `inputs`."""
        return self.generator(*inputs)

    def sample_latents(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, latent_dim) standard normal latents on the model's device.

        Raises:
            ValueError: the pair takes no latent (image conditioning).
        """
        if self.latent_dim == 0:
            raise ValueError(f"a {self.conditioning!r}-conditioned GAN takes no latent vector")
        device = next(self.parameters()).device
        source = generator.device if generator is not None else device
        return torch.randn(n, self.latent_dim, generator=generator, device=source).to(device)


_DCGAN: dict[str, Any] = {"image_size": (64, 64), "channels": 3, "latent_dim": 128, "width": 64, "d_width": 64,
          "g_norm": "batch", "d_norm": "batch", "d_spectral_norm": False}


def _dcgan_pair(*, image_size: Size, channels: int, latent_dim: int, width: int, d_width: int, g_norm: str,
                d_norm: str, d_spectral_norm: bool, num_classes: int) -> GANPair:
    size = _image_size(image_size)
    generator = DCGANGenerator(latent_dim, channels, size, width, g_norm, num_classes)
    discriminator: nn.Module = (
        ProjectionDiscriminator(channels, size, num_classes, d_width, d_norm, d_spectral_norm) if num_classes
        else DCGANDiscriminator(channels, size, d_width, d_norm, d_spectral_norm))
    return GANPair(generator, discriminator, conditioning="class" if num_classes else "none", image_size=size,
                   channels=channels, latent_dim=latent_dim, num_classes=num_classes)


PIX2PIX_GENERATORS = ("unet", "paper")
_DCGAN_CHOICES: dict[str, tuple[Any, ...]] = {"g_norm": NORMS, "d_norm": NORMS}


@register_model("dcgan", family="gan", conditioning="none", choices=_DCGAN_CHOICES, **_DCGAN)
def dcgan(**kwargs: Size | str | bool) -> GANPair:
    """Unconditional DCGAN; 64x64 RGB by default (3.8 M generator, 2.8 M discriminator parameters)."""
    return _dcgan_pair(num_classes=0, **kwargs)  # type: ignore[arg-type]


@register_model("cgan", family="gan", conditioning="class", choices=_DCGAN_CHOICES, **_DCGAN, num_classes=10)
def cgan(*, num_classes: int, **kwargs: Size | str | bool) -> GANPair:
    """Class-conditional DCGAN: label embedding joined to z, projection discriminator."""
    _check_positive(num_classes=num_classes)
    return _dcgan_pair(num_classes=num_classes, **kwargs)  # type: ignore[arg-type]


_PIX2PIX_SIZES = {"unet": (32, 4), "paper": (64, 8)}  # generator -> default (width, depth)


@register_model("pix2pix", family="gan", conditioning="image", choices={"generator": PIX2PIX_GENERATORS, "norm": NORMS},
                in_channels=3, channels=3, image_size=(256, 256), generator="unet",
                width=None, depth=None, dropout=0.5, norm="batch", d_width=64, d_layers=3)
def pix2pix(*, in_channels: int, channels: int, image_size: Size, generator: str, width: int | None,
            depth: int | None, dropout: float, norm: str, d_width: int, d_layers: int) -> GANPair:
    """Image-to-image translation: U-Net generator and 70x70 PatchGAN.

    `generator="unet"` (default): the segmentation U-Net, width 32, depth 4 (7.8 M parameters);
    `generator="paper"`: the paper's 4x4 stride-2 U-Net, width 64, depth 8 (54 M parameters).
    """
    if generator not in PIX2PIX_GENERATORS:
        raise ValueError(f"generator must be one of {', '.join(PIX2PIX_GENERATORS)}, got {generator!r}")
    size = _image_size(image_size)
    default_width, default_depth = _PIX2PIX_SIZES[generator]
    width, depth = width or default_width, depth or default_depth
    net: nn.Module = (UNetTranslator(in_channels, channels, width, depth, dropout, norm) if generator == "unet"
                      else Pix2PixGenerator(in_channels, channels, width, depth, dropout, norm))
    discriminator = PatchDiscriminator(in_channels + channels, d_width, d_layers, norm)
    return GANPair(net, discriminator, conditioning="image", image_size=size, channels=channels,
                   in_channels=in_channels)
