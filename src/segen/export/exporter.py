"""Export a checkpoint to ONNX or TorchScript, then check that the written file agrees with PyTorch.

Both formats are traced: the tracer records the model's shape arithmetic (the pad to a multiple of the
encoder's reduction and the crop back; `segen.nn.pad_to_multiple` never skips its pad while tracing), so
batch, height and width stay dynamic instead of being frozen at the example's size. ONNX goes through
`torch.onnx.export` with dynamic axes and carries the metadata in `metadata_props` (torch.export's
exporter specialises the padding on the example's size, so it is not used); TorchScript carries it as
the extra file `segen.json`. Either way the written file is loaded back and run
on the parity inputs (see `segen.export.exportable`); a difference above the tolerance fails the export
and removes nothing that was there before (files are written atomically, after the check).
"""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from segen.errors import ExportError, one_line
from segen.export.exportable import Exportable, load_exportable
from segen.export.graphs import with_int8_friendly_up_convs
from segen.export.quantize import (
    Int8Settings,
    QuantizationReport,
    calibration_images,
    onnx_mean_iou,
    quantize_int8,
)
from segen.runtime import write_atomic

FORMATS = ("onnx", "torchscript")
DEFAULT_TOLERANCE = 1e-4
OPSET = 18
ONNX_HINT = "pip install 'segen[onnx]'"

Runner = Callable[[tuple[Tensor, ...]], list[np.ndarray]]


@dataclass
class ParityCheck:
    """How far the exported model is from PyTorch on one input: the largest absolute difference of the first
    output (logits, or images) and, for segmentation, the share of equal class ids."""

    shape: tuple[int, ...]
    max_abs_diff: float
    label_agreement: float | None = None


@dataclass
class ExportReport:
    path: Path
    format: str
    checks: list[ParityCheck] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    quantization: QuantizationReport | None = None
    int8_checks: list[ParityCheck] = field(default_factory=list)  # the int8 graph against PyTorch (no tolerance)

    @property
    def max_abs_diff(self) -> float:
        return max(check.max_abs_diff for check in self.checks)


def export_checkpoint(checkpoint: str | Path, out: str | Path, fmt: str = "onnx",
                      tolerance: float = DEFAULT_TOLERANCE, int8: Int8Settings | None = None) -> ExportReport:
    """Write `checkpoint`'s model to `out` as `fmt` (onnx or torchscript) after checking parity with PyTorch;
    with `int8`, the fp32 graph is checked, then quantised (ONNX segmentation models only) and written.

    Raises:
        ExportError: the exporter failed, a needed package is missing, or a parity input differs by more
            than `tolerance` (nothing is written then).
    """
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}: choose one of {', '.join(FORMATS)}", kind="invalid")
    if int8 is not None and fmt != "onnx":
        raise ExportError("--quantize int8 needs --format onnx", kind="invalid")
    calibration = calibration_images(int8.calibration, int8.images) if int8 is not None else []
    exportable = load_exportable(checkpoint)
    if int8 is not None and exportable.metadata["task"] != "segmentation":
        raise ExportError(f"{checkpoint}: --quantize int8 is for segmentation models", kind="invalid")
    exportable.metadata.update({"segen_version": version("segen"), "source": Path(checkpoint).name})
    data, runner = (_onnx_bytes if fmt == "onnx" else _torchscript_bytes)(exportable)
    report = ExportReport(Path(out), fmt, _checked(exportable, runner, tolerance, out), dict(exportable.metadata))
    if int8 is not None:
        data, report.quantization, report.int8_checks = _int8(data, exportable, int8, calibration, tolerance, out)
    write_atomic(out, data)
    return report


def _checked(exportable: Exportable, runner: Runner, tolerance: float, out: str | Path) -> list[ParityCheck]:
    """The parity checks of an exported graph, or an error when one is above `tolerance`."""
    checks = _parity(exportable, runner)
    worst = max(checks, key=lambda c: c.max_abs_diff)
    if not worst.max_abs_diff <= tolerance:
        raise ExportError(f"{out}: the exported model differs from PyTorch by {worst.max_abs_diff:.3g} at input "
                          f"{'x'.join(map(str, worst.shape))} (tolerance {tolerance:g}); nothing was written")
    return checks


