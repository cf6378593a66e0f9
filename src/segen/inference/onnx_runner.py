"""A segmentation model exported by `segen export`, run by onnxruntime: no PyTorch model, no checkpoint.

`OnnxSegmenter` is a `Segmenter` whose forward pass is an onnxruntime session, so tiling, TTA, ensembles,
outputs and palettes are the same code as for checkpoints. The graph normalises its input itself, so it
is fed the pixel values; images smaller than the graph's `min_side` are padded here as the PyTorch model
pads them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from segen.data.io import DEFAULT_MAX_PIXELS
from segen.errors import CheckpointError, ConfigError
from segen.inference.segmenter import ModelInfo, Segmenter
from segen.inference.tiling import DEFAULT_WINDOW
from segen.nn import pad_to_multiple
from segen.preprocess import UINT8_MAX, from_unit
from segen.reports import default_palette

ONNX_HINT = "pip install 'segen[onnx]'"


def is_onnx_file(path: str | Path) -> bool:
    return Path(path).suffix.lower() == ".onnx"


class OnnxSegmenter(Segmenter):
    """Predicts with an exported ONNX segmentation graph (pixel values in, logits and class ids out)."""

    def __init__(self, session: Any, info: ModelInfo, min_side: int, max_pixels: int | None = DEFAULT_MAX_PIXELS,
                 tta: str = "none") -> None:
        super().__init__(torch.nn.Identity(), info, "cpu", max_pixels, tta)
        self.session = session
        self.min_side = min_side
        self._dtype = torch.uint8 if info.max_value <= UINT8_MAX else torch.int32

    @classmethod
    def from_file(cls, path: str | Path, max_pixels: int | None = DEFAULT_MAX_PIXELS, tta: str = "none",
                  device: str | torch.device = "cpu") -> OnnxSegmenter:
        """Open a file written by `segen export --format onnx`; CheckpointError if it is not one. On a CUDA
        `device` onnxruntime's CUDA provider runs it where installed (onnxruntime-gpu), else the CPU."""
        ort = onnxruntime_module()
        if not Path(path).is_file():
            raise CheckpointError(f"{path}: model file not found", kind="missing", path=path)
        providers = ["CPUExecutionProvider"]
        if torch.device(device).type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        try:
            session = ort.InferenceSession(str(path), providers=providers)
        except Exception as exc:  # onnxruntime raises its own types for unreadable files
            raise CheckpointError(f"{path}: not a readable ONNX model ({type(exc).__name__})", kind="corrupt",
                                  path=path) from None
        meta = session.get_modelmeta().custom_metadata_map
        if meta.get("task") != "segmentation":
            raise CheckpointError(f"{path}: not a segmentation model exported by segen (task "
                                  f"{meta.get('task', 'missing')!r})", kind="mismatch", path=path)
        try:
            info, min_side = model_info(meta)
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{path}: incomplete segen metadata ({type(exc).__name__}: {exc})",
                                  kind="corrupt", path=path) from None
        return cls(session, info, min_side, max_pixels, tta)

    def _model_logits(self, images: torch.Tensor) -> torch.Tensor:
        pixels = from_unit(images.clamp(0, 1), self.info.max_value) if images.is_floating_point() else images
        h, w = pixels.shape[-2:]
        if min(h, w) < self.min_side:  # as the PyTorch model pads (the graph takes min_side and up)
            pixels = pad_to_multiple(pixels.float(), self.min_side).round()
        feed = np.ascontiguousarray(pixels.to(self._dtype).cpu().numpy())
        logits = self.session.run(["logits"], {"images": feed})[0]
        return torch.from_numpy(logits)[..., :h, :w]


def load_onnx_or_none(path: str | Path, max_pixels: int | None, prune: int | None, tta: str,
                      device: str | torch.device = "cpu", precision: str = "fp32",
                      compile: bool = False) -> OnnxSegmenter | None:
    """An OnnxSegmenter for a `.onnx` path, None for any other (a checkpoint); the options that only apply to
    PyTorch models are refused for it."""
    if not is_onnx_file(path):
        return None
    if prune is not None:
        raise ConfigError(f"{path}: --prune applies to checkpoints; an exported model keeps the head it was "
                          "exported with")
    if precision != "fp32" or compile:
        raise ConfigError(f"{path}: --precision and --compile apply to checkpoints; an ONNX model runs in "
                          "onnxruntime as exported (use an int8 export for speed)")
    return OnnxSegmenter.from_file(path, max_pixels, tta, device)


def model_info(meta: dict[str, str]) -> tuple[ModelInfo, int]:
    """ModelInfo and the smallest side from an exported graph's metadata (see segen.export)."""
    spec = json.loads(meta["input"])
    names = [str(n) for n in json.loads(meta["class_names"])]
    colors = [(int(c[0]), int(c[1]), int(c[2])) for c in json.loads(meta.get("palette", "[]"))]
    channels = int(spec["channels"])
    window = json.loads(meta.get("window", "null")) or DEFAULT_WINDOW
    info = ModelInfo(names, colors or default_palette(len(names)), [0.0] * channels, [1.0] * channels, channels,
                     int(meta.get("ignore_index", 255)), meta.get("binary_255") == "true", int(spec["max_value"]),
                     (int(window[0]), int(window[1])))
    return info, int(spec.get("min_side", 1))


def onnxruntime_module() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise ConfigError(f"running .onnx models needs onnxruntime: {ONNX_HINT}", kind="missing") from None
    return onnxruntime
