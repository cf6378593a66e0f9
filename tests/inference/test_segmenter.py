"""The Segmenter rebuilt from a checkpoint alone; evaluation on a split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

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
    marker = {"format": "segen-checkpoint", "version": 2}
    torch.save({**marker, "kind": "gan"}, tmp_path / "g.pt")
    with pytest.raises(CheckpointError, match="a gan checkpoint"):
        Segmenter.from_checkpoint(tmp_path / "g.pt")
    torch.save({**marker, "kind": "segmentation"}, tmp_path / "s.pt")
    with pytest.raises(CheckpointError, match="incomplete"):
        Segmenter.from_checkpoint(tmp_path / "s.pt")


# --- 16-bit images ---------------------------------------------------------------------------------------------


def tiny_checkpoint(path: Path, channels: int, max_value: int | None) -> Path:
    """A (version 1) segmentation checkpoint of an untrained tiny U-Net; `max_value` None: from before 16-bit."""
    from segen.models import create_model

    torch.manual_seed(0)
    kwargs = {"in_channels": channels, "num_classes": 3, "depth": 3, "base_width": 8}
    model = create_model("unet-small", **kwargs)
    data = {"class_names": ["a", "b", "c"], "colors": [], "mean": [0.3] * channels, "std": [0.2] * channels,
            "channels": channels, "ignore_index": 255, "binary_255": False}
    if max_value is not None:
        data["max_value"] = max_value
    spec = {"name": "unet-small", "kwargs": kwargs, "state_dict": model.state_dict()}
    torch.save({"format": "segen-checkpoint", "version": 1, "kind": "segmentation", "model": spec, "data": data},
               path)
    return path


@pytest.mark.parametrize("channels", [1, 3])
def test_16bit_files_are_predicted_on_the_checkpoint_range(tmp_path: Path, channels: int) -> None:
    from segen.data import SyntheticSpec, make_sample
    from segen.data.io import save_image
    from segen.preprocess import normalise

    seg = Segmenter.from_checkpoint(tiny_checkpoint(tmp_path / "c.pt", channels, 4095))
    assert seg.info.max_value == 4095
    image, _ = make_sample(SyntheticSpec(40, 44, num_classes=3, channels=channels, bits=12), 0, 0)
    save_image(image, tmp_path / "x.png")
    pixels = torch.from_numpy(image.astype(np.int32)).permute(2, 0, 1)
    x = normalise(pixels[None], torch.tensor([0.3] * channels).view(1, -1, 1, 1),
                  torch.tensor([0.2] * channels).view(1, -1, 1, 1), 4095)
    expected = seg.model(x).argmax(1)[0].numpy()
    assert np.array_equal(seg.predict(tmp_path / "x.png"), expected)
    assert np.array_equal(seg.predict(image), expected)  # a uint16 array as well
    assert np.array_equal(seg.predict(image / 4095.0), expected)  # floats in [0, 1]


def test_old_checkpoints_mean_8bit_and_depths_must_match(tmp_path: Path) -> None:
    from segen.errors import DataError

    old = Segmenter.from_checkpoint(tiny_checkpoint(tmp_path / "old.pt", 1, None))
    assert old.info.max_value == 255
    wide = np.full((20, 20), 3000, np.uint16)
    with pytest.raises(DataError, match="16-bit") as info:
        old.predict(wide)
    assert info.value.kind == "mismatch"
    new = Segmenter.from_checkpoint(tiny_checkpoint(tmp_path / "new.pt", 1, 4095))
    with pytest.raises(DataError, match="8-bit"):
        new.predict(np.zeros((20, 20), np.uint8))
