"""`segen seg evaluate`: the boundary table, per-image JSON, --spacing and --boundary-tolerance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from segen.cli.main import main


def evaluate(run: Path, root: Path, json_path: Path, capsys: pytest.CaptureFixture[str],
             *extra: str) -> tuple[str, dict[str, Any]]:
    main(["seg", "evaluate", "--checkpoint", str(run / "best.pt"), "--data", str(root), "--json", str(json_path),
          "--quiet", *extra])
    return capsys.readouterr().out, json.loads(json_path.read_text())


def test_text_and_json_hold_boundary_and_per_image_scores(trained_run: Path, multiclass_root: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    out, scores = evaluate(trained_run, multiclass_root, tmp_path / "scores.json", capsys)
    header = next(line for line in out.splitlines() if "hd95" in line)
    assert header.split() == ["class", "hd95", "assd", "boundary_f1", "both_present", "one_sided"]
    assert "mean_hd95" in out and "mean_assd" in out and "mean_boundary_f1" in out
    assert "in pixels" in out and "within 2 px" in out
    assert {"mean_hd95", "mean_assd", "mean_boundary_f1", "surface", "per_image"} <= set(scores)
    assert len(scores["per_image"]) == 4
    for entry in scores["per_image"]:
        assert set(entry) == {"image", "mean_iou", "mean_dice", "mean_hd95", "mean_assd", "mean_boundary_f1",
                              "per_class"}
        assert entry["image"].startswith("test/images/test_")
        assert set(entry["per_class"]["circle"]) == {"iou", "dice", "hd95", "assd", "boundary_f1"}


def test_spacing_scales_hd95(trained_run: Path, multiclass_root: Path, tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    _, plain = evaluate(trained_run, multiclass_root, tmp_path / "plain.json", capsys)
    out, scaled = evaluate(trained_run, multiclass_root, tmp_path / "scaled.json", capsys, "--spacing", "3", "3")
    assert "units of the spacing (sy 3, sx 3)" in out
    assert scaled["mean_hd95"] == pytest.approx(3 * plain["mean_hd95"])
    for name, per in plain["per_class"].items():
        if per["hd95"] is not None:
            assert scaled["per_class"][name]["hd95"] == pytest.approx(3 * per["hd95"])
        assert scaled["per_class"][name]["boundary_f1"] == per["boundary_f1"]  # the tolerance stays in pixels


@pytest.mark.parametrize(("extra", "fragment"), [
    (["--spacing", "0", "1"], "--spacing"),
    (["--spacing", "1", "nan"], "--spacing"),
    (["--spacing", "1"], "--spacing"),
    (["--boundary-tolerance", "-1"], "--boundary-tolerance"),
    (["--boundary-tolerance", "inf"], "--boundary-tolerance"),
])
def test_bad_values_end_in_one_error_line(extra: list[str], fragment: str, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    # checked before the (missing) checkpoint is looked at
    with pytest.raises(SystemExit) as exit_info:
        main(["seg", "evaluate", "--checkpoint", str(tmp_path / "missing.pt"), "--data", str(tmp_path), *extra])
    assert exit_info.value.code not in (0, None)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], lines
    assert "missing.pt" not in lines[0]


def test_a_unetplusplus_run_is_evaluated_and_predicted_with_a_pruned_head(multiclass_root: Path, tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "nested"
    main(["seg", "train", "--data", str(multiclass_root), "--out", str(run), "--model", "unetplusplus-small",
          "--epochs", "1", "--image-size", "48", "48", "--quiet", "--workers", "0"])
    config = (run / "config.yaml").read_text()
    assert "deep_supervision: null" in config  # the preset's choice (on) is kept
    _, full = evaluate(run, multiclass_root, tmp_path / "full.json", capsys)
    _, pruned = evaluate(run, multiclass_root, tmp_path / "pruned.json", capsys, "--prune", "1")
    assert 0.0 <= pruned["mean_iou"] <= 1.0 and pruned["per_image"] != full["per_image"]
    main(["seg", "predict", "--checkpoint", str(run / "best.pt"), "--input", str(multiclass_root / "test" / "images"),
          "--out", str(tmp_path / "masks"), "--prune", "2", "--quiet"])
    assert len(list((tmp_path / "masks").glob("*.png"))) == 4


@pytest.mark.parametrize(("model", "prune", "fragment"), [
    ("unetplusplus-small", "9", "--prune 9: prune must be a head from 1 to 4"),
    ("unet-small", "1", "--prune applies to UNet++ models only"),
])
def test_a_wrong_prune_is_one_error_line(model: str, prune: str, fragment: str, multiclass_root: Path,
                                         tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    main(["seg", "train", "--data", str(multiclass_root), "--out", str(run), "--model", model, "--epochs", "1",
          "--image-size", "48", "48", "--quiet", "--workers", "0"])
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["seg", "evaluate", "--checkpoint", str(run / "best.pt"), "--data", str(multiclass_root), "--prune",
              prune, "--quiet"])
    assert exit_info.value.code not in (0, None)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and fragment in lines[0] and "best.pt" in lines[0], lines


def test_deep_supervision_is_refused_for_a_model_without_it(multiclass_root: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["seg", "train", "--data", str(multiclass_root), "--out", str(tmp_path / "run"), "--model",
              "attention-unet-small", "--no-deep-supervision", "--epochs", "1"])
    assert exit_info.value.code not in (0, None)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and "deep_supervision" in lines[0] and "attention-unet-small" in lines[0], lines
    assert not (tmp_path / "run").exists()
