"""Sliding-window prediction for images of any size: overlapping windows weighted by a Gaussian importance map
(so seams vanish), run in batches and finished row by row.

Rows of windows are streamed: once no later window touches a row of the image, its scores are final and
handed on, so memory holds one window-height band of the image width (classes x window height x width),
never the whole image's scores.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

RowReader = Callable[[int, int], torch.Tensor]  # (top, bottom) -> C, bottom - top, W image rows
ScoreFn = Callable[[torch.Tensor], torch.Tensor]  # N,C,h,w images -> N,K,h,w scores (probabilities)

DEFAULT_OVERLAP = 0.5
DEFAULT_WINDOW = (512, 512)  # tiles for checkpoints that do not record their training crop
DEFAULT_TILE_ABOVE = 2048 * 2048  # images with more pixels are predicted in tiles unless told otherwise
DEFAULT_SIGMA_SCALE = 1 / 8  # of the window size, as nnU-Net


def window_starts(length: int, window: int, overlap: float) -> list[int]:
    """Starts of windows of size `window` covering 0..length, neighbours sharing at least `overlap` of a window,
    spread evenly from 0 to `length - window` (one window at 0 when it covers everything)."""
    if not 0 <= overlap < 1:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    if window < 1 or length < 1:
        raise ValueError(f"length and window must be >= 1, got {length} and {window}")
    if length <= window:
        return [0]
    step = max(1, int(window * (1 - overlap)))
    count = math.ceil((length - window) / step) + 1
    span = length - window
    return [round(i * span / (count - 1)) for i in range(count)]


def gaussian_weights(height: int, width: int, sigma_scale: float = DEFAULT_SIGMA_SCALE) -> torch.Tensor:
    """H,W importance map: a Gaussian centred on the window, sigma `sigma_scale` of each side, peak 1 and
    strictly positive everywhere (so every pixel of a window counts, the edges least)."""

    def axis(n: int) -> torch.Tensor:
        centre, sigma = (n - 1) / 2, max(n * sigma_scale, 1e-6)
        return torch.exp(-((torch.arange(n, dtype=torch.float64) - centre) ** 2) / (2 * sigma**2))

    weights = torch.outer(axis(height), axis(width))
    weights = weights / weights.max()
    return weights.clamp_min(1e-6).float()


@dataclass(frozen=True)
class TileSpec:
    """How to cut an image into windows: `window` (H, W; smaller images use their own size), the fraction
    `overlap` neighbours share, `batch_size` windows per model call, and Gaussian weighting or flat averaging."""

    window: tuple[int, int]
    overlap: float = DEFAULT_OVERLAP
    batch_size: int = 4
    gaussian: bool = True

    def __post_init__(self) -> None:
        if min(self.window) < 1:
            raise ValueError(f"tile size must be >= 1 pixel each way, got {self.window[0]}x{self.window[1]}")
        if not 0 <= self.overlap < 1:
            raise ValueError(f"overlap must be in [0, 1), got {self.overlap}")
        if self.batch_size < 1:
            raise ValueError(f"batch size must be >= 1, got {self.batch_size}")


@dataclass(frozen=True)
class Tiling:
    """When to predict in windows, and how: images of more than `above` pixels (0: every image; None: none)
    run in windows of `window` (None: the model's training crop), with the rest as in `TileSpec`."""

    window: tuple[int, int] | None = None
    overlap: float = DEFAULT_OVERLAP
    batch_size: int = 4
    gaussian: bool = True
    above: int | None = DEFAULT_TILE_ABOVE

    def __post_init__(self) -> None:
        TileSpec(self.window or (1, 1), self.overlap, self.batch_size, self.gaussian)  # the same checks

    def spec_for(self, size: tuple[int, int], default_window: tuple[int, int]) -> TileSpec | None:
        """The windows for an image of `size` (H, W), or None to run it whole."""
        if self.above is None or size[0] * size[1] <= self.above:
            return None
        return TileSpec(self.window or default_window, self.overlap, self.batch_size, self.gaussian)


AUTO_TILING = Tiling()  # the default: images of more than DEFAULT_TILE_ABOVE pixels in training-crop windows


@dataclass
class ScoreBand:
    """Finished scores for image rows `top` .. `top + scores.shape[1]`: K, rows, W (weighted means)."""

    top: int
    scores: torch.Tensor


def stream_scores(score_fn: ScoreFn, read_rows: RowReader, size: tuple[int, int],
                  spec: TileSpec) -> Iterator[ScoreBand]:
    """Score an image of `size` (H, W) window by window, yielding bands of finished rows from the top down.

    `read_rows(top, bottom)` supplies the image rows one row of windows needs (C, rows, W), so the image
    itself may live on disk; `score_fn` maps a batch of windows to per-class scores of the same size.
    """
    height, width = size
    win_h, win_w = min(spec.window[0], height), min(spec.window[1], width)
    tops, lefts = window_starts(height, win_h, spec.overlap), window_starts(width, win_w, spec.overlap)
    weights = gaussian_weights(win_h, win_w) if spec.gaussian else torch.ones(win_h, win_w)
    acc: torch.Tensor | None = None
    norm = torch.zeros(0, width)
    band_top = 0
    for index, top in enumerate(tops):
        strip = read_rows(top, top + win_h)
        windows = [strip[:, :, left:left + win_w] for left in lefts]
        grow = top + win_h - band_top - norm.shape[0]
        for start in range(0, len(windows), spec.batch_size):
            scores = score_fn(torch.stack(windows[start:start + spec.batch_size])).float().cpu()
            if acc is None:
                acc = torch.zeros(scores.shape[1], 0, width)
            if grow > 0:
                acc = torch.cat([acc, acc.new_zeros(acc.shape[0], grow, width)], dim=1)
                norm = torch.cat([norm, norm.new_zeros(grow, width)])
                grow = 0
            rows = slice(top - band_top, top - band_top + win_h)
            for offset, window_scores in enumerate(scores):
                left = lefts[start + offset]
                acc[:, rows, left:left + win_w] += window_scores * weights
                norm[rows, left:left + win_w] += weights
        done = tops[index + 1] if index + 1 < len(tops) else height
        if done > band_top and acc is not None:
            finished = done - band_top
            yield ScoreBand(band_top, acc[:, :finished] / norm[:finished])
            acc, norm, band_top = acc[:, finished:], norm[finished:], done


def rows_of(image: torch.Tensor) -> RowReader:
    """The row reader of a C,H,W image held in memory."""
    return lambda top, bottom: image[:, top:bottom]


def tiled_scores(score_fn: ScoreFn, image: torch.Tensor, spec: TileSpec) -> torch.Tensor:
    """K,H,W scores of one C,H,W image held in memory (see `stream_scores`)."""
    bands = stream_scores(score_fn, rows_of(image), (int(image.shape[-2]), int(image.shape[-1])), spec)
    return torch.cat([band.scores for band in bands], dim=1)