def _int8(fp32: bytes, exportable: Exportable, settings: Int8Settings, images: list[Path], tolerance: float,
          out: str | Path) -> tuple[bytes, QuantizationReport, list[ParityCheck]]:
    """The quantised graph, its scores before and after, and how far it is from PyTorch on the parity inputs.

    What gets quantised is the fp32 graph re-exported with its up-convolutions as int8-friendly pixel
    shuffles (`segen.export.graphs.ChannelsLastUpConv`), itself checked against PyTorch first."""
    friendly = replace(exportable, graph=with_int8_friendly_up_convs(exportable.graph))
    source, runner = _onnx_bytes(friendly)
    _checked(friendly, runner, tolerance, out)
    model = quantize_int8(source, images, exportable.metadata)
    _, ort = _onnx_modules()
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    checks = _parity(exportable, _session_runner(session, exportable.input_names))
    report = QuantizationReport(len(images))
    if settings.validate is not None:
        report.split = settings.split
        report.fp32_mean_iou = onnx_mean_iou(fp32, settings.validate, settings.split, exportable.metadata)
        report.int8_mean_iou = onnx_mean_iou(model, settings.validate, settings.split, exportable.metadata)
    return model, report, checks


def _parity(exportable: Exportable, runner: Runner) -> list[ParityCheck]:
    checks = []
    for inputs in exportable.parity_inputs:
        with torch.inference_mode():
            expected = exportable.graph(*inputs)
        expected = list(expected) if isinstance(expected, tuple) else [expected]
        got = runner(inputs)
        diff = float(np.abs(got[0].astype(np.float64) - expected[0].double().numpy()).max())
        agreement = float((got[1] == expected[1].numpy()).mean()) if len(expected) > 1 else None
        checks.append(ParityCheck(tuple(inputs[0].shape), diff, agreement))
    return checks


def _onnx_bytes(exportable: Exportable) -> tuple[bytes, Runner]:
    onnx, ort = _onnx_modules()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(exportable.graph, exportable.example, buffer,  # type: ignore[arg-type]
                              dynamo=False, opset_version=OPSET,
                              input_names=exportable.input_names, output_names=exportable.output_names,
                              dynamic_axes=exportable.dynamic)
        except Exception as exc:  # the exporter raises many types; the first line says what failed
            raise ExportError(f"ONNX export failed: {type(exc).__name__}: {one_line(exc)[:200]}") from None
    proto = onnx.load_from_string(buffer.getvalue())
    onnx.helper.set_model_props(proto, exportable.metadata)
    data = proto.SerializeToString()
    return data, _session_runner(ort.InferenceSession(data, providers=["CPUExecutionProvider"]),
                                 exportable.input_names)


def _session_runner(session: Any, input_names: list[str]) -> Runner:
    def run(inputs: tuple[Tensor, ...]) -> list[np.ndarray]:
        feeds = {name: t.numpy() for name, t in zip(input_names, inputs, strict=True)}
        return [np.asarray(x) for x in session.run(None, feeds)]

    return run


def _torchscript_bytes(exportable: Exportable) -> tuple[bytes, Runner]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            traced = torch.jit.trace(exportable.graph, exportable.example, check_trace=False)
        except Exception as exc:  # tracing raises many types; the first line says what failed
            raise ExportError(f"TorchScript export failed: {type(exc).__name__}: {one_line(exc)[:200]}") from None
        buffer = io.BytesIO()
        torch.jit.save(traced, buffer, _extra_files={"segen.json": json.dumps(exportable.metadata)})
        data = buffer.getvalue()
        loaded = torch.jit.load(io.BytesIO(data))

    def run(inputs: tuple[Tensor, ...]) -> list[np.ndarray]:
        with torch.inference_mode():
            out = loaded(*inputs)
        return [t.numpy() for t in (out if isinstance(out, tuple) else (out,))]

    return data, run


def _onnx_modules() -> tuple[Any, Any]:
    try:
        import onnx
        import onnxruntime
    except ImportError as exc:
        raise ExportError(f"ONNX export needs the package {exc.name}: {ONNX_HINT}", kind="missing") from None
    return onnx, onnxruntime
