"""Images above the whole-image pixel limit, streamed from a TIFF file to tiled BigTIFF outputs.

The image is read a band of rows at a time (`segen.data.tiff.TiffRows`), scored window by window
(`segen.inference.tiling.stream_scores`), and each finished band goes straight to the outputs: the mask as
a paletted tiled BigTIFF, the probabilities into a .npy file, and the overlay in a second pass over the
image and the written mask. Memory stays at a few bands across the image width.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch

from segen.data.tiff import TIFF_SUFFIXES, TiffRows, tiff_size, write_tiled_tiff
from segen.inference.segmenter import Segmenter
from segen.inference.tiling import Tiling, stream_scores
from segen.preprocess import to_unit, unit_to_uint8
from segen.reports import overlay, tiff_colormap
from segen.runtime import atomic_open

OVERLAY_BAND = 256  # rows per band of the overlay pass


def is_streamed(path: Path, max_pixels: int | None, tiling: Tiling | None) -> bool:
    """Whether `path` is a TIFF above the whole-image limit that tiled prediction streams from disk."""
    if tiling is None or max_pixels is None or path.suffix.lower() not in TIFF_SUFFIXES:
        return False
    size = tiff_size(path)
    return size is not None and size[0] * size[1] > max_pixels


def streamed_names(stem: str, overlays: bool = False, probabilities: bool = False) -> list[str]:
    """The files a streamed prediction writes: TIFF mask and overlay, .npy probabilities."""
    return [f"{stem}.tif", *([f"{stem}_overlay.tif"] if overlays else []),
            *([f"{stem}_prob.npy"] if probabilities else [])]


def predict_streamed(segmenter: Segmenter, path: Path, out: Path, tiling: Tiling, overlays: bool = False,
                     probabilities: bool = False) -> Path:
    """Predict one large TIFF band by band; returns the mask path (`out/<stem>.tif`)."""
    info = segmenter.info
    mask_path = out / f"{path.stem}.tif"
    with TiffRows(path, info.channels) as rows, contextlib.ExitStack() as stack:
        segmenter.check_depth(rows.read(0, 1), path)
        spec = segmenter.tile_for(rows.size, dataclasses.replace(tiling, above=0))
        assert spec is not None
        print(f"note: {path.name} is {rows.width}x{rows.height}, above --max-pixels: streamed from disk in "
              f"{spec.window[1]}x{spec.window[0]} tiles, overlap {spec.overlap:g}; mask written as {mask_path.name}",
              file=sys.stderr)
        probs = _NpyBands(stack.enter_context(atomic_open(out / f"{path.stem}_prob.npy")), rows.size) \
            if probabilities else None

        def mask_bands() -> Iterator[np.ndarray]:
            for band in stream_scores(segmenter.scores, rows.read, rows.size, spec):
                if probs is not None:
                    probs.write(band.top, band.scores)
                yield band.scores.argmax(dim=0).to(torch.uint8).numpy()

        write_tiled_tiff(mask_path, mask_bands(), rows.size, tiff_colormap(segmenter.palette, info.ignore_index))
    if overlays:
        _write_overlay(segmenter, path, mask_path, out / f"{path.stem}_overlay.tif")
    return mask_path


def _write_overlay(segmenter: Segmenter, image_path: Path, mask_path: Path, target: Path) -> None:
    info = segmenter.info
    with TiffRows(image_path, info.channels) as image, TiffRows(mask_path, 1) as mask:
        def bands() -> Iterator[np.ndarray]:
            for top in range(0, image.height, OVERLAY_BAND):
                bottom = min(image.height, top + OVERLAY_BAND)
                pixels = unit_to_uint8(to_unit(image.read(top, bottom), info.max_value)).permute(1, 2, 0).numpy()
                yield overlay(pixels, mask.read(top, bottom)[0].numpy(), segmenter.palette,
                              ignore_index=info.ignore_index)

        write_tiled_tiff(target, bands(), image.size)


class _NpyBands:
    """A K,H,W float32 .npy file filled band by band (K from the first band), through positioned writes."""

    def __init__(self, handle: IO[Any], size: tuple[int, int]) -> None:
        self.handle, self.size = handle, size
        self.start: int | None = None

    def write(self, top: int, scores: torch.Tensor) -> None:
        height, width = self.size
        classes = int(scores.shape[0])
        if self.start is None:
            header = {"descr": "<f4", "fortran_order": False, "shape": (classes, height, width)}
            np.lib.format.write_array_header_2_0(self.handle, header)
            self.start = self.handle.tell()
            self.handle.truncate(self.start + classes * height * width * 4)
        values = scores.numpy().astype("<f4", copy=False)
        for k in range(classes):
            self.handle.seek(self.start + (k * height + top) * width * 4)
            self.handle.write(values[k].tobytes())
