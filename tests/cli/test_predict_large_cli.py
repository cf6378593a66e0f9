"""`segen seg predict` on a TIFF above --max-pixels: streamed from disk, written as tiled BigTIFF."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import run_segen

tifffile = pytest.importorskip("tifffile")


def test_a_large_tiff_is_streamed_and_a_large_png_refused(trained_run: Path, tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    image = np.random.default_rng(0).integers(0, 256, (150, 120, 3), dtype=np.uint8)
    tifffile.imwrite(inputs / "scan.tif", image, compression="zlib", tile=(32, 32))
    args = ["seg", "predict", "--checkpoint", str(trained_run / "best.pt"), "--max-pixels", "10000", "--quiet"]
    result = run_segen(*args, "--input", str(inputs), "--out", str(tmp_path / "out"), "--overlay")
    assert result.returncode == 0, result.stderr
    assert "scan.tif is 120x150, above --max-pixels: streamed from disk" in result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["scan.tif", "scan_overlay.tif"]
    assert tifffile.imread(tmp_path / "out" / "scan.tif").shape == (150, 120)
    whole = run_segen(*args, "--input", str(inputs), "--out", str(tmp_path / "whole"), "--whole")
    assert whole.returncode == 1 and "scan.tif: 120x150 image (18,000 pixels) exceeds the limit" in whole.stderr
    Image.fromarray(image).save(inputs / "photo.png")
    refused = run_segen(*args, "--input", str(inputs), "--out", str(tmp_path / "out2"))
    assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1
    assert "photo.png: 120x150 image" in refused.stderr and not (tmp_path / "out2").exists()
