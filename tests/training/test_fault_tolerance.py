"""Faults during training: stops mid-epoch, periodic checkpoints, non-finite losses, bad images, resume rules."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from conftest import run_segen, tiny_config, write_tiny_config
from segen.checkpoint import load_checkpoint
from segen.config import OptimConfig, SegConfig, parse_interval
from segen.errors import ConfigError, TrainingStopped
from segen.runtime import ignore_interrupts
from segen.training import Trainer, train_segmentation
from segen.training.sampling import ResumableSampler


def _config(root: Path, out: Path, epochs: int = 2, **train: Any) -> SegConfig:
    """Tiny runs of 6 steps per epoch (12 images seen twice, batch 4), no periodic checkpoint unless asked."""
    cfg = tiny_config(root, out, epochs=epochs, **{"checkpoint_every": "off", **train})
    return dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, min_epoch_samples=16))


def _stop_at_step(step: int) -> Any:
    def callback(trainer: Trainer) -> None:
        if trainer.state.step == step:
            trainer.request_stop()

    return callback


def _trainer(path: Path) -> dict[str, Any]:
    training = load_checkpoint(path).training
    assert training is not None
    return training.trainer


def _assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = load_checkpoint(a).model.weights, load_checkpoint(b).model.weights
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key


def test_stop_mid_epoch_resumes_at_the_same_batch(multiclass_root: Path, tmp_path: Path) -> None:
    full = train_segmentation(_config(multiclass_root, tmp_path / "full"), progress=False)
    assert full.state.step == 12
    cfg = _config(multiclass_root, tmp_path / "cut")
    first = train_segmentation(cfg, progress=False, step_callbacks=[_stop_at_step(2)])
    saved = _trainer(tmp_path / "cut" / "last.pt")
    assert first.interrupted and (saved["epoch"], saved["epoch_step"], saved["step"]) == (0, 2, 2)
    with open(tmp_path / "cut" / "metrics.jsonl", "a") as log:  # as if an epoch's end wrote it, then died
        log.write(json.dumps({"epoch": 1, "step": 2, "train/loss": 9.0}) + "\n")
    second = train_segmentation(cfg, resume=True, progress=False)
    assert second.state.step == 12 and second.state.finished
    _assert_same_weights(tmp_path / "full" / "last.pt", tmp_path / "cut" / "last.pt")
    assert _same_records((tmp_path / "full" / "metrics.jsonl").read_text(),
                         (tmp_path / "cut" / "metrics.jsonl").read_text())


def _same_records(a: str, b: str) -> bool:
    ra = [json.loads(x) for x in a.splitlines()]
    rb = [json.loads(x) for x in b.splitlines()]
    drop = ("time_s",)
    return [{k: v for k, v in r.items() if k not in drop} for r in ra] == [
        {k: v for k, v in r.items() if k not in drop} for r in rb]


def test_stop_in_the_last_epoch_still_finishes_it(multiclass_root: Path, tmp_path: Path) -> None:
    cfg = _config(multiclass_root, tmp_path / "run", epochs=1)
    train_segmentation(cfg, progress=False, step_callbacks=[_stop_at_step(3)])
    resumed = train_segmentation(cfg, resume=True, progress=False)
    assert resumed.state.step == 6 and resumed.state.epoch == 1 and resumed.state.finished
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 1


def test_periodic_checkpoint_every_n_steps(multiclass_root: Path, tmp_path: Path) -> None:
    seen: list[int] = []

    def spy(trainer: Trainer) -> None:
        if trainer.last_path.is_file():
            seen.append(_trainer(trainer.last_path)["step"])

    train_segmentation(_config(multiclass_root, tmp_path / "run", epochs=1, checkpoint_every="3steps"),
                       progress=False, step_callbacks=[spy])
    assert seen[:2] == [3, 3]  # written right after step 3, mid-epoch, before the epoch's end at step 6


def test_checkpoint_interval_parsing() -> None:
    assert parse_interval("10m").seconds == 600
    assert parse_interval("90s").seconds == 90
    assert parse_interval("500steps").steps == 500
    assert parse_interval("off").steps is None and parse_interval("off").seconds is None
    for bad in ("soon", "-3m", "1.5steps", "10 parsecs"):
        with pytest.raises(ConfigError, match="checkpoint_every"):
            parse_interval(bad)


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(multiclass_root: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from segen.training.seg import SegmentationTask

    out = tmp_path / "run"
    train_segmentation(_config(multiclass_root, out, epochs=1), progress=False)
    before = (out / "last.pt").read_bytes()
    original = SegmentationTask.train_step

    def poisoned(self: SegmentationTask, batch: Any, step: int, progress: float) -> dict[str, torch.Tensor]:
        logs = original(self, batch, step, progress)
        return {"loss": logs["loss"] * float("nan")} if step == 7 else logs

    monkeypatch.setattr(SegmentationTask, "train_step", poisoned)
    with pytest.raises(TrainingStopped, match=r"loss became non-finite at step 8.*last good checkpoint.*step 6"):
        train_segmentation(_config(multiclass_root, out, epochs=2), resume=True, progress=False)
    assert (out / "last.pt").read_bytes() == before


def test_zero_class_weight_is_refused(multiclass_root: Path, tmp_path: Path) -> None:
    cfg = dataclasses.replace(_config(multiclass_root, tmp_path / "run"), class_weights=[0.0, 1.0, 1.0, 1.0])
    with pytest.raises(ConfigError, match="class_weights: every weight must be > 0"):
        train_segmentation(cfg, progress=False)
    assert not (tmp_path / "run").exists()


def test_new_run_refuses_a_folder_that_is_not_empty(multiclass_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "config.yaml").write_text("my own notes\n")
    (out / "metrics.jsonl").write_text("precious\n")
    with pytest.raises(ConfigError, match="not empty"):
        train_segmentation(_config(multiclass_root, out), progress=False)
    assert (out / "config.yaml").read_text() == "my own notes\n"
    assert (out / "metrics.jsonl").read_text() == "precious\n"


def test_demo_never_deletes_what_it_did_not_write(tmp_path: Path) -> None:
    out = tmp_path / "work"
    (out / "run").mkdir(parents=True)
    (out / "run" / "thesis.tex").write_text("years of work")
    result = run_segen("demo", "--out", str(out), "--minutes", "0.01")
    assert result.returncode != 0 and "thesis.tex" in result.stderr and "Traceback" not in result.stderr
    assert (out / "run" / "thesis.tex").read_text() == "years of work"
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("keep")
    result = run_segen("demo", "--out", str(other), "--minutes", "0.01")
    assert result.returncode != 0 and "not a segen demo folder" in result.stderr
    assert sorted(p.name for p in other.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize(("change", "name"), [({"seed": 7}, "train.seed"), ({"ema": None}, "optim.ema_decay"),
                                               ({"batch_size": 2}, "train.batch_size")])
def test_resume_keeps_the_runs_own_settings(trained_run: Path, multiclass_root: Path, tmp_path: Path,
                                            change: dict[str, Any], name: str) -> None:
    import shutil

    run = Path(shutil.copytree(trained_run, tmp_path / "run"))
    cfg = tiny_config(multiclass_root, run, epochs=3)
    if "ema" in change:
        cfg = dataclasses.replace(cfg, optim=OptimConfig(ema_decay=None))
    else:
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, **change))
    before = (run / "last.pt").read_bytes()
    with pytest.raises(ConfigError, match=rf"--resume: {name} would change"):
        train_segmentation(cfg, resume=True, progress=False)
    assert (run / "last.pt").read_bytes() == before


def test_resume_through_the_cli_names_a_differing_flag(trained_run: Path, tmp_path: Path) -> None:
    import shutil

    run = Path(shutil.copytree(trained_run, tmp_path / "run"))
    result = run_segen("seg", "train", "--out", str(run), "--resume", "--seed", "9")
    assert result.returncode == 1 and "train.seed would change from 0 to 9" in result.stderr
    assert "Traceback" not in result.stderr
    more = run_segen("seg", "train", "--out", str(run), "--resume", "--epochs", "3", "--quiet")
    assert more.returncode == 0, more.stderr
    assert _trainer(run / "last.pt")["epoch"] == 3


class _Slow(Dataset[torch.Tensor]):
    def __len__(self) -> int:
        return 64

    def __getitem__(self, index: int) -> torch.Tensor:
        time.sleep(0.02)
        return torch.tensor(index)


def _interrupt_worker(init: Any) -> int:
    """Batches a spawned-worker loader still delivers after its worker gets SIGINT."""
    loader = DataLoader(_Slow(), batch_size=2, num_workers=1, multiprocessing_context="spawn", worker_init_fn=init)
    iterator = iter(loader)
    next(iterator)
    os.kill(iterator._workers[0].pid, signal.SIGINT)  # type: ignore[attr-defined]
    time.sleep(0.3)
    return sum(1 for _ in iterator)


def test_spawned_workers_survive_ctrl_c() -> None:
    assert _interrupt_worker(ignore_interrupts) == 31  # the worker carries on; the main process decides
    with pytest.raises(RuntimeError, match="DataLoader worker"):
        _interrupt_worker(None)  # without it the worker dies: what lost a run's last epoch before


@pytest.mark.parametrize("workers", [0, 1])
def test_corrupt_image_mid_epoch_is_one_line_and_keeps_the_checkpoint(data_copy: Path, tmp_path: Path,
                                                                      workers: int) -> None:
    cfg = _config(data_copy, tmp_path / "run", epochs=2, checkpoint_every="2steps")
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, cache="no", num_workers=workers))
    images = sorted((data_copy / "train" / "images").iterdir())

    def corrupt(trainer: Trainer) -> None:
        if trainer.state.step == 2:
            for path in images:  # headers survive, pixels do not
                path.write_bytes(path.read_bytes()[:200])

    with pytest.raises(TrainingStopped) as caught:
        train_segmentation(cfg, progress=False, step_callbacks=[corrupt])
    message = str(caught.value)
    assert "\n" not in message and "cannot read image" in message and any(p.name in message for p in images)
    assert "last good checkpoint" in message and "Traceback" not in message
    kept = int(re.search(r"last good checkpoint is .* \(step (\d+)\)", message).group(1))  # type: ignore[union-attr]
    assert kept >= 2 and _trainer(tmp_path / "run" / "last.pt")["step"] == kept
    assert multiprocessing.active_children() == []  # the persistent workers stopped with the run, not at some gc


def test_undecodable_image_is_caught_before_any_work(data_copy: Path, tmp_path: Path) -> None:
    victim = sorted((data_copy / "train" / "images").iterdir())[3]
    victim.write_bytes(b"not a picture at all")
    config = write_tiny_config(tmp_path / "tiny.yaml", data_copy, epochs=1)
    result = run_segen("seg", "train", "--config", str(config), "--out", str(tmp_path / "run"), "--quiet")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: {victim}")
    assert not (tmp_path / "run" / "last.pt").exists()


def test_sampler_resumes_mid_epoch_with_the_same_samples_and_seeds() -> None:
    sampler = ResumableSampler(10, batch_size=3, seed=5, min_samples=20)
    sampler.set_epoch(2)
    whole = list(sampler)
    assert len(whole) == 18 and sampler.batches_per_epoch == 6
    sampler.set_epoch(2, start_batch=4)
    assert list(sampler) == whole[12:]
    sampler.set_epoch(3)
    assert [i for i, _ in sampler] != [i for i, _ in whole]
