"""Export to ONNX and TorchScript: dynamic sizes, pre-processing in the graph, metadata, parity, failures."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from conftest import TINY_UNET, gan_checkpoint, seg_checkpoint
from segen.errors import ExportError
from segen.export import export_checkpoint
from segen.export.exportable import load_exportable
from segen.preprocess import normalise

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

def test_onnx_segmentation_takes_any_size_and_agrees(tmp_path: Path) -> None:
    ckpt = seg_checkpoint(tmp_path / "seg.pt", **TINY_UNET)
    report = export_checkpoint(ckpt, tmp_path / "seg.onnx", "onnx")
    assert [c.shape for c in report.checks] == [(1, 3, 97, 131), (2, 3, 256, 256), (1, 3, 333, 517), (1, 3, 64, 1000)]
    assert report.max_abs_diff < 1e-4 and all(c.label_agreement == 1.0 for c in report.checks)
    session = ort.InferenceSession(str(tmp_path / "seg.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["images"] and session.get_inputs()[0].type == "tensor(uint8)"
    image = np.random.default_rng(1).integers(0, 256, (3, 45, 77), dtype=np.uint8)  # a size not checked above
    logits, labels = session.run(None, {"images": image[None]})
    exportable = load_exportable(ckpt)
    x = torch.from_numpy(image)[None]
    with torch.inference_mode():
        expected = exportable.graph.model(normalise(x, torch.full((1, 3, 1, 1), 0.4), torch.full((1, 3, 1, 1), 0.2)))
    assert logits.shape == (1, 3, 45, 77) and np.abs(logits - expected.numpy()).max() < 1e-4
    assert np.array_equal(labels[0], expected.argmax(1)[0].numpy())


def test_onnx_metadata_describes_the_model(tmp_path: Path) -> None:
    ckpt = seg_checkpoint(tmp_path / "seg.pt", classes=1, **TINY_UNET)  # binary: one logit, sigmoid
    export_checkpoint(ckpt, tmp_path / "seg.onnx")
    props = {p.key: p.value for p in onnx.load(str(tmp_path / "seg.onnx")).metadata_props}
    assert props["task"] == "segmentation" and props["activation"] == "sigmoid"
    assert json.loads(props["class_names"]) == ["c0", "c1"]
    assert json.loads(props["input"])["dtype"] == "uint8" and json.loads(props["input"])["min_side"] == 4
    assert props["segen_version"] and props["source"] == "seg.pt"


def test_sixteen_bit_models_take_int32_pixels(tmp_path: Path) -> None:
    ckpt = seg_checkpoint(tmp_path / "seg.pt", channels=1, max_value=4095.0, **TINY_UNET)
    report = export_checkpoint(ckpt, tmp_path / "seg.onnx")
    assert report.max_abs_diff < 1e-4 and json.loads(report.metadata["input"])["dtype"] == "int32"


@pytest.mark.parametrize("name,kwargs", [("unetplusplus-small", TINY_UNET), ("attention-unet-small", TINY_UNET),
                                         ("unet-small", {**TINY_UNET, "encoder": "residual", "stem_stride": 2})])
def test_the_unet_family_exports(tmp_path: Path, name: str, kwargs: dict[str, Any]) -> None:
    report = export_checkpoint(seg_checkpoint(tmp_path / "m.pt", name, **kwargs), tmp_path / "m.onnx")
    assert report.max_abs_diff < 1e-4


@pytest.mark.parametrize("name,kwargs", [
    ("dcgan", {"image_size": (16, 16), "channels": 1}),
    ("cgan", {"image_size": (16, 16), "channels": 3, "num_classes": 4}),
    ("pix2pix", {"image_size": (32, 32), "channels": 3, "in_channels": 3, "generator": "unet", "width": 4, "depth": 2}),
    ("pix2pix", {"image_size": (32, 32), "channels": 3, "in_channels": 1, "generator": "paper", "width": 4,
                 "depth": 3}),
])
def test_generators_export(tmp_path: Path, name: str, kwargs: dict[str, Any]) -> None:
    report = export_checkpoint(gan_checkpoint(tmp_path / "g.pt", name, **kwargs), tmp_path / "g.onnx")
    assert report.max_abs_diff < 1e-4 and report.metadata["task"] == "generation"
    session = ort.InferenceSession(str(tmp_path / "g.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == (["latent", "labels"] if name == "cgan" else
                                                      ["images"] if name == "pix2pix" else ["latent"])


def test_torchscript_keeps_sizes_dynamic_and_carries_metadata(tmp_path: Path) -> None:
    ckpt = seg_checkpoint(tmp_path / "seg.pt", **TINY_UNET)
    report = export_checkpoint(ckpt, tmp_path / "seg.ts", "torchscript")
    assert report.max_abs_diff < 1e-4
    extra = {"segen.json": ""}
    module = torch.jit.load(str(tmp_path / "seg.ts"), _extra_files=extra)
    assert json.loads(extra["segen.json"])["task"] == "segmentation"
    logits, labels = module(torch.randint(0, 256, (1, 3, 51, 70), dtype=torch.uint8))
    assert logits.shape == (1, 3, 51, 70) and labels.shape == (1, 51, 70)


def test_parity_failure_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ckpt = seg_checkpoint(tmp_path / "seg.pt", **TINY_UNET)
    out = tmp_path / "seg.onnx"
    out.write_bytes(b"an earlier export")
    with pytest.raises(ExportError, match=r"differs from PyTorch by .* at input \d+x3x\d+x\d+ .*nothing was written"):
        export_checkpoint(ckpt, out, tolerance=-1.0)
    assert out.read_bytes() == b"an earlier export"


def test_unknown_format_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="unknown export format 'tflite'"):
        export_checkpoint(tmp_path / "seg.pt", tmp_path / "x", "tflite")


def test_torchscript_file_is_loadable_from_bytes(tmp_path: Path) -> None:
    ckpt = gan_checkpoint(tmp_path / "g.pt", "dcgan", image_size=(16, 16), channels=3)
    export_checkpoint(ckpt, tmp_path / "g.ts", "torchscript")
    module = torch.jit.load(io.BytesIO((tmp_path / "g.ts").read_bytes()))
    images = module(torch.randn(5, 128))
    assert images.shape == (5, 3, 16, 16) and float(images.min()) >= 0 and float(images.max()) <= 1


DEPLOYED = """
import sys
sys.modules["torch"] = None  # the deployment target: neither PyTorch nor segen can be imported
sys.modules["segen"] = None
import json
import numpy as np
import onnxruntime
session = onnxruntime.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
meta = session.get_modelmeta().custom_metadata_map
image = np.load(sys.argv[2])
logits, labels = session.run(None, {"images": image})
np.save(sys.argv[3], labels)
print(json.loads(meta["class_names"]), logits.shape)
"""


def test_a_deployment_target_needs_only_onnxruntime_and_numpy(tmp_path: Path) -> None:
    import subprocess
    import sys

    ckpt = seg_checkpoint(tmp_path / "seg.pt", **TINY_UNET)
    export_checkpoint(ckpt, tmp_path / "seg.onnx")
    image = np.random.default_rng(2).integers(0, 256, (1, 3, 61, 83), dtype=np.uint8)
    np.save(tmp_path / "image.npy", image)
    result = subprocess.run([sys.executable, "-c", DEPLOYED, str(tmp_path / "seg.onnx"), str(tmp_path / "image.npy"),
                             str(tmp_path / "labels.npy")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['c0', 'c1', 'c2'] (1, 3, 61, 83)"
    with torch.inference_mode():
        _, expected = load_exportable(ckpt).graph(torch.from_numpy(image))
    assert np.array_equal(np.load(tmp_path / "labels.npy"), expected.numpy())
