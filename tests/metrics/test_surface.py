"""Boundary scores (HD95, ASSD, boundary F1) against values worked by hand and a brute-force reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from segen.metrics import SurfaceMetrics, check_spacing, surface_scores


def square(top: int, left: int, size: int = 3, shape: tuple[int, int] = (6, 6)) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[top:top + size, left:left + size] = True
    return mask


# The truth is the 3x3 square at rows 1-3, cols 1-3; its surface is the ring of 8 pixels around the centre (2, 2).
# Shifted right by one pixel (cols 2-4), the predicted ring is (1,2) (1,3) (1,4) (2,2) (2,4) (3,2) (3,3) (3,4):
#   to the true ring: (1,2) (1,3) (3,2) (3,3) lie on it -> 0; (1,4) (2,4) (3,4) -> 1; (2,2), the true centre,
#   -> 1 (to (2,1) or (1,2)). Four 0s and four 1s; the true ring to the predicted one likewise.
# Pooled: 8 zeros, 8 ones. ASSD = 8/16 = 0.5. HD95 = the 95th percentile of the 16 sorted values: position
#   0.95 * 15 = 14.25, between the 15th and 16th values, both 1 -> 1.
# Boundary F1: at tolerance 0 precision = recall = 4/8 -> F1 0.5; at tolerance 1 every pixel matches -> 1.


def test_square_shifted_by_one_pixel() -> None:
    scores = surface_scores(square(1, 2), square(1, 1), tolerance=0)
    assert scores is not None
    assert scores.hd95 == pytest.approx(1.0)
    assert scores.assd == pytest.approx(0.5)
    assert scores.boundary_f1 == pytest.approx(0.5)
    scores = surface_scores(square(1, 2), square(1, 1), tolerance=1)
    assert scores is not None and scores.boundary_f1 == pytest.approx(1.0)
    down = surface_scores(square(2, 1), square(1, 1), tolerance=0)  # shifted down instead: the same by symmetry
    assert down is not None and (down.hd95, down.assd, down.boundary_f1) == pytest.approx((1.0, 0.5, 0.5))


# With spacing (sy, sx) = (2, 1) a step down costs 2 and a step right 1.
# Shifted right (cols 2-4): every nonzero distance above was one step right (the true centre (2, 2) reaches
#   (2, 1) in one step right too), so nothing changes: HD95 1, ASSD 0.5.
# Shifted down (rows 2-4), predicted ring (2,1) (2,2) (2,3) (3,1) (3,3) (4,1) (4,2) (4,3):
#   (2,1) (2,3) (3,1) (3,3) on the true ring -> 0; (4,1) (4,2) (4,3) one step down -> 2; (2,2), the true
#   centre, one step right to (2,1) -> 1. Sum 7. The true ring to the predicted one: (1,1) (1,2) (1,3) -> 2,
#   (3,2), the predicted centre, -> 1, the rest 0. Sum 7.
# Pooled: 8 zeros, 2 ones, 6 twos: ASSD = 14/16 = 0.875; HD95: the 15th and 16th sorted values are 2 -> 2.
# The boundary F1 tolerance stays in pixels: at tolerance 1 every pixel still matches.


def test_spacing_scales_distances_per_axis() -> None:
    right = surface_scores(square(1, 2), square(1, 1), spacing=(2, 1))
    assert right is not None and (right.hd95, right.assd) == pytest.approx((1.0, 0.5))
    down = surface_scores(square(2, 1), square(1, 1), spacing=(2, 1), tolerance=1)
    assert down is not None
    assert down.hd95 == pytest.approx(2.0)
    assert down.assd == pytest.approx(0.875)
    assert down.boundary_f1 == pytest.approx(1.0)
    both = surface_scores(square(2, 1), square(1, 1), spacing=(2.5, 2.5))
    assert both is not None and (both.hd95, both.assd) == pytest.approx((2.5, 1.25))


def test_an_outlier_moves_assd_but_not_hd95() -> None:
    truth = square(1, 1, size=5, shape=(8, 12))  # surface: the 16-pixel ring of the 5x5 square
    prediction = truth.copy()
    prediction[3, 10] = True  # 5 pixels right of the ring's (3, 5)
    scores = surface_scores(prediction, truth, tolerance=2)
    assert scores is not None
    # pooled: 32 zeros and one 5; the 95th percentile (position 30.4) is 0; the mean 5/33
    assert scores.hd95 == pytest.approx(0.0)
    assert scores.assd == pytest.approx(5 / 33)
    assert scores.boundary_f1 == pytest.approx(2 * (16 / 17) / (16 / 17 + 1))  # precision 16/17, recall 1


def test_absent_and_one_sided_classes() -> None:
    empty = np.zeros((6, 6), dtype=bool)
    assert surface_scores(empty, empty) is None
    for prediction, truth in ((square(1, 1), empty), (empty, square(1, 1))):
        scores = surface_scores(prediction, truth)
        assert scores is not None
        assert (scores.hd95, scores.assd, scores.boundary_f1) == (None, None, 0.0)


def brute_force(prediction: np.ndarray, truth: np.ndarray, spacing: tuple[float, float]) -> tuple[float, float]:
    """HD95 and ASSD from every pair of surface pixels."""
    surfaces = [np.argwhere(m ^ ndimage.binary_erosion(m)) * np.asarray(spacing) for m in (prediction, truth)]
    pairwise = np.linalg.norm(surfaces[0][:, None] - surfaces[1][None], axis=-1)
    pooled = np.concatenate([pairwise.min(axis=1), pairwise.min(axis=0)])
    return float(np.percentile(pooled, 95)), float(pooled.mean())


@pytest.mark.parametrize("spacing", [(1.0, 1.0), (0.7, 1.9)])
def test_matches_a_brute_force_reference(spacing: tuple[float, float]) -> None:
    rng = np.random.default_rng(0)
    for _ in range(5):
        prediction = ndimage.binary_opening(rng.random((20, 24)) > 0.55)
        truth = ndimage.binary_opening(rng.random((20, 24)) > 0.55)
        scores = surface_scores(prediction, truth, spacing=spacing)
        assert scores is not None
        assert (scores.hd95, scores.assd) == pytest.approx(brute_force(prediction, truth, spacing))


def test_metric_ignores_void_and_averages_where_defined() -> None:
    truth = np.zeros((6, 8), dtype=np.int64)
    truth[1:5, 1:4] = 1
    truth[1:5, 4] = 255  # a void band right of the object
    prediction = np.zeros_like(truth)
    prediction[1:5, 1:5] = 1  # reaches into the void band: not a boundary error
    prediction[0, 7] = 2  # class 2 outside the truth: one-sided
    metric = SurfaceMetrics(3, class_names=["bg", "obj", "other"], tolerance=0)
    metric.update(torch.from_numpy(prediction), torch.from_numpy(truth))
    image = metric.per_image[0]["per_class"]
    assert image["obj"] == {"hd95": 0.0, "assd": 0.0, "boundary_f1": 1.0}
    assert image["other"] == {"hd95": None, "assd": None, "boundary_f1": 0.0}
    void_only = prediction.copy()
    void_only[0, 7] = 0
    void_only[2, 4] = 2  # class 2 predicted only on a void pixel: absent from both
    metric.update(void_only, truth)
    assert metric.per_image[1]["per_class"]["other"] == {"hd95": None, "assd": None, "boundary_f1": None}
    result = metric.compute()
    other = result["per_class"]["other"]
    assert other == {"hd95": None, "assd": None, "boundary_f1": 0.0, "both_present": 0, "one_sided": 1}
    assert result["per_class"]["obj"]["both_present"] == 2
    assert result["images"] == 2
    assert result["mean_hd95"] is not None and result["mean_boundary_f1"] is not None
    metric.reset()
    assert metric.per_image == [] and metric.compute()["mean_hd95"] is None


def test_means_over_images_and_classes() -> None:
    truth = np.stack([square(1, 1).astype(np.int64), square(1, 1).astype(np.int64)])
    prediction = np.stack([square(1, 2), square(1, 1)]).astype(np.int64)  # shifted, then exact
    metric = SurfaceMetrics(3, tolerance=0)
    metric.update(prediction, truth)
    result = metric.compute()
    fg = result["per_class"]["class_1"]
    assert (fg["hd95"], fg["assd"], fg["boundary_f1"]) == pytest.approx((0.5, 0.25, 0.75))
    assert result["per_class"]["class_2"]["hd95"] is None  # absent everywhere: no score, not 0
    # class 0 (background) is scored too: its surface is the 20 image-edge pixels plus the 6 inner pixels next to
    # the square; 20 edge pixels and 2 of the 6 coincide when shifted -> precision = recall = 22/26
    assert metric.per_image[0]["mean_boundary_f1"] == pytest.approx((22 / 26 + 0.5) / 2)


def test_binary_scores_the_foreground_only() -> None:
    metric = SurfaceMetrics(2, class_names=["background", "object"])
    assert metric.classes == [1]
    metric.update(square(1, 2).astype(np.int64), square(1, 1).astype(np.int64))
    result = metric.compute()
    assert result["per_class"]["background"]["hd95"] is None
    assert result["per_class"]["object"]["assd"] == pytest.approx(0.5)
    assert result["mean_assd"] == pytest.approx(0.5)


def test_bad_inputs_raise() -> None:
    with pytest.raises(ValueError, match="differ"):
        SurfaceMetrics(3).update(np.zeros((4, 4), np.int64), np.zeros((4, 5), np.int64))
    with pytest.raises(ValueError, match="class id 3"):
        SurfaceMetrics(3).update(np.zeros((4, 4), np.int64), np.full((4, 4), 3))
    for spacing in [(0, 1), (1, float("nan")), (1,)]:
        with pytest.raises(ValueError, match="spacing"):
            check_spacing(spacing)
    with pytest.raises(ValueError, match="tolerance"):
        SurfaceMetrics(3, tolerance=-1)
