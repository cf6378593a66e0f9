"""Images too large to hold: TIFF/BigTIFF rows read on demand, and masks written as tiled BigTIFF from row bands.

Reading decodes only the strips or tiles a request touches (any compression tifffile decodes; plain
uncompressed files are read with positioned reads, not a memory map, so pages already used are not kept
resident); writing takes bands of rows of any height and emits compressed tiles as soon as a row of tiles
is complete. Memory is a few tile rows across the image width either way.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from segen.data.io import _check_wide, _to_tensor
from segen.errors import DataError
from segen.runtime import atomic_open

TIFF_SUFFIXES = (".tif", ".tiff")
WRITE_TILE = 256


def _tifffile() -> Any:
    try:
        import tifffile
    except ImportError:
        raise DataError("streaming large TIFF images needs tifffile: pip install tifffile", kind="missing") from None
    return tifffile


def tiff_size(path: Path) -> tuple[int, int] | None:
    """(height, width) of a TIFF file's first image from its tags, or None if it is not a readable TIFF."""
    try:
        with _tifffile().TiffFile(path) as tif:
            page = tif.pages.first
            return int(page.imagelength), int(page.imagewidth)
    except Exception:  # tifffile raises many types for files that are not TIFF
        return None


class TiffRows:
    """Rows of the first image of a TIFF file as C,rows,W tensors with `channels` channels (uint8, or int32 for
    16-bit data), decoded strip by strip or tile row by tile row on demand. Use as a context manager."""

    def __init__(self, path: str | Path, channels: int) -> None:
        self.path = Path(path)
        self.channels = channels
        try:
            self._tif = _tifffile().TiffFile(self.path)
            page = self._tif.pages.first
        except DataError:
            raise
        except Exception as exc:  # tifffile raises many types for damaged files
            raise DataError(f"{self.path}: unreadable TIFF ({type(exc).__name__})", kind="corrupt",
                            path=self.path) from None
        if page.planarconfig == 2 and page.samplesperpixel > 1:
            self._tif.close()
            raise DataError(f"{self.path}: planar (separate-plane) colour TIFF cannot be streamed; save it "
                            "interleaved (contig)", kind="unsupported", path=self.path)
        self._page = page
        self.height, self.width = int(page.imagelength), int(page.imagewidth)
        self.samples = int(page.samplesperpixel)
        self.dtype = np.dtype(page.dtype).newbyteorder(self._tif.byteorder)
        self._chunk_rows = self.height if page.is_contiguous else int(page.chunks[0])
        self._chunks_across = 1 if page.is_contiguous else int(page.chunked[1])
        self._cache: dict[int, np.ndarray] = {}

    def __enter__(self) -> TiffRows:
        return self

    def __exit__(self, *exc: object) -> None:
        self._tif.close()

    @property
    def size(self) -> tuple[int, int]:
        return self.height, self.width

    def read(self, top: int, bottom: int) -> torch.Tensor:
        """Rows top..bottom as C,rows,W; decoded chunks above `top` are dropped (reads go down the image)."""
        if not 0 <= top < bottom <= self.height:
            raise ValueError(f"rows {top}..{bottom} outside the image's {self.height}")
        rows = self._contiguous(top, bottom) if self._page.is_contiguous else self._decoded(top, bottom)
        array = rows if self.samples > 1 else rows[..., 0]
        return _to_tensor(_check_wide(array, self.path) if array.dtype != np.uint8 else array, self.channels)

    def _contiguous(self, top: int, bottom: int) -> np.ndarray:
        row_bytes = self.width * self.samples * self.dtype.itemsize
        offset = int(self._page.dataoffsets[0]) + top * row_bytes
        fd = self._tif.filehandle._fh.fileno()
        data = os.pread(fd, (bottom - top) * row_bytes, offset)
        if len(data) != (bottom - top) * row_bytes:
            raise DataError(f"{self.path}: truncated TIFF (rows {top}..{bottom} missing)", kind="corrupt",
                            path=self.path)
        return np.frombuffer(data, self.dtype).reshape(bottom - top, self.width, self.samples).astype(
            self.dtype.newbyteorder("="))

    def _decoded(self, top: int, bottom: int) -> np.ndarray:
        first, last = top // self._chunk_rows, (bottom - 1) // self._chunk_rows
        for index in [i for i in self._cache if i < first]:
            del self._cache[index]
        parts = [self._chunk_row(i) for i in range(first, last + 1)]
        rows = np.concatenate(parts) if len(parts) > 1 else parts[0]
        start = top - first * self._chunk_rows
        return rows[start:start + bottom - top]

    def _chunk_row(self, index: int) -> np.ndarray:
        if index not in self._cache:
            page, handle = self._page, self._tif.filehandle
            height = min(self._chunk_rows, self.height - index * self._chunk_rows)
            out = np.empty((height, self.width, self.samples), self.dtype.newbyteorder("="))
            for j in range(self._chunks_across):
                segment = index * self._chunks_across + j
                handle.seek(int(page.dataoffsets[segment]))
                data = handle.read(int(page.databytecounts[segment]))
                try:
                    decoded, where, _ = page.decode(data, segment, jpegtables=page.jpegtables)
                except Exception as exc:  # the codecs raise many types for damaged data
                    raise DataError(f"{self.path}: damaged TIFF data in rows from {index * self._chunk_rows} "
                                    f"({type(exc).__name__})", kind="corrupt", path=self.path) from None
                left = int(where[3])
                width = min(decoded.shape[2], self.width - left)
                out[:, left:left + width] = decoded[0, :height, :width]
            self._cache[index] = out
        return self._cache[index]


