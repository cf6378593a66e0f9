"""Sliding-window prediction: window placement, the Gaussian map, streaming bands and agreement with whole images."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from segen.cli.main import main
from segen.data.io import read_image
from segen.inference import Segmenter, evaluate_segmentation
from segen.inference.predict import predict_files
from segen.inference.tiling import TileSpec, Tiling, gaussian_weights, stream_scores, tiled_scores, window_starts


@pytest.mark.parametrize(("length", "window", "overlap", "expected"), [
    (100, 100, 0.5, [0]),
    (50, 100, 0.5, [0]),
    (200, 100, 0.5, [0, 50, 100]),
    (201, 100, 0.5, [0, 34, 67, 101]),
    (200, 100, 0.0, [0, 100]),
    (250, 100, 0.25, [0, 75, 150]),
])
def test_window_starts_cover_the_image_with_at_least_the_overlap(length: int, window: int, overlap: float,
                                                                  expected: list[int]) -> None:
    starts = window_starts(length, window, overlap)
    assert starts == expected
    assert starts[-1] + min(window, length) == max(length, min(window, length))
    for a, b in itertools.pairwise(starts):
        assert b - a <= window * (1 - overlap)


def test_window_starts_refuse_bad_arguments() -> None:
    with pytest.raises(ValueError, match="overlap"):
        window_starts(10, 4, 1.0)
    with pytest.raises(ValueError, match=">= 1"):
        window_starts(10, 0, 0.5)
    with pytest.raises(ValueError, match="tile size"):
        TileSpec((0, 8))
    with pytest.raises(ValueError, match="batch size"):
        TileSpec((8, 8), batch_size=0)


def test_gaussian_weights_peak_in_the_centre_and_stay_positive() -> None:
    weights = gaussian_weights(64, 48)
    assert weights.shape == (64, 48)
    assert float(weights.max()) == pytest.approx(1.0)
    assert float(weights.min()) > 0
    assert torch.allclose(weights, weights.flip(0)) and torch.allclose(weights, weights.flip(1))
    # sigma is 1/8 of the side: one sigma from the centre the weight is exp(-1/2)
    one_sigma = gaussian_weights(81, 81)[40, 40 + 81 // 8]
    assert float(one_sigma) == pytest.approx(float(torch.exp(torch.tensor(-0.5 * (10 / (81 / 8)) ** 2))), rel=1e-4)


def pixelwise(images: torch.Tensor) -> torch.Tensor:
    """A position-independent 'model': two class scores from each pixel's own value."""
    grey = images.float().mean(dim=1, keepdim=True) / 255
    return torch.cat([grey, 1 - grey], dim=1)


@pytest.mark.parametrize("gaussian", [True, False])
def test_tiles_of_a_pixelwise_model_give_the_whole_image_scores(gaussian: bool) -> None:
    image = torch.randint(0, 256, (3, 97, 131), dtype=torch.uint8)
    scores = tiled_scores(pixelwise, image, TileSpec((32, 40), overlap=0.5, batch_size=3, gaussian=gaussian))
    assert scores.shape == (2, 97, 131)
    assert torch.allclose(scores, pixelwise(image[None])[0], atol=1e-5)


def test_images_smaller_than_the_window_run_whole() -> None:
    calls: list[tuple[int, ...]] = []

    def record(images: torch.Tensor) -> torch.Tensor:
        calls.append(tuple(images.shape))
        return pixelwise(images)

    image = torch.randint(0, 256, (3, 20, 30), dtype=torch.uint8)
    tiled_scores(record, image, TileSpec((64, 64)))
    assert calls == [(1, 3, 20, 30)]


def test_bands_stream_top_down_and_hold_one_window_height() -> None:
    height, width, window = 300, 50, (40, 50)
    requested: list[tuple[int, int]] = []
    image = torch.randint(0, 256, (1, height, width), dtype=torch.uint8)

    def read(top: int, bottom: int) -> torch.Tensor:
        requested.append((top, bottom))
        return image[:, top:bottom]

    bands = list(stream_scores(pixelwise, read, (height, width), TileSpec(window, overlap=0.5)))
    assert [b.top for b in bands] == sorted(b.top for b in bands) and bands[0].top == 0
    assert sum(b.scores.shape[1] for b in bands) == height
    assert max(b.scores.shape[1] for b in bands) <= window[0]
    assert all(bottom - top == window[0] for top, bottom in requested)
    assert torch.allclose(torch.cat([b.scores for b in bands], dim=1), pixelwise(image[None])[0], atol=1e-5)


def test_gaussian_weighting_favours_each_window_centre() -> None:
    """A model that scores by position inside its window: with Gaussian weights a pixel's score comes mostly
    from the windows it is central to, so the blend is closer to 'central' than flat averaging gives."""

    def centrality(images: torch.Tensor) -> torch.Tensor:
        n, _, h, w = images.shape
        ys = 1 - (torch.arange(h).float() - (h - 1) / 2).abs() / (h / 2)
        xs = 1 - (torch.arange(w).float() - (w - 1) / 2).abs() / (w / 2)
        return torch.outer(ys, xs).expand(n, 1, h, w)

    image = torch.zeros(3, 64, 64, dtype=torch.uint8)
    flat = tiled_scores(centrality, image, TileSpec((32, 32), gaussian=False))
    weighted = tiled_scores(centrality, image, TileSpec((32, 32), gaussian=True))
    inner = (slice(None), slice(16, 48), slice(16, 48))
    assert float(weighted[inner].mean()) > float(flat[inner].mean()) + 0.05


