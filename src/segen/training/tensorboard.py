"""TensorBoard logging of a training run (`--tensorboard`): event files in `RUN/tensorboard/`, from rank 0.

Scalars: every step's agreed training losses as `train/<name>` and the learning rates (`lr`, or `lr/<network>`)
against the global step; after each epoch every numeric value of its `metrics.jsonl` record (`val/...` as
named, the epoch means `train/<name>` as `epoch/train/<name>`, `time_s` and `epoch` as `epoch/time_s` and
`epoch/epoch`). Images: the task's fixed-input grid after each epoch. Text: the resolved config as YAML at the
start. A resumed run purges the events written after its checkpoint, as the Trainer does `metrics.jsonl` lines.
"""

from __future__ import annotations

import contextlib
import importlib
import math
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from segen.config import to_yaml
from segen.errors import ConfigError
from segen.training.trainer import Trainer

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

FOLDER = "tensorboard"
TENSORBOARD_HINT = "pip install 'segen[tensorboard]'"

#: A fixed-input grid (HxWx3 uint8) drawn after every epoch, or None when there is nothing to draw.
ImageSource = Callable[[], np.ndarray | None]


def require_tensorboard() -> None:
    """Fail with one line on how to install it when the tensorboard package is missing."""
    try:
        importlib.import_module("tensorboard")
        importlib.import_module("torch.utils.tensorboard")
    except ImportError:
        raise ConfigError(f"--tensorboard needs the tensorboard package: {TENSORBOARD_HINT}",
                          kind="missing") from None


class TensorBoardLog:
    """Trainer callbacks writing one run's events; only rank 0 holds a writer."""

    def __init__(self, trainer: Trainer, optimizers: Mapping[str, torch.optim.Optimizer], images: ImageSource,
                 image_tag: str) -> None:
        """`optimizers`: each network's optimiser by name ("" for a single one, logged as `lr`); its first
        parameter group's rate is logged (later groups only scale it, e.g. a pretrained encoder's)."""
        self.optimizers, self.images, self.image_tag = optimizers, images, image_tag
        self.writer: SummaryWriter | None = None
        if trainer.group.is_main:
            from torch.utils.tensorboard import SummaryWriter

            # a resumed run: events up to the checkpoint's step were written before it and stay, later ones are
            # dropped (0: a run resumed without a checkpoint starts its events again)
            step = trainer.state.step
            self.writer = SummaryWriter(str(trainer.out / FOLDER), purge_step=step + 1 if step else 0)
            self.writer.add_text("config", _as_code(to_yaml(trainer.cfg.to_dict())), step)

    def at_step(self, trainer: Trainer) -> None:
        if self.writer is None:
            return
        step = trainer.state.step
        for name, value in trainer.last_logs.items():
            self.writer.add_scalar(f"train/{name}", value, step)
        for name, optimizer in self.optimizers.items():
            self.writer.add_scalar(f"lr/{name}" if name else "lr", optimizer.param_groups[0]["lr"], step)

    def at_epoch_end(self, trainer: Trainer, record: dict[str, Any]) -> None:
        if self.writer is None:
            return
        step = int(record["step"])
        for key, value in record.items():
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if key != "step" and number and math.isfinite(value):  # None: a score that does not exist
                self.writer.add_scalar(_epoch_tag(key), value, step)
        grid = self.images()
        if grid is not None:
            self.writer.add_image(self.image_tag, grid, step, dataformats="HWC")
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


@contextlib.contextmanager
def tensorboard_log(trainer: Trainer, optimizers: Mapping[str, torch.optim.Optimizer], images: ImageSource,
                    image_tag: str) -> Iterator[None]:
    """Within it, `trainer` logs to TensorBoard when its config asks (`train.tensorboard`); the writer is
    flushed and closed however the block ends. Call after `trainer.prepare` (the writer starts at its step)."""
    if not trainer.cfg.train.tensorboard:
        yield
        return
    require_tensorboard()
    log = TensorBoardLog(trainer, optimizers, images, image_tag)
    trainer.step_callbacks.append(log.at_step)
    trainer.callbacks.append(log.at_epoch_end)
    try:
        yield
    finally:
        log.close()


def _epoch_tag(key: str) -> str:
    return f"epoch/{key}" if key.startswith("train/") or "/" not in key else key


def _as_code(text: str) -> str:
    """Text as a markdown code block (TensorBoard renders text summaries as markdown)."""
    return "```yaml\n" + text + "```"
