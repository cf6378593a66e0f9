"""Shared fixtures: tiny synthetic datasets and a tiny trained checkpoint, made once per session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import pytest
import torch
import yaml

from segen.checkpoint import Checkpoint, GanDataSpec, ModelSpec, SegDataSpec, save_checkpoint
from segen.config import DataConfig, ModelConfig, SegConfig, TrainConfig
from segen.data import SyntheticSpec, write_folder_dataset
from segen.models import GANPair, create_model

torch.set_num_threads(min(2, os.cpu_count() or 1))

pytest_plugins = ["serving"]  # the web app's fixtures

TINY_SPLITS = {"train": 12, "val": 4, "test": 4}


def tiny_config(root: Path, out: Path, epochs: int = 2, **train: object) -> SegConfig:
    """A fast run on tiny data: unet-small at depth 3, 48x48 crops, one pass per epoch."""
    return SegConfig(
        model=ModelConfig(name="unet-small", depth=3, base_width=8),
        data=DataConfig(root=str(root), image_size=(48, 48), min_epoch_samples=0, num_workers=0),
        train=TrainConfig(out=str(out), epochs=epochs, batch_size=4, seed=0, **train),  # type: ignore[arg-type]
    )


def write_tiny_config(path: Path, root: Path | None = None, epochs: int = 2) -> Path:
    """The same tiny settings as a YAML file for the command line."""
    data = {"model": {"name": "unet-small", "depth": 3, "base_width": 8},
            "data": {"image_size": [48, 48], "min_epoch_samples": 0, "num_workers": 0},
            "train": {"epochs": epochs, "batch_size": 4}}
    if root is not None:
        data["data"]["root"] = str(root)
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="session")
def multiclass_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4-class synthetic shapes, 64x64, with train/val/test splits."""
    root = tmp_path_factory.mktemp("multiclass")
    return write_folder_dataset(root, SyntheticSpec(64, 64, num_classes=4), seed=3, splits=TINY_SPLITS)


@pytest.fixture(scope="session")
def binary_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Binary synthetic shapes, 64x64, no classes.yaml, masks stored as 0/255, no val split."""
    root = tmp_path_factory.mktemp("binary")
    write_folder_dataset(root, SyntheticSpec(64, 64, num_classes=2, channels=1), seed=4,
                         splits={"train": 12, "test": 4})
    (root / "classes.yaml").unlink()
    import numpy as np
    from PIL import Image

    for mask in root.glob("*/masks/*.png"):
        Image.fromarray((np.asarray(Image.open(mask)) * 255).astype(np.uint8)).save(mask)
    return root


@pytest.fixture(scope="session")
def trained_run(multiclass_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 2-epoch run on the multi-class data (its folder)."""
    from segen.training import train_segmentation

    out = tmp_path_factory.mktemp("runs") / "multi"
    train_segmentation(tiny_config(multiclass_root, out), progress=False)
    return out


@pytest.fixture()
def data_copy(multiclass_root: Path, tmp_path: Path) -> Path:
    """A private copy of the multi-class data that a test may damage."""
    return Path(shutil.copytree(multiclass_root, tmp_path / "data"))


def segen_command() -> list[str]:
    """The installed `segen` console script (or the module, if the script is not on disk)."""
    script = Path(sys.executable).parent / "segen"
    return [str(script)] if script.exists() else [sys.executable, "-m", "segen.cli.main"]


def run_segen(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the real `segen` command."""
    return subprocess.run([*segen_command(), *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})


#: The smallest U-Net: checkpoints of it are made in milliseconds.
TINY_UNET = {"base_width": 4, "depth": 2}


def seg_checkpoint(path: Path, name: str = "unet-small", classes: int = 3, channels: int = 3,
                   max_value: float = 255.0, **kwargs: Any) -> Path:
    """An untrained (seeded) segmentation checkpoint of `name`, written without training."""
    torch.manual_seed(0)
    model_kwargs = {**kwargs, "in_channels": channels, "num_classes": classes}
    model = create_model(name, **model_kwargs)
    data = SegDataSpec([f"c{i}" for i in range(max(classes, 2))], [[i * 60, 0, 0] for i in range(max(classes, 2))],
                       [0.4] * channels, [0.2] * channels, channels, max_value=max_value)
    return save_checkpoint(Checkpoint("segmentation", {}, ModelSpec(name, model_kwargs, model.state_dict()), data),
                           path)


def gan_checkpoint(path: Path, name: str, **kwargs: Any) -> Path:
    """An untrained (seeded) GAN checkpoint of `name` built with `kwargs`."""
    torch.manual_seed(0)
    pair = cast(GANPair, create_model(name, **kwargs))
    classes = [f"k{i}" for i in range(int(kwargs.get("num_classes", 0)))]
    data = GanDataSpec(list(kwargs["image_size"]), int(kwargs["channels"]), kwargs.get("in_channels"), classes)
    return save_checkpoint(Checkpoint("gan", {}, ModelSpec(name, kwargs, pair.generator.state_dict()), data), path)
