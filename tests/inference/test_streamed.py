"""A TIFF above the pixel limit streams from disk: its outputs equal in-memory tiled prediction's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import TINY_UNET, seg_checkpoint
from segen.errors import DataError
from segen.inference import Segmenter, TileSpec, Tiling, predict_files
from segen.preprocess import to_unit, unit_to_uint8
from segen.reports import overlay

tifffile = pytest.importorskip("tifffile")


@pytest.fixture()
def big_tiff(tmp_path: Path) -> Path:
    image = np.random.default_rng(0).integers(0, 256, (300, 260, 3), dtype=np.uint8)
    path = tmp_path / "in" / "slide.tif"
    path.parent.mkdir()
    tifffile.imwrite(path, image, compression="zlib", tile=(64, 64))
    return path


def test_streamed_outputs_equal_tiled_prediction(tmp_path: Path, big_tiff: Path, capsys: pytest.CaptureFixture[str]
                                                 ) -> None:
    segmenter = Segmenter.from_checkpoint(seg_checkpoint(tmp_path / "seg.pt", **TINY_UNET), max_pixels=10_000,
                                          tta="flip")
    written = predict_files(segmenter, big_tiff.parent, tmp_path / "out", overlays=True, probabilities=True,
                            progress=False, tiling=Tiling(window=(64, 96), overlap=0.5))
    assert written == [tmp_path / "out" / "slide.tif"]
    assert "slide.tif is 260x300, above --max-pixels: streamed from disk in 96x64 tiles" in capsys.readouterr().err
    image = torch.from_numpy(tifffile.imread(big_tiff)).permute(2, 0, 1)
    spec = TileSpec((64, 96), 0.5)
    expected = segmenter.labels(image[None], spec)[0].numpy()
    with tifffile.TiffFile(written[0]) as tif:
        assert tif.is_bigtiff and tif.pages.first.is_tiled
        assert np.array_equal(tif.pages.first.asarray(), expected)
    assert np.asarray(Image.open(written[0])).shape == (300, 260)  # readable by ordinary tools too
    probs = np.load(tmp_path / "out" / "slide_prob.npy")
    assert np.abs(probs - segmenter.tiled_probabilities(image, spec).numpy()).max() < 1e-6
    pixels = unit_to_uint8(to_unit(image)).permute(1, 2, 0).numpy()
    assert np.array_equal(tifffile.imread(tmp_path / "out" / "slide_overlay.tif"),
                          overlay(pixels, expected, segmenter.palette))


def test_other_images_above_the_limit_are_refused(tmp_path: Path, big_tiff: Path) -> None:
    segmenter = Segmenter.from_checkpoint(seg_checkpoint(tmp_path / "seg.pt", **TINY_UNET), max_pixels=10_000)
    with pytest.raises(DataError, match="slide.tif: 260x300 image .* exceeds the limit"):
        predict_files(segmenter, big_tiff, tmp_path / "out", progress=False, tiling=None)  # --whole
    Image.fromarray(np.zeros((300, 260, 3), np.uint8)).save(tmp_path / "in" / "photo.png")
    with pytest.raises(DataError, match="photo.png: 260x300 image .* exceeds the limit"):
        predict_files(segmenter, tmp_path / "in", tmp_path / "out", progress=False)
    assert not (tmp_path / "out" / "slide.tif").exists()  # refused before anything was written
