"""The Segmenter rebuilt from a checkpoint alone; evaluation on a split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from segen.checkpoint import save_checkpoint
from segen.errors import CheckpointError
from segen.inference import Segmenter, evaluate_segmentation, format_scores


def test_predict_any_size_and_input_kind(trained_run: Path, multiclass_root: Path) -> None:
    seg = Segmenter.from_checkpoint(trained_run / "best.pt")
    assert seg.num_classes == 4
    rgb = np.random.default_rng(0).integers(0, 255, (37, 53, 3), dtype=np.uint8)
    mask = seg.predict(rgb)
    assert mask.shape == (37, 53) and mask.dtype == np.uint8 and mask.max() < 4
    path = next((multiclass_root / "test" / "images").iterdir())
    from_path = seg.predict(path)
    assert np.array_equal(from_path, seg.predict(np.asarray(Image.open(path))))
    assert np.array_equal(from_path, seg.predict(torch.from_numpy(np.asarray(Image.open(path))).permute(2, 0, 1)))
    probs = seg.predict_proba(rgb)
    assert probs.shape == (4, 37, 53)
    np.testing.assert_allclose(probs.sum(0), 1.0, atol=1e-5)
    assert np.array_equal(probs.argmax(0), mask)


def test_inference_does_not_need_training_code() -> None:
    import segen.inference.segmenter as module

    source = Path(module.__file__).read_text()
    assert "segen.training" not in source


def test_evaluate_split(trained_run: Path, multiclass_root: Path) -> None:
    seg = Segmenter.from_checkpoint(trained_run / "best.pt")
    scores = evaluate_segmentation(seg, multiclass_root, "test", progress=False)
    assert scores["images"] == 4
    assert set(scores["per_class"]) == {"background", "circle", "rectangle", "triangle"}
    assert 0.0 <= scores["mean_iou"] <= 1.0 and 0.0 <= scores["pixel_accuracy"] <= 1.0
    table = format_scores(scores)
    assert "rectangle" in table and "mean_iou" in table


def test_wrong_kind_and_incomplete_checkpoints(tmp_path: Path) -> None:
    save_checkpoint({"kind": "gan"}, tmp_path / "g.pt")
    with pytest.raises(CheckpointError, match="a gan checkpoint"):
        Segmenter.from_checkpoint(tmp_path / "g.pt")
    save_checkpoint({"kind": "segmentation"}, tmp_path / "s.pt")
    with pytest.raises(CheckpointError, match="incomplete"):
        Segmenter.from_checkpoint(tmp_path / "s.pt")
