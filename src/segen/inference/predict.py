"""Batch prediction to files: paletted masks, colour overlays and probability arrays."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from segen.data.io import IMAGE_SUFFIXES, read_image
from segen.errors import DataError
from segen.inference.segmenter import Segmenter
from segen.metrics import logits_to_labels
from segen.reports import overlay, save_indexed_png, save_png


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


def predict_files(segmenter: Segmenter, source: str | Path, out: str | Path, overlays: bool = False,
                  probabilities: bool = False, progress: bool = True,
                  on_file: Callable[[Path, np.ndarray], None] | None = None) -> list[Path]:
    """Write DIR/<stem>.png masks (input size, paletted) for every input image; returns the mask paths."""
    files = list_inputs(source)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    ignore = segmenter.info.ignore_index
    for path in tqdm(files, desc="predict", unit="img", disable=not progress):
        image = read_image(path, segmenter.info.channels)
        logits = segmenter.logits(image[None])
        mask = logits_to_labels(logits)[0].to(torch.uint8).cpu().numpy()
        if probabilities:
            probs = segmenter.probabilities(logits)[0].cpu().numpy().astype(np.float32)
            np.save(out / f"{path.stem}_prob.npy", probs)
        target = out / f"{path.stem}.png"
        save_indexed_png(mask, target, segmenter.palette, ignore)
        if overlays:
            pixels = image.permute(1, 2, 0).numpy()
            save_png(overlay(pixels, mask, segmenter.palette, ignore_index=ignore), out / f"{path.stem}_overlay.png")
        if on_file is not None:
            on_file(path, mask)
        written.append(target)
    return written