def test_tiling_policy_chooses_by_size() -> None:
    auto = Tiling(above=100)
    assert auto.spec_for((10, 10), (48, 48)) is None
    assert auto.spec_for((10, 11), (48, 48)) == TileSpec((48, 48))
    forced = Tiling(window=(16, 24), overlap=0.25, gaussian=False, above=0)
    assert forced.spec_for((4, 4), (48, 48)) == TileSpec((16, 24), 0.25, 4, False)
    assert Tiling(above=None).spec_for((10**5, 10**5), (48, 48)) is None
    with pytest.raises(ValueError, match="overlap"):
        Tiling(overlap=-0.1)


def test_segmenter_tiles_agree_with_whole_images(trained_run: Path, multiclass_root: Path) -> None:
    seg = Segmenter.from_checkpoint(trained_run / "best.pt")
    assert seg.info.window == (48, 48)  # the training crop, from the checkpoint's config
    images = torch.stack([read_image(p, 3) for p in sorted((multiclass_root / "test" / "images").iterdir())])
    whole = seg.labels(images)
    one_window = seg.labels(images, TileSpec((64, 64)))
    assert torch.equal(one_window, whole)
    tiled = seg.labels(images, TileSpec((40, 40), overlap=0.5))
    assert tiled.shape == whole.shape
    assert float((tiled == whole).float().mean()) > 0.95
    small = seg.labels(images, TileSpec((40, 40), overlap=0.5), dtype=torch.uint8)  # what predict writes
    assert small.dtype == torch.uint8 and torch.equal(small.long(), tiled)
    assert torch.equal(seg.labels(images, dtype=torch.uint8).long(), whole)
    probs = seg.tiled_probabilities(images[0], TileSpec((40, 40)))
    assert torch.allclose(probs.sum(0), torch.ones(64, 64), atol=1e-5)
    assert torch.equal(probs.argmax(0), tiled[0])


def test_predict_and_evaluate_tile_from_the_command_line(trained_run: Path, multiclass_root: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    images = multiclass_root / "test" / "images"
    args = ["seg", "predict", "--checkpoint", str(trained_run / "best.pt"), "--input", str(images), "--quiet"]
    main([*args, "--out", str(tmp_path / "whole"), "--whole"])
    main([*args, "--out", str(tmp_path / "auto"), "--tile-above", "1000"])
    assert "predicted in 48x48 tiles, overlap 0.5" in capsys.readouterr().err
    main([*args, "--out", str(tmp_path / "tiled"), "--tile", "40", "40", "--blend", "flat", "--probabilities"])
    for mask in sorted((tmp_path / "whole").glob("*.png")):
        whole = np.asarray(Image.open(mask))
        for other in ("auto", "tiled"):
            assert float((np.asarray(Image.open(tmp_path / other / mask.name)) == whole).mean()) > 0.9
        probs = np.load(tmp_path / "tiled" / f"{mask.stem}_prob.npy")
        assert np.array_equal(probs.argmax(0), np.asarray(Image.open(tmp_path / "tiled" / mask.name)))
    main(["seg", "evaluate", "--checkpoint", str(trained_run / "best.pt"), "--data", str(multiclass_root),
          "--quiet", "--tile", "40", "40", "--json", str(tmp_path / "scores.json")])
    whole_scores = evaluate_segmentation(Segmenter.from_checkpoint(trained_run / "best.pt"), multiclass_root,
                                         progress=False, tiling=None)
    tiled_scores_ = json.loads((tmp_path / "scores.json").read_text())
    assert abs(tiled_scores_["mean_iou"] - whole_scores["mean_iou"]) < 0.05


@pytest.mark.parametrize("tiling", [None, Tiling((40, 40), above=0)], ids=["whole", "tiled"])
def test_probabilities_come_from_the_same_pass_as_the_mask(trained_run: Path, multiclass_root: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          tiling: Tiling | None) -> None:
    seg = Segmenter.from_checkpoint(trained_run / "best.pt")
    calls = []
    forward = seg._model_logits
    monkeypatch.setattr(seg, "_model_logits", lambda x: calls.append(x.shape[0]) or forward(x))
    images = multiclass_root / "test" / "images"
    predict_files(seg, images, tmp_path / "masks", progress=False, tiling=tiling)
    alone = sum(calls)
    calls.clear()
    predict_files(seg, images, tmp_path / "both", probabilities=True, progress=False, tiling=tiling)
    assert sum(calls) == alone  # the model ran once per window, not again for the probabilities
    for mask in sorted((tmp_path / "masks").glob("*.png")):
        assert np.array_equal(np.asarray(Image.open(tmp_path / "both" / mask.name)), np.asarray(Image.open(mask)))
        probs = np.load(tmp_path / "both" / f"{mask.stem}_prob.npy")
        assert np.array_equal(probs.argmax(0), np.asarray(Image.open(mask)))


def test_whole_and_tile_together_are_refused(trained_run: Path, multiclass_root: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["seg", "predict", "--checkpoint", str(trained_run / "best.pt"), "--input",
              str(multiclass_root / "test" / "images"), "--out", str(tmp_path / "p"), "--whole", "--tile", "8", "8"])
    err = capsys.readouterr().err
    assert exit_info.value.code != 0 and "Traceback" not in err
    assert [line for line in err.splitlines() if line.strip()] == [
        "error: --whole and --tile contradict each other: choose one"]
    assert not (tmp_path / "p").exists()
