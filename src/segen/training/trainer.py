"""One small Trainer: epochs and time budget, validation, checkpoints, resume, logging, Ctrl-C.

What is trained is a `TrainTask` (segmentation, GAN, ...): the Trainer drives its steps and owns the
run folder: `config.yaml`, `metrics.jsonl`, `last.pt` and `best.pt`.
"""

from __future__ import annotations

import json
import math
import signal
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

import torch
from tqdm import tqdm

from segen.checkpoint import load_checkpoint, save_checkpoint
from segen.config import save_yaml
from segen.errors import CheckpointError, ConfigError
from segen.runtime import rng_state, set_rng_state


class TrainTask(Protocol):
    """What the Trainer drives."""

    kind: str
    monitor: str
    monitor_mode: str

    def steps_per_epoch(self) -> int: ...
    def train_batches(self, epoch: int) -> Iterable[Any]: ...
    def train_step(self, batch: Any, step: int, progress: float) -> dict[str, torch.Tensor]: ...
    def validate(self) -> dict[str, float | None]: ...
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, checkpoint: dict[str, Any]) -> None: ...
    def checkpoint_info(self) -> dict[str, Any]: ...


@dataclass
class TrainerState:
    """Where a run stands; saved in every checkpoint."""

    epoch: int = 0
    step: int = 0
    elapsed: float = 0.0
    best: float | None = None
    best_epoch: int | None = None
    finished: bool = False


Callback = Callable[["Trainer", dict[str, Any]], None]


