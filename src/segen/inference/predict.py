"""Batch prediction to files: paletted masks, colour overlays and probability arrays."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Collection
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from segen.data.io import IMAGE_SUFFIXES, check_sizes, read_image
from segen.errors import DataError
from segen.inference.segmenter import Segmenter
from segen.inference.streamed import is_streamed, predict_streamed, streamed_names
from segen.inference.tiling import AUTO_TILING, TileSpec, Tiling, rows_of, stream_scores
from segen.preprocess import to_unit, unit_to_uint8
from segen.reports import overlay, save_indexed_png, save_png
from segen.runtime import write_atomic


def list_inputs(source: str | Path) -> list[Path]:
    """The image file `source`, or the images in folder `source` (sorted)."""
    source = Path(source)
    if source.is_file():
        return [source]
    if not source.is_dir():
        raise DataError(f"{source}: input not found")
    files = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
    if not files:
        raise DataError(f"{source}: no images ({', '.join(IMAGE_SUFFIXES)})")
    return files


def output_names(stem: str, overlays: bool = False, probabilities: bool = False) -> list[str]:
    """The files prediction writes for an input named `stem`: the mask, and overlay and probabilities if asked."""
    return [f"{stem}.png", *([f"{stem}_overlay.png"] if overlays else []),
            *([f"{stem}_prob.npy"] if probabilities else [])]


def check_outputs(source: str | Path, out: str | Path, overlays: bool = False,
                  probabilities: bool = False, streamed: Collection[Path] = ()) -> list[Path]:
    """The inputs of `source`, once it is certain that writing to `out` destroys nothing; else DataError.

    Refused: `out` is the input folder; an output would replace an input file; two inputs would write the
    same file (``a.jpg`` and ``a.png`` both give ``a.png``). Names are compared case-insensitively, as
    some file systems do. Inputs in `streamed` write the names of `streamed_names`.
    """
    files = list_inputs(source)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DataError(f"{out}: --out exists and is not a folder", path=out)
    folder = out.resolve()
    if Path(source).is_dir() and Path(source).resolve() == folder:
        raise DataError(f"{out}: --out is the input folder; predictions would be written among (and over) the "
                        "input images; choose another --out folder", path=out)
    inputs = {(p.resolve().parent, p.name.casefold()): p for p in files}
    claimed: dict[str, Path] = {}
    for path in files:
        names = streamed_names if path in streamed else output_names
        for name in names(path.stem, overlays, probabilities):
            other = claimed.setdefault(name.casefold(), path)
            if other != path:
                raise DataError(f"{Path(source)}: inputs {other.name} and {path.name} would both write {name}; "
                                "rename one of them", kind="duplicate", path=path)
            victim = inputs.get((folder, name.casefold()))
            if victim is not None:
                raise DataError(f"{victim}: the prediction {out / name} would overwrite this input; choose "
                                "another --out folder", path=victim)
    return files


def plan_outputs(source: str | Path, out: str | Path, overlays: bool, probabilities: bool, max_pixels: int | None,
                 tiling: Tiling | None) -> tuple[list[Path], set[Path], list[str]]:
    """(the inputs, those streamed from disk, the names of all outputs), once `check_outputs` and the pixel
    limit (for images predicted whole or tiled in memory) have passed; DataError otherwise."""
    streamed = {p for p in list_inputs(source) if is_streamed(p, max_pixels, tiling)}
    files = check_outputs(source, out, overlays, probabilities, streamed)
    check_sizes([p for p in files if p not in streamed], max_pixels)
    names = [name for f in files
             for name in (streamed_names if f in streamed else output_names)(f.stem, overlays, probabilities)]
    return files, streamed, names


def predict_image(segmenter: Segmenter, image: torch.Tensor, spec: TileSpec | None, probabilities: bool = False,
                  on_rows: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, torch.Tensor | None]:
    """(H,W uint8 class ids, K,H,W float32 probabilities or None) of one C,H,W image: whole, or window by
    window with `spec`, its rows finished band by band (`on_rows(done, height)` after each band). The one
    prediction of `segen seg predict` and of the web app: the mask is the argmax of the probabilities."""
    if spec is None:
        if not probabilities:
            return segmenter.labels(image[None], None, dtype=torch.uint8)[0].numpy(), None
        probs = segmenter.scores(image[None])[0].cpu().float()
        return probs.argmax(dim=0).to(torch.uint8).numpy(), probs
    height, width = int(image.shape[-2]), int(image.shape[-1])
    mask = torch.empty(height, width, dtype=torch.uint8)
    bands: list[torch.Tensor] = []
    for band in stream_scores(segmenter.scores, rows_of(image), (height, width), spec):
        rows = band.scores.shape[1]
        mask[band.top:band.top + rows] = band.scores.argmax(dim=0)
        if probabilities:
            bands.append(band.scores)
        if on_rows is not None:
            on_rows(band.top + rows, height)
    return mask.numpy(), torch.cat(bands, dim=1) if probabilities else None


def npy_bytes(array: torch.Tensor | np.ndarray) -> bytes:
    """`array` as the bytes of a float32 .npy file."""
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array, dtype=np.float32))
    return buffer.getvalue()


def predict_files(segmenter: Segmenter, source: str | Path, out: str | Path, overlays: bool = False,
                  probabilities: bool = False, progress: bool = True,
                  on_file: Callable[[Path, np.ndarray], None] | None = None,
                  tiling: Tiling | None = AUTO_TILING) -> list[Path]:
    """Write DIR/<stem>.png masks (input size, paletted) for every input image; returns the mask paths.
    `on_file(path, mask)` is called with each mask held in memory (not for streamed images).

    Checks first (`check_outputs`, and sizes against `segmenter.max_pixels`) so that nothing is
    overwritten and no oversized image is decoded. Images run whole or window by window as `tiling` says
    (None: all whole); an image tiled only for its size is named on stderr. A TIFF above
    `segmenter.max_pixels` is streamed from disk to tiled BigTIFF outputs (see segen.inference.streamed)
    unless `tiling` is None; any other image above it is refused.
    """
    files, streamed, _ = plan_outputs(source, out, overlays, probabilities, segmenter.max_pixels, tiling)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    ignore = segmenter.info.ignore_index
    for path in tqdm(files, desc="predict", unit="img", disable=not progress):
        if path in streamed and tiling is not None:
            written.append(predict_streamed(segmenter, path, out, tiling, overlays, probabilities))
            continue
        image = read_image(path, segmenter.info.channels, segmenter.max_pixels)
        segmenter.check_depth(image, path)
        size = (int(image.shape[-2]), int(image.shape[-1]))
        spec = segmenter.tile_for(size, tiling)
        if spec is not None and tiling is not None and tiling.above:
            print(f"note: {path.name} is {size[1]}x{size[0]}: predicted in {spec.window[1]}x{spec.window[0]} "
                  f"tiles, overlap {spec.overlap:g} (--tile H W to choose)", file=sys.stderr)
        mask, probs = predict_image(segmenter, image, spec, probabilities)
        if probs is not None:
            write_atomic(out / f"{path.stem}_prob.npy", npy_bytes(probs))
        target = out / f"{path.stem}.png"
        save_indexed_png(mask, target, segmenter.palette, ignore)
        if overlays:
            pixels = unit_to_uint8(to_unit(image, segmenter.info.max_value)).permute(1, 2, 0).numpy()
            save_png(overlay(pixels, mask, segmenter.palette, ignore_index=ignore), out / f"{path.stem}_overlay.png")
        if on_file is not None:
            on_file(path, mask)
        written.append(target)
    return written
