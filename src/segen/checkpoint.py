"""The checkpoint file format: typed payloads of tensors and plain data, versioned, written atomically.

A checkpoint says what kind of run wrote it (`segmentation` or `gan`), the run's resolved config,
how to rebuild the model (`ModelSpec`: registry name, keyword arguments, weights), what inference
needs to know about the data (`SegDataSpec` or `GanDataSpec`), the last metrics and, in training
checkpoints, where training stands (`TrainingState`). On disk it is a plain dict that loads with
`torch.load(weights_only=True)`; version 1 files (before the typed payloads) still load.
"""

from __future__ import annotations

import pickle
import zipfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from segen.errors import CheckpointError
from segen.runtime import atomic_open

FORMAT = "segen-checkpoint"
VERSION = 2
KINDS = ("segmentation", "gan")


@dataclass
class ModelSpec:
    """A registered model and its weights: `create_model(name, **kwargs).load_state_dict(weights)`.

    For GANs the weights are the generator's (the averaged copy when training kept one).
    """

    name: str
    kwargs: dict[str, Any]
    weights: dict[str, torch.Tensor]


@dataclass
class SegDataSpec:
    """What a segmentation model expects of its inputs and how its outputs are read."""

    class_names: list[str]
    colors: list[list[int]]
    mean: list[float]
    std: list[float]
    channels: int
    ignore_index: int = 255
    binary_255: bool = False
    format: str = "folder"
    loss: str = "ce+dice"
    max_value: float = 255.0


@dataclass
class GanDataSpec:
    """The images a generator makes (and, for pix2pix, takes)."""

    image_size: list[int]
    channels: int
    in_channels: int | None = None
    class_names: list[str] = field(default_factory=list)
    direction: str = "AtoB"
    layout: str = ""
    palette: list[list[int]] = field(default_factory=list)  # pix2pix: the colours of colour-coded label-map inputs


@dataclass
class TrainingState:
    """Everything a run needs to continue exactly: the Trainer's position, the task's optimisers, RNG states."""

    trainer: dict[str, Any]
    task: dict[str, Any]
    rng: dict[str, Any]


@dataclass
class Checkpoint:
    """One checkpoint file."""

    kind: str
    config: dict[str, Any]
    model: ModelSpec
    data: SegDataSpec | GanDataSpec
    metrics: dict[str, float] = field(default_factory=dict)
    training: TrainingState | None = None
    version: int = VERSION

    def to_payload(self) -> dict[str, Any]:
        """The plain dict that is written to disk."""
        return {"format": FORMAT, "version": VERSION, "kind": self.kind, "config": self.config,
                "model": asdict(self.model), "data": asdict(self.data), "metrics": dict(self.metrics),
                "training": asdict(self.training) if self.training is not None else None}

    @classmethod
    def from_payload(cls, state: dict[str, Any], source: str = "checkpoint") -> Checkpoint:
        """Parse a payload of this version or version 1; raises CheckpointError naming what is missing."""
        try:
            if state.get("version", 1) < 2:
                state = _upgrade_v1(state)
            kind = state["kind"]
            spec = SegDataSpec if kind == "segmentation" else GanDataSpec
            training = state.get("training")
            return cls(kind=kind, config=dict(state.get("config") or {}), model=ModelSpec(**state["model"]),
                       data=spec(**_known(spec, state["data"])), metrics=dict(state.get("metrics") or {}),
                       training=TrainingState(**training) if training else None,
                       version=int(state.get("version", 1)))
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{source}: incomplete {state.get('kind', 'segen')} checkpoint "
                                  f"({type(exc).__name__}: {str(exc).splitlines()[0][:120]})", kind="corrupt") from None


def _known(spec: type, data: dict[str, Any]) -> dict[str, Any]:
    """The fields of `spec` found in `data` (later versions may add fields an older reader ignores)."""
    names = {f.name for f in fields(spec)}
    return {k: v for k, v in data.items() if k in names}


def _upgrade_v1(state: dict[str, Any]) -> dict[str, Any]:
    """Version 1 kept the weights as model.state_dict (segmentation) or model.generator (GAN), and the
    training state at the top level."""
    model = dict(state["model"])
    weights = model.pop("state_dict", None)
    if weights is None:
        weights = model.pop("generator")
    training = None
    if "trainer" in state:
        training = {"trainer": state["trainer"], "task": state.get("task", {}), "rng": state.get("rng", {})}
    return {**state, "model": {**model, "weights": weights}, "training": training, "version": 1}


def training_crop(config: dict[str, Any]) -> tuple[int, int] | None:
    """The training crop (H, W) recorded in a checkpoint's config (`data.image_size`); None when absent."""
    size = (config.get("data") or {}).get("image_size")
    if isinstance(size, list | tuple) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size):
        return int(size[0]), int(size[1])
    return None


def save_checkpoint(checkpoint: Checkpoint, path: str | Path) -> Path:
    """Write `checkpoint` to `path` atomically: a temporary file, fsync, rename."""
    path = Path(path)
    with atomic_open(path) as handle:
        torch.save(checkpoint.to_payload(), handle)
    return path


def read_payload(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The raw dict of a segen checkpoint, read safely (weights_only); checks the format marker and version."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found", kind="missing", path=path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, OSError, ValueError,
            AttributeError, TypeError, KeyError, IndexError, UnicodeDecodeError):
        raise CheckpointError(f"{path}: not a segen checkpoint (unreadable or not a PyTorch file)",
                              kind="corrupt", path=path) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a segen checkpoint (no segen format marker)", kind="invalid", path=path)
    if not isinstance(state.get("version", 1), int) or state.get("version", 1) > VERSION:
        raise CheckpointError(f"{path}: checkpoint version {state.get('version')} is newer than this segen "
                              f"(supports {VERSION}); upgrade segen", kind="version", path=path)
    return state


def load_checkpoint(path: str | Path, kind: str | None = None, map_location: str | torch.device = "cpu"
                    ) -> Checkpoint:
    """Read a segen checkpoint safely (weights_only), check its kind and parse it.

    Raises:
        CheckpointError: missing file, not a segen checkpoint, a checkpoint of another kind, or incomplete.
    """
    state = read_payload(path, map_location)
    if kind is not None and state.get("kind") != kind:
        raise CheckpointError(f"{path}: a {state.get('kind')} checkpoint, expected {kind}", kind="mismatch",
                              path=Path(path))
    if state.get("kind") not in KINDS:
        raise CheckpointError(f"{path}: unknown checkpoint kind {state.get('kind')!r}", kind="invalid", path=Path(path))
    return Checkpoint.from_payload(state, str(path))
