"""Segmenter: a trained model rebuilt from its checkpoint alone, predicting masks for images of any size."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from segen.checkpoint import SegDataSpec, load_checkpoint, training_crop
from segen.data.io import DEFAULT_MAX_PIXELS, read_image
from segen.errors import CheckpointError, ConfigError, DataError
from segen.inference.tiling import DEFAULT_WINDOW, TileSpec, Tiling, rows_of, stream_scores, tiled_scores
from segen.inference.tta import tta_scores, tta_transforms
from segen.metrics import logits_to_labels
from segen.models import UNetPlusPlus, create_model
from segen.preprocess import UINT8_MAX, from_unit, match_channels, normalise
from segen.reports import default_palette
from segen.runtime import amp_dtype, autocast, memory_format


@dataclass
class ModelInfo:
    """What a segmentation checkpoint says about its data."""

    class_names: list[str]
    colors: list[tuple[int, int, int]]
    mean: list[float]
    std: list[float]
    channels: int
    ignore_index: int
    binary_255: bool
    max_value: int = UINT8_MAX  # the training data's value range: 255 for 8-bit data (and older checkpoints)
    window: tuple[int, int] = DEFAULT_WINDOW  # the training crop: the default tile for tiled prediction


class Segmenter:
    """Predicts class-id masks (and probabilities) with a trained segmentation model.

    Images are read at their depth and scaled by the checkpoint's `max_value`; files above `max_pixels`
    are refused from their header. With `tta` (hflip, flip or d4, see segen.inference.tta) every prediction is the
    mean of the probabilities over flipped (and rotated) copies.
    """

    def __init__(self, model: torch.nn.Module, info: ModelInfo, device: str | torch.device = "cpu",
                 max_pixels: int | None = DEFAULT_MAX_PIXELS, tta: str = "none", *, precision: str = "fp32",
                 compile: bool = False) -> None:
        tta_transforms(tta)  # ValueError for an unknown mode
        self.tta = tta
        self.device = torch.device(device)
        self.amp = amp_dtype(self.device, precision)  # ConfigError where the device lacks the type
        self.layout = memory_format(self.device, inference=True)
        self.model = model.to(self.device).to(memory_format=self.layout).eval()
        if compile:
            self.model = cast(torch.nn.Module, torch.compile(self.model, dynamic=True))
        self.info = info
        self.max_pixels = max_pixels
        self._mean = torch.tensor(info.mean, device=self.device).view(1, -1, 1, 1)
        self._std = torch.tensor(info.std, device=self.device).view(1, -1, 1, 1)

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | torch.device = "cpu",
                        max_pixels: int | None = DEFAULT_MAX_PIXELS, prune: int | None = None,
                        tta: str = "none", *, precision: str = "fp32", compile: bool = False) -> Segmenter:
        """Load a segmentation checkpoint (`best.pt` or `last.pt` of a run); `max_pixels` limits input files;
        `prune` chooses a UNet++'s head (None: the checkpoint's choice); `tta` as in the class; `precision`
        fp32, bf16 (autocast; CPUs with AMX or AVX512-BF16, GPUs) or auto; `compile` runs torch.compile."""
        checkpoint = load_checkpoint(path, kind="segmentation")
        spec, data = checkpoint.model, checkpoint.data
        assert isinstance(data, SegDataSpec)
        try:
            model = create_model(spec.name, **spec.kwargs)
            model.load_state_dict(spec.weights)
            colors = [(int(c[0]), int(c[1]), int(c[2])) for c in data.colors] or default_palette(len(data.class_names))
            info = ModelInfo(list(data.class_names), colors, list(data.mean), list(data.std), int(data.channels),
                             int(data.ignore_index), bool(data.binary_255), int(data.max_value),
                             training_crop(checkpoint.config) or DEFAULT_WINDOW)
        except (KeyError, TypeError, RuntimeError, IndexError, ValueError, ConfigError) as exc:
            raise CheckpointError(f"{path}: incomplete segmentation checkpoint ({type(exc).__name__}: "
                                  f"{str(exc).splitlines()[0][:120]})", kind="corrupt") from None
        if prune is not None:
            choose_head(model, prune, f"{path} ({spec.name})")
        return cls(model, info, device, max_pixels, tta, precision=precision, compile=compile)

    @property
    def num_classes(self) -> int:
        return len(self.info.class_names)

    @property
    def palette(self) -> list[tuple[int, int, int]]:
        return self.info.colors

    @torch.inference_mode()
    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """N,C,H,W images (integers in 0..max_value, or floats in [0, 1]) -> float logits N,K,H,W, same size;
        with TTA, the log of the averaged probabilities (two channels for binary models)."""
        if self.tta != "none":
            return self.scores(images).clamp_min(torch.finfo(torch.float32).tiny).log()
        return self._model_logits(images)

    def _model_logits(self, images: torch.Tensor) -> torch.Tensor:
        x = normalise(images.to(self.device), self._mean, self._std, self.info.max_value)
        with autocast(self.device, self.amp):
            return self.model(x.contiguous(memory_format=self.layout)).float()

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Per-class probabilities N,C,H,W (two channels, background and foreground, for binary models)."""
        if logits.shape[1] == 1:
            fg = torch.sigmoid(logits)
            return torch.cat([1 - fg, fg], dim=1)
        return logits.softmax(dim=1)

    @torch.inference_mode()
    def scores(self, images: torch.Tensor) -> torch.Tensor:
        """N,C,H,W images (see `logits`) -> per-class probabilities N,K,H,W (see `probabilities`), averaged
        over the TTA transforms."""
        return tta_scores(lambda x: self.probabilities(self._model_logits(x)), images, self.tta)

    def tiled_probabilities(self, image: torch.Tensor, tile: TileSpec) -> torch.Tensor:
        """K,H,W probabilities of one C,H,W image, predicted window by window (see segen.inference.tiling)."""
        return tiled_scores(self.scores, image, tile)

    def labels(self, images: torch.Tensor, tile: TileSpec | None = None,
               dtype: torch.dtype = torch.long) -> torch.Tensor:
        """N,H,W class ids (`dtype`, on the CPU) of N,C,H,W images: whole, or window by window with `tile`
        (scores streamed in bands of rows, never held for the whole image; with `dtype` uint8 the mask of
        an 8192x8192 image takes 64 MiB instead of 512)."""
        if tile is None:
            return logits_to_labels(self.logits(images)).cpu().to(dtype)
        out = torch.empty(images.shape[0], *images.shape[-2:], dtype=dtype)
        for image, mask in zip(images, out, strict=True):
            size = (int(image.shape[-2]), int(image.shape[-1]))
            for band in stream_scores(self.scores, rows_of(image), size, tile):
                mask[band.top:band.top + band.scores.shape[1]] = band.scores.argmax(dim=0)
        return out

    def tile_for(self, size: tuple[int, int], tiling: Tiling | None) -> TileSpec | None:
        """The windows for an image of `size` (H, W) under `tiling` (default window: the training crop), or
        None to run it whole."""
        return None if tiling is None else tiling.spec_for(size, self.info.window)

    def predict(self, image: np.ndarray | torch.Tensor | str | Path) -> np.ndarray:
        """Class-id mask H,W (uint8) for one image: a path, an H,W[,C] uint8 array or a C,H,W tensor."""
        return self.predict_batch([self._as_tensor(image)])[0]

    def predict_proba(self, image: np.ndarray | torch.Tensor | str | Path) -> np.ndarray:
        """Probabilities C,H,W (float32) for one image."""
        return self.scores(self._as_tensor(image)[None])[0].cpu().numpy()

    def predict_batch(self, images: Sequence[torch.Tensor]) -> list[np.ndarray]:
        """Masks for C,H,W image tensors (see `logits`); images of equal size run as one batch."""
        out: list[np.ndarray] = []
        if len({tuple(im.shape) for im in images}) == 1:
            labels = logits_to_labels(self.logits(torch.stack(list(images))))
            return [m.to(torch.uint8).cpu().numpy() for m in labels]
        for im in images:
            out.append(logits_to_labels(self.logits(im[None]))[0].to(torch.uint8).cpu().numpy())
        return out

    def check_depth(self, image: torch.Tensor, name: str | Path = "image") -> None:
        """Raise DataError (kind "mismatch") for an 8-bit image given to a 16-bit model, or the other way round."""
        model_bits = "8-bit" if self.info.max_value <= UINT8_MAX else f"16-bit (values 0..{self.info.max_value})"
        if image.dtype == torch.uint8 and self.info.max_value > UINT8_MAX:
            found = "an 8-bit image"
        elif not image.is_floating_point() and image.dtype != torch.uint8 and self.info.max_value <= UINT8_MAX:
            found = "a 16-bit image"
        else:
            return
        raise DataError(f"{name}: {found}, but the model was trained on {model_bits} images; give it images of "
                        "the bit depth it was trained on", kind="mismatch", path=name if name != "image" else None)

    def _as_tensor(self, image: Any) -> torch.Tensor:
        if isinstance(image, str | Path):
            tensor = read_image(Path(image), self.info.channels, self.max_pixels)
            self.check_depth(tensor, image)
            return tensor
        tensor = torch.as_tensor(np.array(image)) if not isinstance(image, torch.Tensor) else image
        if tensor.is_floating_point():
            tensor = from_unit(tensor.clamp(0, 1), self.info.max_value)
        elif tensor.dtype != torch.uint8:  # wider integers: 16-bit data, or 8-bit values in a wider type
            tensor = tensor.to(torch.int32)
            fits = tensor.numel() == 0 or (int(tensor.min()) >= 0 and int(tensor.max()) <= UINT8_MAX)
            if self.info.max_value <= UINT8_MAX and fits:
                tensor = tensor.to(torch.uint8)
        if tensor.ndim == 2:
            tensor = tensor[None]
        elif tensor.ndim == 3 and tensor.shape[-1] in (1, 3, 4) and tensor.shape[0] not in (1, 3):
            tensor = tensor.permute(2, 0, 1)
        if tensor.ndim != 3 or tensor.shape[0] not in (1, 3, 4):
            raise DataError(f"image: expected H,W or H,W,C or C,H,W, got shape {tuple(tensor.shape)}")
        self.check_depth(tensor)
        return match_channels(tensor, self.info.channels)


