"""Training runs, checkpoints, resume and the time budget."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from conftest import tiny_config
from segen.checkpoint import load_checkpoint
from segen.errors import ConfigError
from segen.training import Trainer, train_segmentation
from segen.training.schedule import lr_factor


def _stop_after(epoch: int) -> Any:
    def callback(trainer: Trainer, record: dict[str, Any]) -> None:
        if record["epoch"] == epoch:
            trainer.request_stop()

    return callback


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(run / "last.pt").model.weights


def test_run_folder_describes_itself(trained_run: Path) -> None:
    assert (trained_run / "config.yaml").is_file()
    lines = [json.loads(x) for x in (trained_run / "metrics.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in lines] == [1, 2]
    assert {"train/loss", "val/loss", "val/mean_iou", "val/mean_dice", "val/iou/circle"} <= set(lines[0])
    state = torch.load(trained_run / "best.pt", weights_only=True)
    assert state["format"] == "segen-checkpoint" and state["kind"] == "segmentation"
    assert state["config"]["model"]["name"] == "unet-small"
    assert state["data"]["class_names"][1] == "circle"
    assert not list(trained_run.glob(".*tmp*"))


def test_resume_matches_uninterrupted_run(multiclass_root: Path, tmp_path: Path) -> None:
    full = train_segmentation(tiny_config(multiclass_root, tmp_path / "full", epochs=3), progress=False)
    assert full.state.epoch == 3 and full.state.finished
    cfg = tiny_config(multiclass_root, tmp_path / "split", epochs=3)
    first = train_segmentation(cfg, progress=False, callbacks=[_stop_after(2)])
    assert first.interrupted and first.state.epoch == 2 and not first.state.finished
    second = train_segmentation(cfg, resume=True, progress=False)
    assert second.state.epoch == 3
    a, b = _weights(tmp_path / "full"), _weights(tmp_path / "split")
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6, msg=key)
    la = (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()[-1]
    lb = (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()[-1]
    assert json.loads(la)["val/mean_iou"] == pytest.approx(json.loads(lb)["val/mean_iou"], abs=1e-6)


def test_refuses_to_overwrite_a_run(trained_run: Path, multiclass_root: Path) -> None:
    before = (trained_run / "last.pt").read_bytes()
    with pytest.raises(ConfigError, match="already holds a run"):
        train_segmentation(tiny_config(multiclass_root, trained_run), progress=False)
    assert (trained_run / "last.pt").read_bytes() == before


def test_time_budget_stops_cleanly(multiclass_root: Path, tmp_path: Path) -> None:
    cfg = tiny_config(multiclass_root, tmp_path / "timed", epochs=10_000, max_time=0.05)
    result = train_segmentation(cfg, progress=False)
    assert result.state.step >= 1 and result.state.epoch < 10_000 and result.state.finished
    last = json.loads((tmp_path / "timed" / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["step"] == result.state.step  # the cut epoch is validated and logged
    assert result.state.elapsed < 0.05 * 60 + 10
    assert (tmp_path / "timed" / "last.pt").is_file() and (tmp_path / "timed" / "best.pt").is_file()


def test_schedule_warmup_and_decay() -> None:
    assert lr_factor(0, 0.0, 10, "cosine", 0.0) == pytest.approx(0.1)
    assert lr_factor(9, 0.0, 10, "cosine", 0.0) == pytest.approx(1.0)
    assert lr_factor(100, 0.5, 10, "cosine", 0.0) == pytest.approx(0.5)
    assert lr_factor(100, 1.0, 10, "cosine", 0.1) == pytest.approx(0.1)
    assert lr_factor(100, 1.0, 10, "poly", 0.0) == pytest.approx(0.0)
    assert lr_factor(100, 0.3, 0, "constant", 0.0) == 1.0
