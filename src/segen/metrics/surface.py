"""Boundary scores per class: HD95, ASSD and boundary F1 from surface distances (scipy.ndimage, CPU numpy).

Definitions, for one class on one 2-D image:

- Surface: the mask's pixels with a 4-neighbour outside it (`mask ^ binary_erosion(mask)`, the image edge
  counting as outside), as MONAI and medpy find it.
- Surface distances: from each predicted surface pixel to the nearest true one and from each true surface pixel
  to the nearest predicted one, between pixel centres (`distance_transform_edt`); in pixels, or in the units of
  `spacing` (sy, sx) when one is given.
- HD95: the 95th percentile (numpy's linear interpolation) of both directions' distances pooled, as medpy's
  `hd95`. MONAI takes the larger of the two directed 95th percentiles instead, which can be a little higher.
- ASSD: the mean of the pooled distances (their sum over the number of surface pixels of both masks), as
  Heimann et al. (2009) and MONAI's symmetric average surface distance; medpy averages the two directed means.
- Boundary F1: precision is the share of predicted surface pixels within `tolerance` pixels of the true surface,
  recall the share of true surface pixels within `tolerance` of the predicted one, F1 their harmonic mean (the
  DAVIS / Csurka et al. boundary F-measure, on the surfaces above). The tolerance is in pixels, with a spacing too.

Conventions:

- Ignore pixels (`ignore_index` in the truth) count as neither class in both masks: the prediction there is
  dropped before surfaces are found, so the edge of an ignore region is surface in both masks alike and a
  boundary drawn anywhere inside it is not penalised.
- A class absent from both masks has no score (None) and is left out of every mean, never counted as 0.
- A class in one mask only: HD95 and ASSD are undefined (None for that image, counted in `one_sided`, never inf
  or a made-up distance); boundary F1 is 0 (its precision or its recall is 0).
- Binary tasks (2 classes) are scored for the foreground (class 1) only: the background's surface would be the
  same outline again plus the image edge. With more classes every class is scored, as the confusion matrix does.

Cost per scored class and image: two distance transforms (one to each surface) on the bounding box of the two
masks, at native size; two more with an anisotropic spacing, as boundary F1 then needs pixel distances.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy import ndimage

from segen.metrics.segmentation import mean_where_defined

#: The per-class boundary scores, in the order they are reported.
SURFACE_SCORES = ("hd95", "assd", "boundary_f1")
ClassScores = dict[str, float | None]


@dataclass(frozen=True)
class SurfaceScores:
    """One class on one image; hd95 and assd are None when the class is in one mask only."""

    hd95: float | None
    assd: float | None
    boundary_f1: float


def check_spacing(spacing: Sequence[float] | None) -> tuple[float, float] | None:
    """`spacing` as a (sy, sx) pair of positive finite numbers, or None; ValueError otherwise."""
    if spacing is None:
        return None
    values = tuple(float(s) for s in spacing)
    if len(values) != 2 or not all(math.isfinite(s) and s > 0 for s in values):
        raise ValueError(f"spacing must be two positive numbers (sy, sx), got {tuple(spacing)}")
    return values[0], values[1]


def _check_tolerance(tolerance: float) -> float:
    if not 0 <= tolerance < math.inf:  # nan fails too
        raise ValueError(f"boundary tolerance must be a finite number >= 0, got {tolerance}")
    return float(tolerance)


def surface_scores(prediction: np.ndarray, truth: np.ndarray, spacing: Sequence[float] | None = None,
                   tolerance: float = 2.0) -> SurfaceScores | None:
    """HD95, ASSD and boundary F1 of two boolean H,W masks of one class; None when both are empty.

    Args:
        prediction: predicted pixels of the class.
        truth: true pixels of the class (ignore pixels already removed from both).
        spacing: pixel size (sy, sx) for distances in its units; None: pixels.
        tolerance: boundary F1 matching distance, in pixels.
    """
    sampling, tolerance = check_spacing(spacing), _check_tolerance(tolerance)
    prediction, truth = np.asarray(prediction, dtype=bool), np.asarray(truth, dtype=bool)
    if prediction.shape != truth.shape:
        raise ValueError(f"prediction {prediction.shape} and truth {truth.shape} differ")
    in_prediction, in_truth = bool(prediction.any()), bool(truth.any())
    if not (in_prediction or in_truth):
        return None
    if not (in_prediction and in_truth):
        return SurfaceScores(None, None, 0.0)
    box = _bounding_box(prediction | truth)  # exact: every surface pixel lies inside it
    predicted, true = _surface(prediction[box]), _surface(truth[box])
    to_truth, to_prediction = _distances(predicted, true, None)
    precision = float(np.mean(to_truth <= tolerance))
    recall = float(np.mean(to_prediction <= tolerance))
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    if sampling is not None:
        if sampling[0] == sampling[1]:
            to_truth, to_prediction = to_truth * sampling[0], to_prediction * sampling[0]
        else:
            to_truth, to_prediction = _distances(predicted, true, sampling)
    pooled = np.concatenate([to_truth, to_prediction])
    return SurfaceScores(float(np.percentile(pooled, 95)), float(pooled.mean()), f1)


def _bounding_box(mask: np.ndarray) -> tuple[slice, slice]:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def _surface(mask: np.ndarray) -> np.ndarray:
    return mask ^ ndimage.binary_erosion(mask)


def _distances(first: np.ndarray, second: np.ndarray,
               sampling: tuple[float, float] | None) -> tuple[np.ndarray, np.ndarray]:
    """Distances from each pixel of surface `first` to the nearest of `second`, and from `second` to `first`."""
    to_second = ndimage.distance_transform_edt(~second, sampling=sampling)[first]
    to_first = ndimage.distance_transform_edt(~first, sampling=sampling)[second]
    return to_second, to_first


def _numpy(labels: torch.Tensor | np.ndarray) -> np.ndarray:
    return labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)


class SurfaceMetrics:
    """Accumulates HD95, ASSD and boundary F1 per image and class (conventions in the module docstring).

    `per_image` keeps each image's scores in the order added: {mean_hd95, mean_assd, mean_boundary_f1, per_class
    {name: {hd95, assd, boundary_f1}}}, with None for classes absent from both masks or not scored.

    Args:
        num_classes: number of classes; with 2, only class 1 is scored.
        ignore_index: truth value of the pixels left out.
        class_names: names for the results (default class_0, class_1, ...).
        spacing: pixel size (sy, sx): HD95 and ASSD in its units instead of pixels.
        tolerance: boundary F1 matching distance, in pixels.
    """

    def __init__(self, num_classes: int, ignore_index: int = 255, class_names: Sequence[str] | None = None,
                 spacing: Sequence[float] | None = None, tolerance: float = 2.0) -> None:
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.class_names = list(class_names) if class_names else [f"class_{i}" for i in range(num_classes)]
        self.spacing = check_spacing(spacing)
        self.tolerance = _check_tolerance(tolerance)
        self.classes = [1] if num_classes == 2 else list(range(num_classes))
        self.reset()

    def reset(self) -> None:
        self.per_image: list[dict[str, Any]] = []
        self._sums = np.zeros((self.num_classes, len(SURFACE_SCORES)))
        self._both_present = np.zeros(self.num_classes, dtype=np.int64)
        self._one_sided = np.zeros(self.num_classes, dtype=np.int64)

    def update(self, prediction: torch.Tensor | np.ndarray, target: torch.Tensor | np.ndarray) -> None:
        """Add predicted and true class ids: a batch N,H,W or one image H,W."""
        pred, truth = _numpy(prediction), _numpy(target)
        if pred.shape != truth.shape:
            raise ValueError(f"prediction {pred.shape} and target {truth.shape} differ")
        if pred.ndim == 2:
            pred, truth = pred[None], truth[None]
        if pred.ndim != 3:
            raise ValueError(f"expected N,H,W or H,W class ids, got shape {pred.shape}")
        for p, t in zip(pred, truth, strict=True):
            self.per_image.append(self._score_image(p, t))

    def _score_image(self, prediction: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
        valid = truth != self.ignore_index
        if valid.any() and int(truth[valid].max()) >= self.num_classes:
            raise ValueError(f"target holds class id {int(truth[valid].max())} >= {self.num_classes}")
        per_class: dict[str, ClassScores] = {name: dict.fromkeys(SURFACE_SCORES) for name in self.class_names}
        for k in self.classes:
            scores = surface_scores((prediction == k) & valid, (truth == k) & valid, self.spacing, self.tolerance)
            if scores is None:
                continue
            per_class[self.class_names[k]] = {"hd95": scores.hd95, "assd": scores.assd,
                                              "boundary_f1": scores.boundary_f1}
            if scores.hd95 is None or scores.assd is None:
                self._one_sided[k] += 1
            else:
                self._both_present[k] += 1
                self._sums[k, :2] += (scores.hd95, scores.assd)
            self._sums[k, 2] += scores.boundary_f1
        return {**_class_means(per_class), "per_class": per_class}

    def compute(self) -> dict[str, Any]:
        """Per-class means over the images where each score is defined, their means over classes, and counts.

        Returns:
            per_class {name: {hd95, assd, boundary_f1, both_present, one_sided}}: hd95 and assd averaged over the
            `both_present` images (class in prediction and truth), boundary_f1 over those and the `one_sided`
            ones (class in one of them only); None where there are none. mean_hd95, mean_assd, mean_boundary_f1:
            means over the classes that have a value. images: the images added.
        """
        per_class: dict[str, dict[str, Any]] = {}
        for k, name in enumerate(self.class_names):
            both, one_sided = int(self._both_present[k]), int(self._one_sided[k])
            hd95, assd, f1 = (float(s) for s in self._sums[k])
            per_class[name] = {
                "hd95": hd95 / both if both else None,
                "assd": assd / both if both else None,
                "boundary_f1": f1 / (both + one_sided) if both + one_sided else None,
                "both_present": both,
                "one_sided": one_sided,
            }
        return {**_class_means(per_class), "per_class": per_class, "images": len(self.per_image)}


def _class_means(per_class: dict[str, Any]) -> dict[str, float | None]:
    return {f"mean_{key}": mean_where_defined(scores[key] for scores in per_class.values()) for key in SURFACE_SCORES}