def write_tiled_tiff(path: str | Path, bands: Iterable[np.ndarray], size: tuple[int, int],
                     colormap: np.ndarray | None = None) -> Path:
    """Write H,W (indexed, with a 3x256 uint16 `colormap`) or H,W,3 (RGB) uint8 rows, given as bands of any
    height in order, to a zlib-compressed tiled BigTIFF, atomically; a row of tiles at a time is held."""
    tifffile = _tifffile()
    height, width = size
    tiles = _tiles(iter(bands), width)
    head = next(tiles, None)  # the first tile tells the sample layout
    if head is None:
        raise ValueError("no rows to write")
    rgb = head.ndim == 3
    with atomic_open(path, "wb") as handle:
        tifffile.imwrite(handle, data=_prepend(head, tiles), shape=(height, width, 3) if rgb else (height, width),
                         dtype=np.uint8, photometric="rgb" if rgb else ("palette" if colormap is not None
                                                                         else "minisblack"),
                         colormap=colormap, tile=(WRITE_TILE, WRITE_TILE), compression="zlib", bigtiff=True)
    return Path(path)


def _tiles(bands: Iterator[np.ndarray], width: int) -> Iterator[np.ndarray]:
    """WRITE_TILE x WRITE_TILE tiles, row by row (edge tiles zero-padded), from bands of rows."""
    pending: list[np.ndarray] = []
    held = 0
    for band in bands:
        pending.append(np.asarray(band, np.uint8))
        held += band.shape[0]
        while held >= WRITE_TILE:
            rows = np.concatenate(pending)
            yield from _tile_row(rows[:WRITE_TILE], width)
            pending, held = [rows[WRITE_TILE:]], held - WRITE_TILE
    if held:
        yield from _tile_row(np.concatenate(pending), width)


def _tile_row(rows: np.ndarray, width: int) -> Iterator[np.ndarray]:
    for left in range(0, width, WRITE_TILE):
        block = rows[:, left:left + WRITE_TILE]
        tile = np.zeros((WRITE_TILE, WRITE_TILE, *rows.shape[2:]), np.uint8)
        tile[:block.shape[0], :block.shape[1]] = block
        yield tile


def _prepend(first: Any, rest: Iterable[Any]) -> Iterator[Any]:
    yield first
    yield from rest
