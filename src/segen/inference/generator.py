"""A trained generator loaded from a GAN checkpoint alone: sampling and image-to-image translation."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F

from segen.checkpoint import GanDataSpec, load_checkpoint
from segen.data.io import read_image
from segen.errors import CheckpointError, ConfigError
from segen.models import GANPair, create_model
from segen.preprocess import signed_to_uint8, to_signed
from segen.reports.grid import image_grid, save_png


@dataclass(frozen=True)
class GeneratorInfo:
    """What a generator produces and what it takes."""

    name: str
    conditioning: str
    latent_dim: int
    image_size: tuple[int, int]
    channels: int
    in_channels: int
    class_names: list[str]
    palette: list[tuple[int, int, int]] = field(default_factory=list)  # pix2pix: its label maps' colours


class Generator:
    """Samples images (dcgan, cgan) or translates them (pix2pix) with a trained (averaged) generator."""

    def __init__(self, network: torch.nn.Module, info: GeneratorInfo, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.network = network.to(self.device).eval()
        self.info = info

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | torch.device = "cpu") -> Generator:
        """Load the generator of a GAN run (`last.pt` or `best.pt`)."""
        checkpoint = load_checkpoint(path, kind="gan")
        spec, data = checkpoint.model, checkpoint.data
        assert isinstance(data, GanDataSpec)
        try:
            kwargs = dict(spec.kwargs)
            if spec.name == "pix2pix":
                kwargs.setdefault("generator", "paper")  # written before the choice existed: the paper's
            pair = cast(GANPair, create_model(spec.name, **kwargs))
            pair.generator.load_state_dict(spec.weights)
            info = GeneratorInfo(spec.name, str(pair.conditioning), int(pair.latent_dim),
                                 (int(data.image_size[0]), int(data.image_size[1])), int(data.channels),
                                 int(data.in_channels or 0), [str(c) for c in data.class_names],
                                 [(int(c[0]), int(c[1]), int(c[2])) for c in data.palette])
        except (KeyError, TypeError, RuntimeError, IndexError, ValueError, ConfigError) as exc:
            raise CheckpointError(f"{path}: incomplete GAN checkpoint ({type(exc).__name__}: "
                                  f"{str(exc).splitlines()[0][:120] if str(exc) else ''})", kind="corrupt") from None
        return cls(pair.generator, info, device)

    @property
    def num_classes(self) -> int:
        return len(self.info.class_names)

    def sample(self, n: int, seed: int | None = None, labels: int | list[int] | torch.Tensor | None = None,
               batch_size: int = 256) -> torch.Tensor:
        """`n` generated images, uint8 N,C,H,W. Class GANs take `labels` (one id or one per image;
        default: the classes in turn)."""
        return torch.cat([images for _, images in self.sample_batches(n, seed, labels, batch_size)])

    def sample_batches(self, n: int, seed: int | None = None, labels: int | list[int] | torch.Tensor | None = None,
                       batch_size: int = 256) -> Iterator[tuple[int, torch.Tensor]]:
        """The images of `sample` (the same ones for the same arguments), `batch_size` at a time, each with the
        index of its first image; only one batch of images is held at once."""
        if self.info.conditioning == "image":
            raise ConfigError("this is an image-to-image generator (pix2pix): translate inputs instead of sampling")
        if n < 1:
            raise ConfigError(f"number of samples must be >= 1, got {n}")
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        z = torch.randn(n, self.info.latent_dim, generator=gen)
        y = self._labels(n, labels)
        for i in range(0, n, batch_size):
            with torch.inference_mode():
                yield i, self._run(z[i:i + batch_size], None if y is None else y[i:i + batch_size])

    def _labels(self, n: int, labels: int | list[int] | torch.Tensor | None) -> torch.Tensor | None:
        if self.info.conditioning != "class":
            if labels is not None:
                raise ConfigError("--class needs a class-conditional generator (cgan)")
            return None
        k = self.num_classes
        if labels is None:
            return torch.arange(n) % k
        y = torch.as_tensor(labels, dtype=torch.long).flatten()
        if y.numel() == 1:
            y = y.expand(n)
        if y.numel() != n or int(y.min()) < 0 or int(y.max()) >= k:
            raise ConfigError(f"class: each label must be in 0..{k - 1} ({n} labels needed)")
        return y.clone()

    def _run(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        z = z.to(self.device)
        out = self.network(z) if y is None else self.network(z, y.to(self.device))
        return signed_to_uint8(out).cpu()

    @torch.inference_mode()
    def translate(self, images: torch.Tensor) -> torch.Tensor:
        """pix2pix: uint8 N,C,H,W inputs -> uint8 outputs at the same size (the model takes any size)."""
        if self.info.conditioning != "image":
            raise ConfigError("this generator samples from noise; --input is for image-to-image (pix2pix) models")
        x = to_signed(images.to(self.device))
        return signed_to_uint8(self.network(x)).cpu()

    def translate_file(self, path: str | Path) -> torch.Tensor:
        """Read one input image (converted to the model's input channels) and translate it."""
        image = read_image(Path(path), self.info.in_channels)
        return self.translate(image[None])[0]


def as_hwc(image: torch.Tensor) -> np.ndarray:
    """uint8 C,H,W tensor -> H,W or H,W,3 array for PNG writing."""
    array = image.permute(1, 2, 0).numpy()
    return array[:, :, 0] if array.shape[2] == 1 else array


def save_images(images: torch.Tensor, out: str | Path, start: int = 0) -> list[Path]:
    """Write each image as OUT/00000.png, 00001.png, ... (atomic writes)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, image in enumerate(images, start=start):
        path = out / f"{i:05d}.png"
        save_png(as_hwc(image), path)
        paths.append(path)
    return paths


def grid_of(images: torch.Tensor, columns: int | None = None) -> np.ndarray:
    """uint8 N,C,H,W images tiled into one H,W,3 array (square-ish unless `columns` is given)."""
    cells = [as_hwc(im) for im in images]
    cols = columns or max(1, math.ceil(math.sqrt(len(cells))))
    return image_grid([cells[i:i + cols] for i in range(0, len(cells), cols)])


def save_grid(images: torch.Tensor, path: str | Path, columns: int | None = None) -> None:
    """Tile images into one PNG (see `grid_of`)."""
    save_png(grid_of(images, columns), path)


def resize_to(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """uint8 N,C,H,W -> uint8 at `size` (bilinear, antialiased); unchanged when already that size."""
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    out = F.interpolate(images.float(), size=size, mode="bilinear", antialias=True, align_corners=False)
    return out.round().clamp(0, 255).to(torch.uint8)
