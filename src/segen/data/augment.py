"""Named, configurable augmentation ops applied jointly to an image and its mask.

A pipeline is a list of op specs, each a mapping with the op's registered `name`, its probability `p`
and its own parameters, e.g. ``{"name": "elastic", "p": 0.5, "alpha": 40.0, "sigma": 6.0}``; unknown
names or parameters raise `ConfigError`. Images are C,H,W tensors (C = 1 or 3): uint8, or int32 holding
0..max_value for 16-bit data; masks uint8 H,W; both keep their dtype and size. Photometric ops see 16-bit
images as float [0, 1] (divided by `max_value`), so they clamp to `max_value` and their strengths mean the
same on every bit depth.

Conventions:

* Geometric ops move image and mask alike: the image bilinear, the mask nearest-neighbour; areas that come
  from outside the image are 0 in the image and `ignore_index` in the mask.
* Photometric ops change only the image; the mask stays bit-identical. `hue` is a no-op on 1-channel images.
* `rot90` draws 90, 180 or 270 degrees on square inputs, only 180 on non-square ones (every op keeps the size).
* `cutout` fills its holes with 0 and leaves the mask unchanged by default (the object is only hidden, which
  trains the model to infer it from context); ``mask_ignore: true`` sets the holes to `ignore_index` instead.
* `elastic` follows Simard et al. (2003), as used for U-Net: U(-1, 1) displacements smoothed with a Gaussian
  of `sigma` px and scaled by `alpha`; the RMS displacement is about 0.16 * alpha / sigma px (alpha 40,
  sigma 6: about 1.1 px, peaks of 4-6 px at 256x256). The field is drawn at one sample per sigma / 2 px.
* `grid_distortion` displaces the nodes of a coarse (num_steps + 1)^2 grid by up to `distort_limit` cells and
  upsamples them bicubically to a smooth field, applied like `elastic`.

Random numbers come from Python's `random` (scalars) and torch's default generator (fields, noise), so
``random.seed`` and ``torch.manual_seed`` make a pipeline reproducible.

Timing (one CPU thread, 3x256x256 uint8, ms per sample when applied): elastic ~3, grid_distortion ~3,
rotate ~2, blur ~3, hue ~5.5, noise ~1, brightness/contrast/gamma 0.4-1, flips, rot90 and cutout < 0.1;
a whole preset averages 3-4 ms per sample.
"""

from __future__ import annotations

import inspect
import math
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

import torch
import torch.nn.functional as nnf
from torchvision import tv_tensors
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as F

from segen.data.presets import PRESET_RESAMPLE_P, PRESETS, preset_for
from segen.errors import ConfigError
from segen.preprocess import dtype_max, from_unit, to_unit

__all__ = ["OPS", "PRESETS", "PRESET_RESAMPLE_P", "Op", "Pipeline", "build_op", "build_pipeline", "op_params",
           "preset_for", "register"]

Pair = tuple[tv_tensors.Image, tv_tensors.Mask]


class Op:
    """An augmentation applied with probability `p`; subclasses implement `apply`."""

    name: ClassVar[str] = ""
    geometric: ClassVar[bool] = False  # moves pixels (the mask follows) rather than changing their values

    def __init__(self, p: float = 0.5) -> None:
        self.p = _number(self.name, "p", p, 0.0, 1.0)

    def __call__(self, image: tv_tensors.Image, mask: tv_tensors.Mask, ignore_index: int = 255,
                 max_value: float | None = None) -> Pair:
        """Apply the op with probability `p`; `mask` is 1,H,W; int32 images hold 0..`max_value` (default 65535)."""
        if random.random() >= self.p:
            return image, mask
        if self.geometric or image.dtype == torch.uint8 or image.is_floating_point():
            return self.apply(image, mask, ignore_index)
        top = dtype_max(image) if max_value is None else max_value
        out, mask = self.apply(tv_tensors.wrap(to_unit(image, top), like=image), mask, ignore_index)
        return tv_tensors.wrap(from_unit(out, top, image.dtype), like=image), mask

    def apply(self, image: tv_tensors.Image, mask: tv_tensors.Mask, ignore_index: int) -> Pair:
        """Apply the op unconditionally to a uint8 or float [0, 1] image."""
        raise NotImplementedError

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={getattr(self, k)!r}" for k in op_params(type(self)))
        return f"{type(self).__name__}({params})"


