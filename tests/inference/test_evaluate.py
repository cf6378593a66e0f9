"""Evaluation of a split: boundary scores beside the overlap scores, and one entry per image."""

from __future__ import annotations

from pathlib import Path

import pytest

from segen.inference import Segmenter, evaluate_segmentation, format_scores

CLASSES = ["background", "circle", "rectangle", "triangle"]
IMAGE_KEYS = {"image", "mean_iou", "mean_dice", "mean_hd95", "mean_assd", "mean_boundary_f1", "per_class"}


def test_per_image_entries_and_boundary_scores(trained_run: Path, multiclass_root: Path) -> None:
    seg = Segmenter.from_checkpoint(trained_run / "best.pt")
    scores = evaluate_segmentation(seg, multiclass_root, "test", progress=False)
    assert scores["surface"] == {"units": "pixels", "spacing": None, "boundary_tolerance_px": 2.0,
                                 "classes": CLASSES}
    assert [entry["image"] for entry in scores["per_image"]] == [f"test/images/test_{i:04d}.png" for i in range(4)]
    for entry in scores["per_image"]:
        assert set(entry) == IMAGE_KEYS
        assert list(entry["per_class"]) == CLASSES
        for per in entry["per_class"].values():
            assert set(per) == {"iou", "dice", "hd95", "assd", "boundary_f1"}
    for name in CLASSES:
        per = scores["per_class"][name]
        assert {"iou", "hd95", "assd", "boundary_f1", "both_present", "one_sided"} <= set(per)
        assert per["both_present"] + per["one_sided"] <= 4
    assert scores["mean_hd95"] is not None  # some class is in a prediction and its mask: the spacing tests compare
    assert 0.0 <= scores["mean_boundary_f1"] <= 1.0


def test_spacing_scales_distances_only(trained_run: Path, multiclass_root: Path) -> None:
    seg = Segmenter.from_checkpoint(trained_run / "best.pt")
    plain = evaluate_segmentation(seg, multiclass_root, "test", progress=False)
    scaled = evaluate_segmentation(seg, multiclass_root, "test", progress=False, spacing=(0.5, 0.5),
                                   boundary_tolerance=1)
    assert scaled["surface"]["spacing"] == [0.5, 0.5] and scaled["surface"]["units"] == "spacing"
    assert scaled["mean_iou"] == plain["mean_iou"]
    for name in CLASSES:
        before, after = plain["per_class"][name], scaled["per_class"][name]
        for key in ("hd95", "assd"):
            assert after[key] == (None if before[key] is None else pytest.approx(before[key] / 2))
    assert "units of the spacing (sy 0.5, sx 0.5)" in format_scores(scaled)
    assert "within 1 px" in format_scores(scaled)


def test_table_without_boundary_scores() -> None:
    per = {"iou": 0.5, "dice": None, "precision": 1.0, "recall": 0.25, "pixel_share": 0.1}
    table = format_scores({"per_class": {"a": per}, "mean_iou": 0.5, "mean_dice": None, "pixel_accuracy": 0.9})
    assert "mean_iou" in table and "hd95" not in table
