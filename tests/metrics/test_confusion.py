"""Confusion-matrix scores against hand-computed values."""

from __future__ import annotations

import pytest
import torch

from segen.metrics import ConfusionMatrix, logits_to_labels


def test_scores_by_hand() -> None:
    target = torch.tensor([[0, 0, 1, 1, 255, 1]])
    pred = torch.tensor([[0, 1, 1, 1, 0, 0]])
    metric = ConfusionMatrix(3, class_names=["a", "b", "c"])
    metric.update(pred, target)
    scores = metric.compute()
    # class a: tp 1, fp 1 (last pixel), fn 1 -> IoU 1/3, Dice 2/4
    # class b: tp 2, fp 1, fn 1 -> IoU 2/4, Dice 4/6
    a, b, c = (scores["per_class"][k] for k in "abc")
    assert a["iou"] == pytest.approx(1 / 3)
    assert a["dice"] == pytest.approx(0.5)
    assert b["iou"] == pytest.approx(0.5)
    assert b["dice"] == pytest.approx(2 / 3)
    assert b["precision"] == pytest.approx(2 / 3)
    assert b["recall"] == pytest.approx(2 / 3)
    assert a["pixel_share"] == pytest.approx(2 / 5)
    assert c == {"iou": None, "dice": None, "precision": None, "recall": None, "pixel_share": 0.0}
    assert scores["mean_iou"] == pytest.approx((1 / 3 + 0.5) / 2)  # class c left out
    assert scores["pixel_accuracy"] == pytest.approx(3 / 5)  # ignore pixel excluded


def test_accumulates_and_resets() -> None:
    metric = ConfusionMatrix(2)
    metric.update(torch.tensor([0, 1]), torch.tensor([0, 1]))
    metric.update(torch.tensor([1]), torch.tensor([0]))
    assert int(metric.matrix.sum()) == 3
    assert metric.matrix.tolist() == [[1, 1], [0, 1]]
    metric.reset()
    assert metric.compute()["mean_iou"] is None


def test_predicted_but_absent_class_scores_zero() -> None:
    metric = ConfusionMatrix(2)
    metric.update(torch.tensor([1, 1]), torch.tensor([0, 0]))
    per = metric.compute()["per_class"]
    assert per["class_1"]["iou"] == 0.0
    assert per["class_1"]["recall"] is None


def test_rejects_out_of_range_targets() -> None:
    with pytest.raises(ValueError, match="class id 4"):
        ConfusionMatrix(3).update(torch.tensor([0]), torch.tensor([4]))


def test_logits_to_labels_binary_and_multiclass() -> None:
    assert logits_to_labels(torch.tensor([[[[-1.0, 2.0]]]])).tolist() == [[[0, 1]]]
    multi = torch.tensor([[[[0.0]], [[3.0]], [[1.0]]]])
    assert logits_to_labels(multi).tolist() == [[[1]]]
