"""`--tensorboard`: the event files of segmentation and GAN runs, resume without duplicated steps, the missing
package as one line, and no event files unless asked."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import tiny_config, write_tiny_config
from segen.cli.main import main
from segen.config import RESUMABLE_CHANGES, GanConfig, check_resume
from segen.data import SyntheticSpec, write_folder_dataset
from segen.training import Trainer, train_segmentation
from segen.training.gan import train_gan

EventAccumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator").EventAccumulator

ALL = {"scalars": 0, "images": 0, "tensors": 0, "histograms": 0, "compressedHistograms": 0, "audio": 0}


def events(run: Path) -> Any:
    return EventAccumulator(str(run / "tensorboard"), size_guidance=ALL).Reload()


def steps(acc: Any, tag: str) -> list[int]:
    return [event.step for event in acc.Scalars(tag)]


def records(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_segmentation_run_logs_steps_epochs_overlays_and_config(multiclass_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    main(["seg", "train", "--data", str(multiclass_root), "--out", str(out), "--quiet", "--tensorboard",
          "--config", str(write_tiny_config(tmp_path / "tiny.yaml"))])
    acc = events(out)
    assert steps(acc, "train/loss") == steps(acc, "lr") == [1, 2, 3, 4, 5, 6]  # 3 steps per epoch, 2 epochs
    for tag in ("val/mean_iou", "val/loss", "val/iou/circle", "epoch/train/loss", "epoch/time_s"):
        assert steps(acc, tag) == [3, 6], tag
    lines = records(out)
    losses = [event.value for event in acc.Scalars("train/loss")]
    assert sum(losses[:3]) / 3 == pytest.approx(lines[0]["train/loss"], rel=1e-5)  # the agreed step values
    assert [event.value for event in acc.Scalars("val/mean_iou")] == pytest.approx([x["val/mean_iou"] for x in lines])
    overlays = acc.Images("val/overlays")
    assert [image.step for image in overlays] == [3, 6]
    assert overlays[0].height == overlays[1].height and overlays[0].width == overlays[1].width  # the same images
    (config,) = acc.Tensors("config/text_summary")
    text = config.tensor_proto.string_val[0].decode()
    assert "unet-small" in text and "tensorboard: true" in text
    assert yaml.safe_load((out / "config.yaml").read_text())["train"]["tensorboard"] is True


def _crash_at(step: int) -> Any:
    def callback(trainer: Trainer) -> None:
        if trainer.state.step == step:
            raise RuntimeError("simulated crash")

    return callback


def test_resume_purges_events_after_the_checkpoint(multiclass_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(RuntimeError, match="simulated crash"):  # last.pt at step 3; step 4 is logged, then lost
        train_segmentation(tiny_config(multiclass_root, out, epochs=2, tensorboard=True), progress=False,
                           step_callbacks=[_crash_at(5)])
    assert steps(events(out), "train/loss") == [1, 2, 3, 4]  # the crash still left what was written
    train_segmentation(tiny_config(multiclass_root, out, epochs=3, tensorboard=True), resume=True, progress=False)
    acc = events(out)
    assert steps(acc, "train/loss") == steps(acc, "lr") == list(range(1, 10))
    assert steps(acc, "val/mean_iou") == [3, 6, 9] == [x["step"] for x in records(out)]
    assert [image.step for image in acc.Images("val/overlays")] == [3, 6, 9]
    assert [event.step for event in acc.Tensors("config/text_summary")] == [0, 3]  # one per session


def test_tensorboard_may_be_turned_on_when_resuming(multiclass_root: Path, tmp_path: Path) -> None:
    assert "train.tensorboard" in RESUMABLE_CHANGES
    before, after = (tiny_config(multiclass_root, tmp_path, tensorboard=on).to_dict() for on in (False, True))
    check_resume(before, after)


def test_gan_run_logs_both_losses_beliefs_rates_and_samples(tmp_path: Path) -> None:
    root = write_folder_dataset(tmp_path / "data", SyntheticSpec(32, 32, num_classes=3), seed=5, splits={"train": 24})
    out = tmp_path / "run"
    cfg = GanConfig.from_dict({"model": {"name": "dcgan", "width": 8, "d_width": 8},
                               "data": {"root": str(root / "train" / "images")},
                               "optim": {"r1_gamma": 1.0, "r1_interval": 2}, "sample_count": 4,
                               "train": {"out": str(out), "epochs": 2, "batch_size": 8, "tensorboard": True}})
    train_gan(cfg, progress=False)
    acc = events(out)
    for tag in ("train/d_loss", "train/g_loss", "train/d_real", "train/d_fake", "lr/g", "lr/d"):
        assert steps(acc, tag) == [1, 2, 3, 4, 5, 6], tag
    assert steps(acc, "train/r1") == [1, 3, 5]  # the regulariser's own interval
    assert all(0 <= event.value <= 1 for event in acc.Scalars("train/d_real"))
    assert steps(acc, "epoch/train/g_loss") == [3, 6]
    assert [image.step for image in acc.Images("samples")] == [3, 6]
    assert len(acc.Tensors("config/text_summary")) == 1


@pytest.mark.parametrize("command", ["seg", "gan"])
def test_missing_package_is_one_line_before_any_work(command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # `import tensorboard` now fails
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    config = tmp_path / "run.yaml"
    config.write_text("train:\n  tensorboard: true\n")  # the YAML key asks as the flag does
    args = [command, "train", "--data", str(tmp_path), "--out", str(tmp_path / "out"), "--quiet"]
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--tensorboard"] if command == "seg" else [*args, "--config", str(config)])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err.strip() == ("error: --tensorboard needs the tensorboard package: pip install 'segen[tensorboard]'")
    assert not (tmp_path / "out").exists()


def test_no_event_files_without_the_flag(trained_run: Path) -> None:
    assert (trained_run / "last.pt").is_file() and not (trained_run / "tensorboard").exists()
