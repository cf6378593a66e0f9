"""`segen export` through the real command: a trained checkpoint to ONNX, then the refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import run_segen

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")


def test_export_a_trained_run_and_predict_the_same_mask(trained_run: Path, multiclass_root: Path,
                                                        tmp_path: Path) -> None:
    out = tmp_path / "model.onnx"
    result = run_segen("export", "--checkpoint", str(trained_run / "best.pt"), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "parity 1x3x333x517: max abs difference" in result.stdout and f"wrote {out}" in result.stdout
    image_path = sorted((multiclass_root / "val" / "images").iterdir())[0]
    masks = tmp_path / "masks"
    assert run_segen("seg", "predict", "--checkpoint", str(trained_run / "best.pt"), "--input", str(image_path),
                     "--out", str(masks), "--quiet").returncode == 0
    image = np.asarray(Image.open(image_path).convert("RGB")).transpose(2, 0, 1)[None]
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    _, labels = session.run(None, {"images": np.ascontiguousarray(image)})
    assert np.array_equal(labels[0], np.asarray(Image.open(masks / f"{image_path.stem}.png")))


def test_export_refuses_to_replace_a_file(trained_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "model.ts"
    out.write_bytes(b"keep me")
    result = run_segen("export", "--checkpoint", str(trained_run / "best.pt"), "--format", "torchscript",
                       "--out", str(out))
    assert result.returncode == 1 and result.stderr.strip() == f"error: {out}: already exists (--overwrite to " \
        "replace it)"
    assert out.read_bytes() == b"keep me"


def test_export_of_a_missing_checkpoint_is_one_line(tmp_path: Path) -> None:
    result = run_segen("export", "--checkpoint", str(tmp_path / "none.pt"), "--out", str(tmp_path / "m.onnx"))
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1 and "not found" in result.stderr


def test_predict_and_evaluate_run_an_exported_model(trained_run: Path, multiclass_root: Path, tmp_path: Path) -> None:
    model = tmp_path / "model.onnx"
    assert run_segen("export", "--checkpoint", str(trained_run / "best.pt"), "--out", str(model)).returncode == 0
    images = multiclass_root / "val" / "images"
    for name, checkpoint in (("torch", trained_run / "best.pt"), ("onnx", model)):
        result = run_segen("seg", "predict", "--checkpoint", str(checkpoint), "--input", str(images), "--out",
                           str(tmp_path / name), "--tta", "flip", "--tile", "24", "24", "--overlay", "--quiet")
        assert result.returncode == 0, result.stderr
    for mask in sorted((tmp_path / "torch").glob("*.png")):
        assert np.array_equal(np.asarray(Image.open(mask)), np.asarray(Image.open(tmp_path / "onnx" / mask.name)))
    scores = [run_segen("seg", "evaluate", "--checkpoint", str(c), "--data", str(multiclass_root), "--split", "val")
              for c in (trained_run / "best.pt", model)]
    assert all(s.returncode == 0 for s in scores) and scores[0].stdout == scores[1].stdout


def test_int8_export_reports_mean_iou_before_and_after(trained_run: Path, multiclass_root: Path,
                                                       tmp_path: Path) -> None:
    out = tmp_path / "int8.onnx"
    result = run_segen("export", "--checkpoint", str(trained_run / "best.pt"), "--out", str(out), "--quantize",
                       "int8", "--calibration", str(multiclass_root / "train" / "images"), "--calibration-images",
                       "4", "--validate", str(multiclass_root), "--split", "val", "--max-drop", "0")
    assert result.returncode == 0, result.stderr
    assert "int8: calibrated on 4 images" in result.stdout and "int8: mean IoU on val " in result.stdout
    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert props["quantization"].startswith("int8 static QDQ")
    ops = {node.op_type for node in onnx.load(str(out)).graph.node}
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
    line = next(x for x in result.stdout.splitlines() if x.startswith("int8: mean IoU"))
    drop = float(line.rsplit("drop ", 1)[1].rstrip(")"))
    assert ("warning: int8 loses" in result.stderr) == (drop > 0)


def test_int8_needs_calibration_images(trained_run: Path, tmp_path: Path) -> None:
    result = run_segen("export", "--checkpoint", str(trained_run / "best.pt"), "--out", str(tmp_path / "q.onnx"),
                       "--quantize", "int8")
    assert result.returncode == 1 and "--quantize int8 needs --calibration DIR" in result.stderr
    result = run_segen("export", "--checkpoint", str(trained_run / "best.pt"), "--out", str(tmp_path / "q.onnx"),
                       "--quantize", "int8", "--calibration", str(tmp_path / "none"))
    assert result.returncode == 1 and "calibration folder not found" in result.stderr
    assert not (tmp_path / "q.onnx").exists()