def choose_head(model: torch.nn.Module, prune: int, name: str) -> None:
    """Make a UNet++ predict with head `prune`; ConfigError, naming `name`, for any other model or head."""
    if not isinstance(model, UNetPlusPlus):
        raise ConfigError(f"{name}: --prune applies to UNet++ models only")
    try:
        model.prune = prune
    except ValueError as exc:
        raise ConfigError(f"{name}: --prune {prune}: {exc}") from None


class Ensemble(Segmenter):
    """Several segmentation models as one: the mean of their probabilities (each model normalises its input
    its own way and applies the TTA it was given). All must share classes, channels and bit depth."""

    def __init__(self, members: Sequence[Segmenter], names: Sequence[str | Path] | None = None) -> None:
        if not members:
            raise ValueError("an ensemble needs at least one model")
        labels = [str(n) for n in names] if names is not None else [f"model {i + 1}" for i in range(len(members))]
        first = members[0]
        for member, label in zip(members[1:], labels[1:], strict=False):
            check_compatible(first.info, member.info, labels[0], label)
        super().__init__(first.model, first.info, first.device, first.max_pixels, first.tta)
        self.members = list(members)

    @classmethod
    def from_checkpoints(cls, paths: Sequence[str | Path], device: str | torch.device = "cpu",
                         max_pixels: int | None = DEFAULT_MAX_PIXELS, prune: int | None = None,
                         tta: str = "none", *, precision: str = "fp32", compile: bool = False) -> Segmenter:
        """One Segmenter for one path; an Ensemble of them for several (see `Segmenter.from_checkpoint`). A
        `.onnx` path (from `segen export`) runs through onnxruntime."""
        from segen.inference.onnx_runner import load_onnx_or_none

        members = [load_onnx_or_none(p, max_pixels, prune, tta, device, precision, compile)
                   or Segmenter.from_checkpoint(p, device, max_pixels, prune, tta, precision=precision, compile=compile)
                   for p in paths]
        return members[0] if len(members) == 1 else cls(members, list(paths))

    @torch.inference_mode()
    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """The log of the members' mean probabilities, N,K,H,W (two channels for binary models)."""
        return self.scores(images).clamp_min(torch.finfo(torch.float32).tiny).log()

    @torch.inference_mode()
    def scores(self, images: torch.Tensor) -> torch.Tensor:
        """The members' mean probabilities, N,K,H,W."""
        total = self.members[0].scores(images)
        for member in self.members[1:]:
            total = total + member.scores(images)
        return total / len(self.members)


def check_compatible(first: ModelInfo, other: ModelInfo, first_name: str, other_name: str) -> None:
    """ConfigError (kind "mismatch") naming `other_name` when its model cannot be averaged with the first."""
    for what, a, b in (("classes", first.class_names, other.class_names), ("input channels", first.channels,
                       other.channels), ("input value range", first.max_value, other.max_value)):
        if a != b:
            raise ConfigError(f"{other_name}: {what} {b} differ from {first_name}'s {a}; an ensemble averages "
                              "models of the same classes and inputs", kind="mismatch", path=other_name)