OPS: dict[str, type[Op]] = {}
OpT = TypeVar("OpT", bound=type[Op])


def register(cls: OpT) -> OpT:
    """Class decorator: register an op under its `name`."""
    OPS[cls.name] = cls
    return cls


def op_params(cls: type[Op]) -> dict[str, Any]:
    """The parameters of an op class with their defaults."""
    sig = inspect.signature(cls.__init__)
    return {k: v.default for k, v in sig.parameters.items() if k != "self"}


# --- parameter checks ---------------------------------------------------------------------------------------


def _fail(op: str, key: str, problem: str) -> ConfigError:
    return ConfigError(f"augment op {op!r}: parameter {key!r} {problem}")


def _number(op: str, key: str, value: Any, lo: float = -math.inf, hi: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise _fail(op, key, f"must be a number in [{lo}, {hi}], got {value!r}")
    return float(value)


def _integer(op: str, key: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise _fail(op, key, f"must be an integer in [{lo}, {hi}], got {value!r}")
    return value


def _range(op: str, key: str, value: Any, lo: float, hi: float) -> tuple[float, float]:
    ok = isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2
    if ok:
        a, b = (_number(op, key, v, lo, hi) for v in value)
        if a <= b:
            return a, b
    raise _fail(op, key, f"must be two numbers min <= max in [{lo}, {hi}], got {value!r}")


# --- geometric ops --------------------------------------------------------------------------------------------


class _Mirror(Op):
    """A flip of image and mask alike; subclasses name the torchvision flip."""

    geometric = True
    flip: ClassVar[Callable[[torch.Tensor], torch.Tensor]]

    def apply(self, image: tv_tensors.Image, mask: tv_tensors.Mask, ignore_index: int) -> Pair:
        return type(self).flip(image), type(self).flip(mask)


@register
class HFlip(_Mirror):
    """Mirror left-right."""

    name = "hflip"
    flip = F.horizontal_flip


@register
class VFlip(_Mirror):
    """Mirror top-bottom (not for scenes with a natural up, such as street scenes)."""

    name = "vflip"
    flip = F.vertical_flip


@register
class Rot90(Op):
    """Rotate by a random multiple of 90 degrees; non-square inputs only by 180, which keeps their size."""

    name = "rot90"
    geometric = True

    def apply(self, image: tv_tensors.Image, mask: tv_tensors.Mask, ignore_index: int) -> Pair:
        h, w = image.shape[-2:]
        k = random.randint(1, 3) if h == w else 2
        return (tv_tensors.wrap(torch.rot90(image, k, (-2, -1)), like=image),
                tv_tensors.wrap(torch.rot90(mask, k, (-2, -1)), like=mask))


@register
class Rotate(Op):
    """Rotate about the centre by an angle drawn from [-degrees, degrees]."""

    name = "rotate"
    geometric = True

    def __init__(self, p: float = 0.5, degrees: float = 15.0) -> None:
        super().__init__(p)
        self.degrees = _number(self.name, "degrees", degrees, 0.0, 180.0)

    def apply(self, image: tv_tensors.Image, mask: tv_tensors.Mask, ignore_index: int) -> Pair:
        angle = random.uniform(-self.degrees, self.degrees)
        return (F.rotate(image, angle, interpolation=InterpolationMode.BILINEAR),
                F.rotate(mask, angle, interpolation=InterpolationMode.NEAREST, fill=[float(ignore_index)]))


@register
class Elastic(Op):
    """Elastic deformation: U(-1, 1) displacements smoothed with a Gaussian of `sigma` px, times `alpha`."""

    name = "elastic"
    geometric = True

    def __init__(self, p: float = 0.5, alpha: float = 40.0, sigma: float = 6.0) -> None:
        super().__init__(p)
        self.alpha = _number(self.name, "alpha", alpha, 0.0)
        self.sigma = _number(self.name, "sigma", sigma, 0.5, 100.0)

    def apply(self, image: tv_tensors.Image, mask: tv_tensors.Mask, ignore_index: int) -> Pair:
        h, w = image.shape[-2:]
        return _warp(image, mask, self.alpha * _smooth_noise(h, w, self.sigma), ignore_index)


@register
class GridDistortion(Op):
    """Displace the nodes of a coarse grid by up to `distort_limit` cells; the field in between is bicubic."""

    name = "grid_distortion"
    geometric = True

    def __init__(self, p: float = 0.5, num_steps: int = 5, distort_limit: float = 0.3) -> None:
        super().__init__(p)
        self.num_steps = _integer(self.name, "num_steps", num_steps, 1, 64)
        self.distort_limit = _number(self.name, "distort_limit", distort_limit, 0.0, 0.5)

    def apply(self, image: tv_tensors.Image, mask: tv_tensors.Mask, ignore_index: int) -> Pair:
        h, w = image.shape[-2:]
        n = self.num_steps + 1
        nodes = (torch.rand(1, 2, n, n) * 2 - 1) * self.distort_limit
        nodes *= torch.tensor([w / self.num_steps, h / self.num_steps]).view(1, 2, 1, 1)
        field = nnf.interpolate(nodes, size=(h, w), mode="bicubic", align_corners=True)[0]
        return _warp(image, mask, field, ignore_index)


def _smooth_noise(h: int, w: int, sigma: float) -> torch.Tensor:
    """A 2,H,W field of U(-1, 1) noise smoothed with a Gaussian of `sigma` px, drawn at low resolution."""
    step = max(1, int(sigma / 2))
    noise = torch.rand(2, 1, math.ceil(h / step), math.ceil(w / step)) * 2 - 1
    field = _gaussian_smooth(noise, sigma / step) / step  # coarser samples: divide to keep the full-res variance
    if step > 1:
        field = nnf.interpolate(field, size=(h, w), mode="bilinear", align_corners=False)
    return field[:, 0]


def _gaussian_smooth(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian smoothing of N,1,H,W float `x` with replicated borders."""
    radius = math.ceil(3 * sigma)
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    kernel /= kernel.sum()
    x = nnf.pad(x, (radius, radius, radius, radius), mode="replicate")
    x = nnf.conv2d(x, kernel.view(1, 1, 1, -1))
    return nnf.conv2d(x, kernel.view(1, 1, -1, 1))


def _warp(image: tv_tensors.Image, mask: tv_tensors.Mask, field: torch.Tensor, ignore_index: int) -> Pair:
    """Sample image (bilinear) and mask (nearest) at each pixel plus `field` (2,H,W: dx, dy in px).

    Like `F.elastic`, but with one grid for both and no extra fill channel (about 1.5x faster).
    """
    h, w = image.shape[-2:]
    xs = (torch.arange(w, dtype=torch.float32) * 2 + 1) / w - 1  # pixel centres, align_corners=False
    ys = (torch.arange(h, dtype=torch.float32) * 2 + 1) / h - 1
    grid = torch.stack((xs + field[0] * (2 / w), ys[:, None] + field[1] * (2 / h)), dim=-1)[None]
    out = nnf.grid_sample(image[None].float(), grid, mode="bilinear", align_corners=False)[0]
    # Mask ids + 1, so that 0 marks samples from outside the image (zeros padding).
    ids = nnf.grid_sample(mask[None].float() + 1, grid, mode="nearest", align_corners=False)[0]
    ids = torch.where(ids == 0, float(ignore_index), ids - 1)
    return (tv_tensors.wrap(out.round_().to(image.dtype), like=image),
            tv_tensors.wrap(ids.to(mask.dtype), like=mask))


# --- photometric ops (image only) -----------------------------------------------------------------------------


class _ImageOp(Op):
    """An op that changes pixel values and leaves the mask alone; subclasses implement `adjust`."""

    def apply(self, image: tv_tensors.Image, mask: tv_tensors.Mask, ignore_index: int) -> Pair:
        return self.adjust(image), mask

    def adjust(self, image: tv_tensors.Image) -> tv_tensors.Image:
        """The changed image (uint8 or float in [0, 1])."""
        raise NotImplementedError


class _ColourOp(_ImageOp):
    """An image-only op of one strength `limit` in [0, `max_limit`]."""

    max_limit: ClassVar[float] = 1.0

    def __init__(self, p: float = 0.5, limit: float = 0.2) -> None:
        super().__init__(p)
        self.limit = _number(self.name, "limit", limit, 0.0, self.max_limit)


@register
class Brightness(_ColourOp):
    """Multiply the image by a factor drawn from [1 - limit, 1 + limit]."""

    name = "brightness"

    def adjust(self, image: tv_tensors.Image) -> tv_tensors.Image:
        return F.adjust_brightness(image, random.uniform(1 - self.limit, 1 + self.limit))


@register
class Contrast(_ColourOp):
    """Scale the contrast about the mean grey by a factor drawn from [1 - limit, 1 + limit]."""

    name = "contrast"

    def adjust(self, image: tv_tensors.Image) -> tv_tensors.Image:
        return F.adjust_contrast(image, random.uniform(1 - self.limit, 1 + self.limit))


@register
class Gamma(_ColourOp):
    """Gamma correction with gamma drawn log-uniformly from [1 / (1 + limit), 1 + limit]."""

    name = "gamma"
    max_limit = 4.0

    def adjust(self, image: tv_tensors.Image) -> tv_tensors.Image:
        log_max = math.log1p(self.limit)
        return F.adjust_gamma(image, math.exp(random.uniform(-log_max, log_max)))


@register
class Hue(_ColourOp):
    """Shift the hue by a fraction of the colour circle drawn from [-limit, limit]; 1-channel images pass."""

    name = "hue"
    max_limit = 0.5

    def __init__(self, p: float = 0.5, limit: float = 0.05) -> None:
        super().__init__(p, limit)

    def adjust(self, image: tv_tensors.Image) -> tv_tensors.Image:
        if image.shape[-3] != 3:
            return image
        return F.adjust_hue(image, random.uniform(-self.limit, self.limit))


@register
class Blur(_ImageOp):
    """Gaussian blur with sigma (px) drawn from the range `sigma`."""

    name = "blur"

    def __init__(self, p: float = 0.5, sigma: Sequence[float] = (0.1, 1.0)) -> None:
        super().__init__(p)
        self.sigma = _range(self.name, "sigma", sigma, 0.01, 20.0)

    def adjust(self, image: tv_tensors.Image) -> tv_tensors.Image:
        s = random.uniform(*self.sigma)
        radius = min(math.ceil(3 * s), min(image.shape[-2:]) - 1)  # reflect padding needs radius < size
        return F.gaussian_blur(image, [2 * radius + 1] * 2, [s, s])


@register
class Noise(_ImageOp):
    """Additive Gaussian noise, std drawn from the range `std` in image units (1 = the full value range)."""

    name = "noise"

    def __init__(self, p: float = 0.5, std: Sequence[float] = (0.01, 0.05)) -> None:
        super().__init__(p)
        self.std = _range(self.name, "std", std, 0.0, 1.0)

    def adjust(self, image: tv_tensors.Image) -> tv_tensors.Image:
        top = dtype_max(image)
        noisy = torch.randn(image.shape).mul_(random.uniform(*self.std) * top).add_(image).clamp_(0, top)
        if not image.is_floating_point():
            noisy = noisy.round_().to(image.dtype)
        return tv_tensors.wrap(noisy, like=image)


@register
class Cutout(Op):
    """Zero `num_holes` rectangles of up to `max_size` of each side; the mask is kept unless `mask_ignore`."""

    name = "cutout"

    def __init__(self, p: float = 0.5, num_holes: int = 4, max_size: float = 0.1, mask_ignore: bool = False) -> None:
        super().__init__(p)
        self.num_holes = _integer(self.name, "num_holes", num_holes, 1, 1000)
        self.max_size = _number(self.name, "max_size", max_size, 0.0, 1.0)
        if not isinstance(mask_ignore, bool):
            raise _fail(self.name, "mask_ignore", f"must be true or false, got {mask_ignore!r}")
        self.mask_ignore = mask_ignore

    def apply(self, image: tv_tensors.Image, mask: tv_tensors.Mask, ignore_index: int) -> Pair:
        h, w = image.shape[-2:]
        image = image.clone()
        mask = mask.clone() if self.mask_ignore else mask
        zero = torch.zeros((), dtype=image.dtype)
        for _ in range(self.num_holes):
            hh = random.randint(1, max(1, round(self.max_size * h)))
            hw = random.randint(1, max(1, round(self.max_size * w)))
            top, left = random.randint(0, h - hh), random.randint(0, w - hw)
            image = F.erase(image, top, left, hh, hw, zero, inplace=True)
            if self.mask_ignore:
                mask[..., top:top + hh, left:left + hw] = ignore_index
        return image, mask


# --- pipelines ------------------------------------------------------------------------------------------------


class Pipeline:
    """A sequence of ops applied in order to an image (C,H,W, integers in 0..max_value) and its mask (uint8 H,W).

    `max_value` None means the range of the image's dtype: 255 for uint8, 65535 for int32 (16-bit data).
    """

    def __init__(self, ops: Sequence[Op], ignore_index: int = 255, max_value: float | None = None) -> None:
        self.ops = list(ops)
        self.ignore_index = ignore_index
        self.max_value = max_value

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Augment one sample; returns plain tensors of the input dtypes and (see `rot90`) sizes."""
        if image.ndim != 3 or mask.shape != image.shape[-2:]:
            raise ValueError(f"expected image C,H,W and mask H,W, got {tuple(image.shape)} and {tuple(mask.shape)}")
        img, msk = tv_tensors.Image(image), tv_tensors.Mask(mask[None])
        for op in self.ops:
            img, msk = op(img, msk, self.ignore_index, self.max_value)
        return img.as_subclass(torch.Tensor), msk.as_subclass(torch.Tensor)[0]

    def __repr__(self) -> str:
        return f"Pipeline({self.ops!r}, ignore_index={self.ignore_index}, max_value={self.max_value})"


def build_op(spec: Mapping[str, Any]) -> Op:
    """Build one op from a spec like ``{"name": "rotate", "p": 0.3, "degrees": 10}``."""
    if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str):
        raise ConfigError(f"augment: each op must be a mapping with a 'name', got {spec!r}")
    name = spec["name"]
    if name not in OPS:
        raise ConfigError(f"augment: unknown op {name!r}; valid: {', '.join(sorted(OPS))}")
    cls = OPS[name]
    allowed = op_params(cls)
    params = {k: v for k, v in spec.items() if k != "name"}
    for key in params:
        if key not in allowed:
            raise ConfigError(f"augment op {name!r}: unknown parameter {key!r}; valid: {', '.join(allowed)}")
    return cls(**params)


def build_pipeline(specs: Sequence[Mapping[str, Any]], ignore_index: int = 255,
                   max_value: float | None = None) -> Pipeline:
    """Build a pipeline from op specs; `ignore_index` fills mask areas from outside the image (see `Pipeline`)."""
    if isinstance(specs, (str, Mapping)) or not isinstance(specs, Sequence):
        raise ConfigError(f"augment: expected a list of op specs (see PRESETS), got {specs!r}")
    return Pipeline([build_op(spec) for spec in specs], ignore_index, max_value)
