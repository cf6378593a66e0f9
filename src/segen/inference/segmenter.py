"""Segmenter: a trained model rebuilt from its checkpoint alone, predicting masks for images of any size."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from segen.checkpoint import load_checkpoint
from segen.data.io import read_image
from segen.errors import CheckpointError, DataError
from segen.metrics import logits_to_labels
from segen.models import create_model
from segen.reports import default_palette


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


class Segmenter:
    """Predicts class-id masks (and probabilities) with a trained segmentation model."""

    def __init__(self, model: torch.nn.Module, info: ModelInfo, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).to(memory_format=torch.channels_last).eval()
        self.info = info
        self._mean = torch.tensor(info.mean, device=self.device).view(1, -1, 1, 1)
        self._std = torch.tensor(info.std, device=self.device).view(1, -1, 1, 1)

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | torch.device = "cpu") -> Segmenter:
        """Load a segmentation checkpoint (`best.pt` or `last.pt` of a run)."""
        state = load_checkpoint(path, kind="segmentation")
        try:
            spec, data = state["model"], state["data"]
            model = create_model(spec["name"], **spec["kwargs"])
            model.load_state_dict(spec["state_dict"])
            colors = [tuple(c) for c in data["colors"]] or default_palette(len(data["class_names"]))
            info = ModelInfo(list(data["class_names"]), colors, list(data["mean"]), list(data["std"]),
                             int(data["channels"]), int(data["ignore_index"]), bool(data["binary_255"]))
        except (KeyError, TypeError, RuntimeError) as exc:
            raise CheckpointError(f"{path}: incomplete segmentation checkpoint ({type(exc).__name__}: "
                                  f"{str(exc).splitlines()[0][:120]})") from None
        return cls(model, info, device)

    @property
    def num_classes(self) -> int:
        return len(self.info.class_names)

    @property
    def palette(self) -> list[tuple[int, int, int]]:
        return self.info.colors

    @torch.inference_mode()
    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 N,C,H,W images -> float logits N,K,H,W at the same size."""
        x = (images.to(self.device).float() / 255.0 - self._mean) / self._std
        return self.model(x.contiguous(memory_format=torch.channels_last)).float()

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Per-class probabilities N,C,H,W (two channels, background and foreground, for binary models)."""
        if logits.shape[1] == 1:
            fg = torch.sigmoid(logits)
            return torch.cat([1 - fg, fg], dim=1)
        return logits.softmax(dim=1)

    def predict(self, image: np.ndarray | torch.Tensor | str | Path) -> np.ndarray:
        """Class-id mask H,W (uint8) for one image: a path, an H,W[,C] uint8 array or a C,H,W tensor."""
        return self.predict_batch([self._as_tensor(image)])[0]

    def predict_proba(self, image: np.ndarray | torch.Tensor | str | Path) -> np.ndarray:
        """Probabilities C,H,W (float32) for one image."""
        logits = self.logits(self._as_tensor(image)[None])
        return self.probabilities(logits)[0].cpu().numpy()

    def predict_batch(self, images: Sequence[torch.Tensor]) -> list[np.ndarray]:
        """Masks for uint8 C,H,W tensors; images of equal size run as one batch."""
        out: list[np.ndarray] = []
        if len({tuple(im.shape) for im in images}) == 1:
            labels = logits_to_labels(self.logits(torch.stack(list(images))))
            return [m.to(torch.uint8).cpu().numpy() for m in labels]
        for im in images:
            out.append(logits_to_labels(self.logits(im[None]))[0].to(torch.uint8).cpu().numpy())
        return out

    def _as_tensor(self, image: Any) -> torch.Tensor:
        if isinstance(image, str | Path):
            return read_image(Path(image), self.info.channels)
        tensor = torch.as_tensor(np.array(image)) if not isinstance(image, torch.Tensor) else image
        if tensor.is_floating_point():
            tensor = (tensor.clamp(0, 1) * 255).round().to(torch.uint8)
        if tensor.ndim == 2:
            tensor = tensor[None]
        elif tensor.ndim == 3 and tensor.shape[-1] in (1, 3, 4) and tensor.shape[0] not in (1, 3):
            tensor = tensor.permute(2, 0, 1)
        if tensor.ndim != 3:
            raise DataError(f"image: expected H,W or H,W,C or C,H,W, got shape {tuple(tensor.shape)}")
        return _match_channels(tensor[:3] if tensor.shape[0] == 4 else tensor, self.info.channels)


def _match_channels(image: torch.Tensor, channels: int) -> torch.Tensor:
    if image.shape[0] == channels:
        return image
    if channels == 3:
        return image.expand(3, -1, -1).contiguous()
    weights = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)
    return (image.float() * weights).sum(0, keepdim=True).round().clamp(0, 255).to(torch.uint8)