class Trainer:
    """Runs `task` for `epochs` or until `max_time_s`, validating and checkpointing every epoch."""

    def __init__(self, task: TrainTask, out: str | Path, config: dict[str, Any], epochs: int,
                 max_time_s: float | None = None, log_every: int = 10, progress: bool = True,
                 callbacks: Iterable[Callback] = ()) -> None:
        self.task = task
        self.out = Path(out)
        self.config = config
        self.epochs = epochs
        self.max_time_s = max_time_s
        self.log_every = log_every
        self.show_progress = progress
        self.callbacks = list(callbacks)
        self.state = TrainerState()
        self._interrupted = False
        self._last_val_s = 0.0

    @property
    def last_path(self) -> Path:
        return self.out / "last.pt"

    @property
    def best_path(self) -> Path:
        return self.out / "best.pt"

    def prepare(self, resume: bool) -> None:
        """Create the run folder, or restore the run in it when resuming; refuse to overwrite a run."""
        if resume:
            self._resume()
        elif self.last_path.exists():
            raise ConfigError(f"{self.out}: already holds a run (last.pt); use --resume to continue it "
                              "or choose another --out")
        self.out.mkdir(parents=True, exist_ok=True)
        save_yaml(self.config, self.out / "config.yaml")

    def _resume(self) -> None:
        if not self.last_path.is_file():
            raise CheckpointError(f"{self.last_path}: nothing to resume (no last.pt in {self.out})")
        state = load_checkpoint(self.last_path, kind=self.task.kind)
        self.task.load_state_dict(state)
        self.state = TrainerState(**state["trainer"])
        self.state.finished = False  # a longer run (more epochs, more time) may continue a finished one
        set_rng_state(state["rng"])

    def fit(self) -> TrainerState:
        """Train to the end (or the budget, or Ctrl-C); returns the final state."""
        total_steps = self.epochs * self.task.steps_per_epoch()
        previous = signal.signal(signal.SIGINT, self._on_interrupt)
        bar = tqdm(total=total_steps if self._bounded_by_epochs else None, initial=self.state.step,
                   disable=not self.show_progress, unit="step", dynamic_ncols=True, file=sys.stderr)
        try:
            while self.state.epoch < self.epochs and not self._stop_requested():
                self._run_epoch(total_steps, bar)
        finally:
            bar.close()
            signal.signal(signal.SIGINT, previous)
        if self._interrupted:
            tqdm.write(f"interrupted: resumable checkpoint in {self.last_path}", file=sys.stderr)
        return self.state

    @property
    def interrupted(self) -> bool:
        """Whether the run was stopped early by Ctrl-C or `request_stop` (it can be resumed)."""
        return self._interrupted

    def request_stop(self) -> None:
        """Stop after the current step, validating and checkpointing as at an epoch's end."""
        self._interrupted = True

    def _on_interrupt(self, signum: int, frame: FrameType | None) -> None:
        if self._interrupted:
            raise KeyboardInterrupt
        self._interrupted = True
        tqdm.write("stopping after this step (Ctrl-C again to abort without saving)", file=sys.stderr)

    def _time_up(self) -> bool:
        return self.max_time_s is not None and self.state.elapsed + self._last_val_s >= self.max_time_s

    def _stop_requested(self) -> bool:
        return self._interrupted or self._time_up() or self.state.finished

    def _progress(self, total_steps: int) -> float:
        by_steps = self.state.step / max(total_steps, 1) if self._bounded_by_epochs else 0.0
        by_time = self.state.elapsed / self.max_time_s if self.max_time_s else 0.0
        return max(by_steps, by_time)

    def _run_epoch(self, total_steps: int, bar: tqdm) -> None:
        epoch_start = time.perf_counter()
        loss_sum: dict[str, torch.Tensor] = {}
        steps = 0
        tick = time.perf_counter()
        for batch in self.task.train_batches(self.state.epoch):
            logs = self.task.train_step(batch, self.state.step, self._progress(total_steps))
            for key, value in logs.items():
                loss_sum[key] = loss_sum.get(key, 0) + value.detach()
            steps += 1
            self.state.step += 1
            now = time.perf_counter()
            self.state.elapsed += now - tick
            tick = now
            self._update_bar(bar, logs, steps, total_steps)
            if self._interrupted or self._time_up():
                break
        train_logs = {f"train/{k}": float(v) / max(steps, 1) for k, v in loss_sum.items()}
        self._end_epoch(train_logs, time.perf_counter() - epoch_start)

    @property
    def _bounded_by_epochs(self) -> bool:
        return self.epochs < 1_000_000

    def _update_bar(self, bar: tqdm, logs: dict[str, torch.Tensor], steps: int, total_steps: int) -> None:
        """Advance the bar; under a time budget its total (and ETA) is what the budget still allows."""
        bar.update(1)
        if self.max_time_s is not None and self.state.elapsed > 0:
            rate = self.state.step / self.state.elapsed
            by_time = self.state.step + max(0, int((self.max_time_s - self.state.elapsed) * rate))
            bar.total = min(by_time, total_steps) if self._bounded_by_epochs else by_time
        if steps % self.log_every == 0 or steps == 1:
            shown: dict[str, object] = {"epoch": self.state.epoch + 1}
            shown.update({k: f"{float(v):.4f}" for k, v in logs.items()})
            bar.set_postfix(shown, refresh=False)

    def _end_epoch(self, train_logs: dict[str, float], train_s: float) -> None:
        val_start = time.perf_counter()
        val_logs = self.task.validate()
        self.state.epoch += 1
        record: dict[str, Any] = {"epoch": self.state.epoch, "step": self.state.step,
                                  "time_s": round(self.state.elapsed, 2), **train_logs, **val_logs}
        self._update_best(record)
        self._last_val_s = time.perf_counter() - val_start
        self.state.elapsed += self._last_val_s
        if self.state.epoch >= self.epochs or self._time_up():
            self.state.finished = not self._interrupted
        self._save(record)
        with open(self.out / "metrics.jsonl", "a") as handle:
            handle.write(json.dumps(record) + "\n")
        tqdm.write(_summary(record), file=sys.stderr)
        for callback in self.callbacks:
            callback(self, record)

    def _update_best(self, record: dict[str, Any]) -> None:
        value = record.get(self.task.monitor)
        if value is None or not math.isfinite(value):
            return
        better = self.state.best is None or (
            value > self.state.best if self.task.monitor_mode == "max" else value < self.state.best)
        if better:
            self.state.best, self.state.best_epoch = float(value), self.state.epoch
            record["best"] = True

    def _save(self, record: dict[str, Any]) -> None:
        payload = {"kind": self.task.kind, "config": self.config, **self.task.checkpoint_info(),
                   "task": self.task.state_dict(), "trainer": asdict(self.state), "rng": rng_state(),
                   "metrics": {k: v for k, v in record.items() if isinstance(v, int | float)}}
        save_checkpoint(payload, self.last_path)
        if record.get("best"):
            save_checkpoint(payload, self.best_path)


def _summary(record: dict[str, Any]) -> str:
    parts = [f"epoch {record['epoch']}"]
    for key, value in record.items():
        if key.count("/") == 1 and isinstance(value, float):
            parts.append(f"{key} {value:.4f}")
    return "  ".join(parts) + ("  (best)" if record.get("best") else "")
