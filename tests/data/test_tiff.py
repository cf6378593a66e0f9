"""Streaming TIFF: rows read on demand equal the decoded image; tiled masks written from bands read back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from segen.data.io import read_image
from segen.data.tiff import TiffRows, tiff_size, write_tiled_tiff
from segen.errors import DataError

tifffile = pytest.importorskip("tifffile")

LAYOUTS = {"plain": {}, "zlib strips": {"compression": "zlib", "rowsperstrip": 37},
           "zlib tiles": {"compression": "zlib", "tile": (64, 48)}}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("kind", ["rgb", "grey16"])
def test_rows_on_demand_equal_the_whole_image(tmp_path: Path, layout: str, kind: str) -> None:
    rng = np.random.default_rng(0)
    image = (rng.integers(0, 256, (203, 150, 3), dtype=np.uint8) if kind == "rgb"
             else rng.integers(0, 4096, (203, 150), dtype=np.uint16))
    path = tmp_path / "big.tif"
    tifffile.imwrite(path, image, **LAYOUTS[layout])
    channels = 3 if kind == "rgb" else 1
    whole = read_image(path, channels)
    assert tiff_size(path) == (203, 150)
    with TiffRows(path, channels) as rows:
        for top, bottom in [(0, 64), (32, 96), (90, 203), (202, 203)]:
            band = rows.read(top, bottom)
            assert band.dtype == whole.dtype and torch.equal(band, whole[:, top:bottom])
    with TiffRows(path, 3) as rows:  # grey data as RGB, as read_image converts it
        assert torch.equal(rows.read(0, 10), read_image(path, 3)[:, :10])


def test_tiled_mask_from_bands_of_any_height(tmp_path: Path) -> None:
    mask = (np.arange(600)[:, None] + np.arange(300)[None]) % 5
    bands = [mask[a:b] for a, b in [(0, 100), (100, 101), (101, 400), (400, 600)]]
    colormap = np.zeros((3, 256), np.uint16)
    colormap[:, 1] = 65535
    path = write_tiled_tiff(tmp_path / "mask.tif", bands, (600, 300), colormap)
    with tifffile.TiffFile(path) as tif:
        page = tif.pages.first
        assert page.is_tiled and tif.is_bigtiff and page.photometric == 3
        assert np.array_equal(page.asarray(), mask) and page.colormap[0, 1] == 65535
    rgb = np.stack([mask * 40] * 3, -1).astype(np.uint8)
    write_tiled_tiff(tmp_path / "rgb.tif", [rgb[:250], rgb[250:]], (600, 300))
    assert np.array_equal(tifffile.imread(tmp_path / "rgb.tif"), rgb)


def test_damaged_and_foreign_files(tmp_path: Path) -> None:
    (tmp_path / "x.tif").write_bytes(b"II*\x00garbage")
    assert tiff_size(tmp_path / "x.tif") is None
    with pytest.raises(DataError, match=r"x.tif: unreadable TIFF"):
        TiffRows(tmp_path / "x.tif", 3)
    path = tmp_path / "cut.tif"
    tifffile.imwrite(path, np.zeros((200, 100, 3), np.uint8))
    path.write_bytes(path.read_bytes()[:20000])
    with TiffRows(path, 3) as rows, pytest.raises(DataError, match=r"cut.tif: truncated TIFF"):
        rows.read(0, 200)
