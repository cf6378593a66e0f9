"""Typed configs: YAML round trip, flag merging, validation, checkpoint atomicity."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from segen.checkpoint import Checkpoint, ModelSpec, SegDataSpec, load_checkpoint, save_checkpoint
from segen.config import GanConfig, SegConfig, load_yaml, merge, to_yaml
from segen.errors import CheckpointError, ConfigError
from segen.runtime import write_atomic


def test_round_trip(tmp_path: Path) -> None:
    cfg = SegConfig.from_dict({"data": {"root": "d", "image_size": [64, 96]}, "train": {"out": "o", "epochs": 3}})
    write_atomic(tmp_path / "c.yaml", to_yaml(cfg.to_dict()))
    again = SegConfig.from_dict(load_yaml(tmp_path / "c.yaml")).validate()
    assert again == cfg
    assert again.data.image_size == (64, 96)


def test_flags_override_file_but_none_does_not() -> None:
    merged = merge({"optim": {"lr": 0.1, "schedule": "poly"}}, {"optim": {"lr": 0.2, "schedule": None}})
    assert merged == {"optim": {"lr": 0.2, "schedule": "poly"}}


def test_type_and_range_errors_name_the_key() -> None:
    with pytest.raises(ConfigError, match="config.train.epochs: expected int"):
        SegConfig.from_dict({"train": {"epochs": "many"}})
    with pytest.raises(ConfigError, match="augment.resample_p"):
        SegConfig.from_dict({"data": {"root": "d", "augment": {"resample_p": 2}}, "train": {"out": "o"}}).validate()
    with pytest.raises(ConfigError, match="augment.preset"):
        SegConfig.from_dict({"data": {"root": "d", "augment": {"preset": "x"}}, "train": {"out": "o"}}).validate()
    with pytest.raises(ConfigError, match="data.root"):
        SegConfig().validate()
    base = {"data": {"root": "d"}, "train": {"out": "o"}}
    with pytest.raises(ConfigError, match="model.stem_stride"):
        SegConfig.from_dict({**base, "model": {"stem_stride": 0}}).validate()
    with pytest.raises(ConfigError, match="model.width"):
        GanConfig.from_dict({"model": {"name": "dcgan", "width": 0}, "data": {"root": "d"},
                             "train": {"out": "o"}}).validate()
    # names, options and choices of models are the registry's (tests/models/test_unet.py)


def test_class_weights_are_values_or_the_file_holding_them() -> None:
    base = {"data": {"root": "d"}, "train": {"out": "o"}}
    assert SegConfig.from_dict({**base, "class_weights": [1, 2.5]}).class_weights == [1.0, 2.5]
    assert SegConfig.from_dict({**base, "class_weights": "w.yaml"}).class_weights == "w.yaml"
    with pytest.raises(ConfigError, match="config.class_weights: expected a list"):
        SegConfig.from_dict({**base, "class_weights": 3})
    with pytest.raises(ConfigError, match="every weight must be > 0"):
        SegConfig.from_dict({**base, "class_weights": [0, 1]}).validate()


def test_epochs_default_depends_on_budget() -> None:
    assert SegConfig.from_dict({}).train.resolved_epochs() == 50
    assert SegConfig.from_dict({"train": {"max_time": 1}}).train.resolved_epochs() > 10_000


def _checkpoint(weights: dict[str, Any]) -> Checkpoint:
    data = SegDataSpec(class_names=["a", "b"], colors=[], mean=[0.5], std=[0.2], channels=1)
    return Checkpoint("segmentation", {"seed": 1}, ModelSpec("unet-small", {"depth": 2}, weights), data)


def test_checkpoint_is_atomic_and_weights_only(tmp_path: Path) -> None:
    path = tmp_path / "c.pt"
    save_checkpoint(_checkpoint({"w": torch.ones(2)}), path)
    with pytest.raises(Exception):  # noqa: B017 - an unpicklable object must not replace the old file
        save_checkpoint(_checkpoint({"w": lambda: 0}), path)  # type: ignore[dict-item]
    state = load_checkpoint(path, kind="segmentation")
    assert torch.equal(state.model.weights["w"], torch.ones(2)) and state.version == 2
    assert state.data == _checkpoint({}).data and state.training is None and state.config == {"seed": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == "segen-checkpoint" and raw["version"] == 2
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "missing.pt")
