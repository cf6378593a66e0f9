"""int8 ONNX segmentation models: onnxruntime static quantisation (QDQ, per-channel weights) calibrated on
training images, judged by the task metric (mean IoU) before and after on a labelled split."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from segen.data import load_split_dataset
from segen.data.io import IMAGE_SUFFIXES, read_image
from segen.errors import ConfigError, ExportError, one_line
from segen.metrics import ConfusionMatrix

DEFAULT_CALIBRATION_IMAGES = 32
DEFAULT_MAX_DROP = 0.01  # mean IoU


@dataclass(frozen=True)
class Int8Settings:
    """How to quantise: calibration images (a folder, `images` of them used), and an optional labelled
    dataset `validate` whose `split` scores the model before and after (a warning above `max_drop`)."""

    calibration: Path
    images: int = DEFAULT_CALIBRATION_IMAGES
    validate: Path | None = None
    split: str = "val"
    max_drop: float = DEFAULT_MAX_DROP


@dataclass
class QuantizationReport:
    calibration_images: int
    fp32_mean_iou: float | None = None
    int8_mean_iou: float | None = None
    split: str | None = None

    @property
    def drop(self) -> float | None:
        if self.fp32_mean_iou is None or self.int8_mean_iou is None:
            return None
        return self.fp32_mean_iou - self.int8_mean_iou


def calibration_images(folder: str | Path, count: int = DEFAULT_CALIBRATION_IMAGES) -> list[Path]:
    """Up to `count` images under `folder` (recursively), spread evenly over their sorted list."""
    root = Path(folder)
    if not root.is_dir():
        raise ConfigError(f"{root}: calibration folder not found", kind="missing", path=root)
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and "mask" not in p.parts
                   and not p.name.startswith("."))
    if not files:
        raise ConfigError(f"{root}: no calibration images ({', '.join(IMAGE_SUFFIXES)})", kind="missing", path=root)
    step = max(1, len(files) // count)
    return files[::step][:count]


def quantize_int8(model: bytes, images: list[Path], metadata: dict[str, str]) -> bytes:
    """The int8 QDQ version of the ONNX segmentation graph `model`, calibrated on `images` (read as the graph's
    input spec says: channels and pixel type), with `metadata` in its `metadata_props`."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    spec = json.loads(metadata["input"])

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.feeds = _feeds(images, int(spec["channels"]), np.dtype(spec["dtype"]))

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.feeds, None)

    with tempfile.TemporaryDirectory(prefix="segen-int8-") as tmp:
        source, target = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        source.write_bytes(model)
        try:
            quantize_static(str(source), str(target), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        except Exception as exc:  # onnxruntime's quantiser raises many types; the first line says what failed
            raise ExportError(f"int8 quantisation failed: {type(exc).__name__}: {one_line(exc)[:200]}") from None
        proto = onnx.load(str(target))
    _read_quantized_directly(proto.graph)
    onnx.helper.set_model_props(proto, {**metadata, "quantization": f"int8 static QDQ, per-channel weights, "
                                                                   f"{len(images)} calibration images"})
    return bytes(proto.SerializeToString())


def _read_quantized_directly(graph: Any) -> None:
    """Let the Shape and ArgMax nodes that read a dequantised tensor read the quantised one (same shape; the
    same arg-max, a per-tensor dequantisation being increasing), and drop the dequantisations left unused."""
    producers = {name: node for node in graph.node for name in node.output}
    scalars = {t.name for t in graph.initializer if int(np.prod(t.dims)) == 1}
    for node in graph.node:
        source = producers.get(node.input[0]) if node.op_type in ("Shape", "ArgMax") else None
        if source is None or source.op_type != "DequantizeLinear":
            continue
        if node.op_type == "Shape" or source.input[1] in scalars:
            node.input[0] = source.input[0]
    used = {name for node in graph.node for name in node.input} | {out.name for out in graph.output}
    dead = [node for node in graph.node if node.op_type == "DequantizeLinear" and not set(node.output) & used]
    for node in dead:
        graph.node.remove(node)


def _feeds(images: list[Path], channels: int, dtype: np.dtype) -> Iterator[dict[str, np.ndarray]]:
    for path in images:
        pixels = read_image(path, channels).numpy()
        yield {"images": np.ascontiguousarray(pixels[None].astype(dtype))}


def onnx_mean_iou(model: bytes, root: str | Path, split: str, metadata: dict[str, str]) -> float | None:
    """Mean IoU of an exported segmentation graph on a labelled split, each image whole."""
    import onnxruntime

    names = json.loads(metadata["class_names"])
    spec = json.loads(metadata["input"])
    ignore = int(metadata.get("ignore_index", 255))
    dataset = load_split_dataset(root, split, len(names), ignore, int(spec["channels"]),
                                 metadata.get("binary_255") == "true")
    session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
    matrix = ConfusionMatrix(len(names), ignore, names)
    side = int(spec.get("min_side", 1))
    for i in range(len(dataset)):
        image = dataset.image(i).numpy().astype(np.dtype(spec["dtype"]))
        labels = _labels(session, image, side)
        matrix.update(torch.from_numpy(np.ascontiguousarray(labels)), dataset.mask(i).long())
    score = matrix.compute()["mean_iou"]
    return None if score is None else float(score)


def _labels(session: Any, image: np.ndarray, side: int) -> np.ndarray:
    h, w = image.shape[-2:]
    pad = ((0, 0), (0, max(0, side - h)), (0, max(0, side - w)))
    feed = np.pad(image, pad, mode="edge") if any(p[1] for p in pad) else image
    return np.asarray(session.run(["labels"], {"images": feed[None]})[0][0, :h, :w])
