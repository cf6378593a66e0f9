"""Test-time augmentation and ensembles: transforms undone exactly, probabilities averaged, mismatches refused."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from segen.cli.main import main
from segen.errors import ConfigError
from segen.inference import Ensemble, Segmenter
from segen.inference.segmenter import check_compatible
from segen.inference.tta import apply, invert, tta_scores, tta_transforms


@pytest.mark.parametrize(("mode", "count"), [("none", 1), ("hflip", 2), ("flip", 4), ("d4", 8)])
def test_transforms_are_distinct_and_undone_exactly(mode: str, count: int) -> None:
    images = torch.arange(2 * 3 * 5 * 7, dtype=torch.float32).view(2, 3, 5, 7)
    transforms = tta_transforms(mode)
    assert len(transforms) == count
    seen = {(tuple(apply(images, t).shape), tuple(apply(images, t).flatten().tolist())) for t in transforms}
    assert len(seen) == count
    for transform in transforms:
        assert torch.equal(invert(apply(images, transform), transform), images)
    with pytest.raises(ValueError, match="unknown TTA mode"):
        tta_transforms("rot")


def test_tta_average_is_symmetric_and_keeps_pixelwise_models() -> None:
    images = torch.rand(1, 3, 6, 9)

    def pixelwise(x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.mean(1, keepdim=True), 1 - x.mean(1, keepdim=True)], dim=1)

    assert torch.allclose(tta_scores(pixelwise, images, "d4"), pixelwise(images), atol=1e-6)

    def left_heavy(x: torch.Tensor) -> torch.Tensor:  # depends on where a pixel is, not only on its value
        ramp = torch.linspace(0, 1, x.shape[-1]).expand(x.shape[0], 1, *x.shape[-2:])
        return torch.cat([ramp * x[:, :1], 1 - ramp * x[:, :1]], dim=1)

    averaged = tta_scores(left_heavy, images, "flip")
    assert torch.allclose(tta_scores(left_heavy, images.flip(-1), "flip"), averaged.flip(-1), atol=1e-6)
    assert not torch.allclose(averaged, left_heavy(images), atol=1e-3)


def test_segmenter_tta_averages_the_passes(trained_run: Path) -> None:
    plain = Segmenter.from_checkpoint(trained_run / "best.pt")
    flip = Segmenter.from_checkpoint(trained_run / "best.pt", tta="flip")
    calls: list[tuple[int, ...]] = []
    flip.model.register_forward_hook(lambda module, args, output: calls.append(tuple(args[0].shape)))
    images = torch.randint(0, 256, (2, 3, 37, 53), dtype=torch.uint8)
    probs = flip.scores(images)
    assert len(calls) == 4 and probs.shape == (2, 4, 37, 53)
    assert torch.allclose(probs.sum(1), torch.ones(2, 37, 53), atol=1e-5)
    expected = sum(invert(plain.scores(apply(images, t)), t) for t in tta_transforms("flip")) / 4
    assert torch.allclose(probs, expected, atol=1e-5)
    assert torch.equal(flip.labels(images), probs.argmax(1))
    with pytest.raises(ValueError, match="unknown TTA mode"):
        Segmenter.from_checkpoint(trained_run / "best.pt", tta="spin")


def test_an_ensemble_averages_its_members(trained_run: Path) -> None:
    single = Segmenter.from_checkpoint(trained_run / "best.pt")
    assert isinstance(Ensemble.from_checkpoints([trained_run / "best.pt"]), Segmenter)
    pair = Ensemble.from_checkpoints([trained_run / "best.pt", trained_run / "last.pt"])
    assert isinstance(pair, Ensemble) and len(pair.members) == 2
    last = Segmenter.from_checkpoint(trained_run / "last.pt")
    images = torch.randint(0, 256, (1, 3, 40, 44), dtype=torch.uint8)
    assert torch.allclose(pair.scores(images), (single.scores(images) + last.scores(images)) / 2, atol=1e-6)
    assert torch.equal(pair.labels(images), pair.scores(images).argmax(1))


def test_an_ensemble_refuses_models_of_other_classes(trained_run: Path) -> None:
    info = Segmenter.from_checkpoint(trained_run / "best.pt").info
    other = dataclasses.replace(info, class_names=["a", "b"])
    with pytest.raises(ConfigError, match=r"b\.pt: classes \['a', 'b'\] differ from a\.pt's"):
        check_compatible(info, other, "a.pt", "b.pt")
    with pytest.raises(ConfigError, match="input channels 1 differ"):
        check_compatible(info, dataclasses.replace(info, channels=1), "a.pt", "b.pt")


def test_evaluate_an_ensemble_with_tta_from_the_command_line(trained_run: Path, multiclass_root: Path,
                                                             tmp_path: Path) -> None:
    out = tmp_path / "scores.json"
    main(["seg", "evaluate", "--checkpoint", str(trained_run / "best.pt"), "--checkpoint",
          str(trained_run / "last.pt"), "--data", str(multiclass_root), "--tta", "d4", "--quiet", "--json", str(out)])
    scores = json.loads(out.read_text())
    assert 0 <= scores["mean_iou"] <= 1 and scores["images"] > 0
