"""The checkpoint file format: tensors and plain data only, written atomically.

A checkpoint is a dict with `format` = "segen-checkpoint", a `version`, the `kind` of run
("segmentation", ...), the resolved run `config`, a `model` section (registry name, keyword
arguments, state dict) and whatever else the writer adds (optimiser, trainer state, data info).
It loads with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from segen.errors import CheckpointError
from segen.runtime import atomic_open

FORMAT = "segen-checkpoint"
VERSION = 1


def save_checkpoint(state: dict[str, Any], path: str | Path) -> Path:
    """Write `state` (tensors and plain data) to `path` atomically: a temporary file, fsync, rename."""
    path = Path(path)
    payload = {"format": FORMAT, "version": VERSION, **state}
    with atomic_open(path) as handle:
        torch.save(payload, handle)
    return path


def load_checkpoint(path: str | Path, kind: str | None = None, map_location: str | torch.device = "cpu"
                    ) -> dict[str, Any]:
    """Read a segen checkpoint safely (weights_only) and check its format and kind.

    Raises:
        CheckpointError: missing file, not a segen checkpoint, or a checkpoint of another kind.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, OSError, ValueError,
            AttributeError, TypeError, KeyError, IndexError, UnicodeDecodeError):
        raise CheckpointError(f"{path}: not a segen checkpoint (unreadable or not a PyTorch file)") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a segen checkpoint (no segen format marker)")
    if state.get("version", 0) > VERSION:
        raise CheckpointError(f"{path}: checkpoint version {state['version']} is newer than this segen "
                              f"(supports {VERSION}); upgrade segen")
    if kind is not None and state.get("kind") != kind:
        raise CheckpointError(f"{path}: a {state.get('kind')} checkpoint, expected {kind}")
    return state
