"""GAN training through the shared Trainer: phases, logs, samples, checkpoints, resume, failure handling."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from segen.checkpoint import TrainingState, load_checkpoint
from segen.config import GanConfig
from segen.data import SyntheticSpec, write_folder_dataset
from segen.data.synthetic import write_paired_dataset
from segen.errors import TrainingStopped
from segen.inference.generator import Generator
from segen.models import Pix2PixGenerator, create_model
from segen.training.gan import GanTask, resolve_diffaugment, train_gan

SPEC = SyntheticSpec(32, 32, num_classes=3)


@pytest.fixture(scope="module")
def images_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("gan-images")
    write_folder_dataset(root, SPEC, seed=5, splits={"train": 24})
    return root / "train" / "images"


@pytest.fixture(scope="module")
def classes_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("gan-classes")
    rng = np.random.default_rng(0)
    for k, level in enumerate((40, 200)):
        (root / f"class{k}").mkdir()
        for i in range(8):
            pixels = np.clip(rng.normal(level, 10, (16, 16)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / f"class{k}" / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def pairs_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_paired_dataset(tmp_path_factory.mktemp("gan-pairs"), SPEC, seed=6, count=12)


def config(root: Path, out: Path, model: str = "dcgan", epochs: int = 2, **extra: Any) -> GanConfig:
    data: dict[str, Any] = {"name": model, "width": 8, "d_width": 8}
    if model == "pix2pix":
        data["depth"] = 5
    cfg = {"model": data, "data": {"root": str(root), **extra.pop("data", {})},
           "train": {"out": str(out), "epochs": epochs, "batch_size": 8, **extra.pop("train", {})}, **extra}
    return GanConfig.from_dict(cfg)


def _training(path: Path) -> TrainingState:
    state = load_checkpoint(path).training
    assert state is not None
    return state


def read_metrics(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_dcgan_run_logs_both_losses_and_discriminator_beliefs(images_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = train_gan(config(images_root, out, sample_every=3), progress=False)
    assert result.state.finished and result.state.epoch == 2
    records = read_metrics(out)
    for key in ("train/d_loss", "train/g_loss", "train/d_real", "train/d_fake"):
        assert all(np.isfinite(r[key]) for r in records), key
    assert all(0 <= r["train/d_real"] <= 1 and 0 <= r["train/d_fake"] <= 1 for r in records)
    assert (out / "samples.png").is_file() and (out / "samples" / "step-0000003.png").is_file()
    assert (out / "config.yaml").is_file() and not (out / "best.pt").exists()
    images = Generator.from_checkpoint(out / "last.pt").sample(5, seed=1)
    assert images.shape == (5, 3, 32, 32) and images.dtype == torch.uint8


def test_sampling_is_reproducible_and_uses_the_averaged_generator(images_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    train_gan(config(images_root, out, epochs=1), progress=False)
    generator = Generator.from_checkpoint(out / "last.pt")
    assert torch.equal(generator.sample(4, seed=3), generator.sample(4, seed=3))
    assert not torch.equal(generator.sample(4, seed=3), generator.sample(4, seed=4))
    state = load_checkpoint(out / "last.pt", kind="gan")
    assert state.training is not None
    raw, averaged = state.training.task["generator"], state.model.weights
    assert any(not torch.equal(raw[k], averaged[k]) for k in raw if raw[k].dtype.is_floating_point)


def test_resume_equals_an_uninterrupted_run(images_root: Path, tmp_path: Path) -> None:
    whole, split = tmp_path / "whole", tmp_path / "split"
    train_gan(config(images_root, whole, epochs=2), progress=False)
    train_gan(config(images_root, split, epochs=1), progress=False)
    train_gan(config(images_root, split, epochs=2), resume=True, progress=False)
    a = _training(whole / "last.pt").task["generator"]
    b = _training(split / "last.pt").task["generator"]
    for key in a:
        assert torch.allclose(a[key].float(), b[key].float(), atol=1e-5), key


@pytest.mark.parametrize("loss", ["minimax", "lsgan", "hinge", "wgan-gp"])
def test_every_loss_trains(loss: str, images_root: Path, tmp_path: Path) -> None:
    norm = {"d_norm": "none"} if loss == "wgan-gp" else {}
    cfg = config(images_root, tmp_path / "run", epochs=1, loss=loss)
    cfg = GanConfig.from_dict({**cfg.to_dict(), "model": {**cfg.to_dict()["model"], **norm}})
    train_gan(cfg, progress=False)
    record = read_metrics(tmp_path / "run")[-1]
    assert np.isfinite(record["train/d_loss"]) and np.isfinite(record["train/g_loss"])
    if loss == "wgan-gp":
        assert record["train/gp"] >= 0


def test_r1_penalty_is_applied_at_its_interval(images_root: Path, tmp_path: Path) -> None:
    cfg = config(images_root, tmp_path / "run", epochs=1, optim={"r1_gamma": 1.0, "r1_interval": 2})
    train_gan(cfg, progress=False)
    assert read_metrics(tmp_path / "run")[-1]["train/r1"] >= 0


def test_cgan_on_class_folders_samples_the_asked_class(classes_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    train_gan(config(classes_root, out, model="cgan", epochs=1), progress=False)
    generator = Generator.from_checkpoint(out / "last.pt")
    assert generator.info.class_names == ["class0", "class1"]
    assert generator.sample(3, labels=1).shape == (3, 1, 16, 16)
    assert not torch.equal(generator.sample(3, seed=0, labels=0), generator.sample(3, seed=0, labels=1))
    grid = np.asarray(Image.open(out / "samples.png"))
    assert grid.shape[1] < grid.shape[0]  # 64 samples in 2 columns, one per class: a tall grid


def test_pix2pix_validates_on_held_out_ids_and_translates(pairs_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    cfg = config(pairs_root, out, model="pix2pix", data={"ids": "1-9", "val_ids": "10-12"}, train={"batch_size": 4})
    train_gan(cfg, progress=False)
    records = read_metrics(out)
    assert all("val/l1" in r and "train/l1" in r for r in records)
    assert (out / "best.pt").is_file()
    generator = Generator.from_checkpoint(out / "best.pt")
    assert generator.translate_file(pairs_root / "A" / "11.png").shape == (3, 32, 32)
    grid = np.asarray(Image.open(out / "samples.png"))
    assert grid.shape[1] > 3 * 32  # input | generated | real
    assert load_checkpoint(out / "best.pt").model.kwargs["generator"] == "unet"  # stored, not implied


def test_pix2pix_checkpoints_from_before_the_generator_choice_load_the_papers(tmp_path: Path) -> None:
    pair = create_model("pix2pix", generator="paper", width=4, d_width=4, image_size=(32, 32))
    kwargs = {"width": 4, "d_width": 4, "image_size": (32, 32), "channels": 3, "in_channels": 3}
    payload = {"format": "segen-checkpoint", "version": 1, "kind": "gan",
               "model": {"name": "pix2pix", "kwargs": kwargs, "generator": pair.generator.state_dict()},
               "data": {"image_size": [32, 32], "channels": 3, "in_channels": 3, "class_names": []}}
    torch.save(payload, tmp_path / "old.pt")  # a version 1 file, as an earlier segen wrote it
    generator = Generator.from_checkpoint(tmp_path / "old.pt")
    assert isinstance(generator.network, Pix2PixGenerator)


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(images_root: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "run"
    train_gan(config(images_root, out, epochs=1), progress=False)
    good = _training(out / "last.pt").trainer["step"]
    original = GanTask._adversarial_step

    def broken(self: GanTask, *args: Any) -> dict[str, torch.Tensor]:
        logs = original(self, *args)
        logs["d_loss"] = torch.tensor(float("nan"))
        return logs

    monkeypatch.setattr(GanTask, "_adversarial_step", broken)
    with pytest.raises(TrainingStopped, match="d_loss became non-finite"):
        train_gan(config(images_root, out, epochs=2), resume=True, progress=False)
    assert _training(out / "last.pt").trainer["step"] == good


def test_diffaugment_auto_only_for_small_unpaired_sets() -> None:
    assert resolve_diffaugment(["auto"], "none", 100) == ("color", "translation", "cutout")
    assert resolve_diffaugment(["auto"], "none", 60000) == ()
    assert resolve_diffaugment(["auto"], "image", 100) == ()
    assert resolve_diffaugment(["none"], "class", 100) == ()
    assert resolve_diffaugment(["translation"], "none", 60000) == ("translation",)
