"""`segen export` through the real command: a trained checkpoint to ONNX, then the refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import run_segen

ort = pytest.importorskip("onnxruntime")


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
