"""One small Trainer: epochs and time budget, validation, checkpoints, exact resume, logging, stops.

What is trained is a `TrainTask` (segmentation, GAN, ...): the Trainer drives its steps and owns the
run folder: `config.yaml`, `metrics.jsonl`, `last.pt` and `best.pt`. A checkpoint records the position
inside the current epoch, so a run stopped anywhere (Ctrl-C, SIGTERM, the time budget, a periodic
checkpoint before a crash) resumes at the same batch with the same data order and schedule position.
"""

from __future__ import annotations

import json
import math
import signal
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

import torch
from tqdm import tqdm

from segen.checkpoint import (
    Checkpoint,
    GanDataSpec,
    ModelSpec,
    SegDataSpec,
    TrainingState,
    save_checkpoint,
)
from segen.config import GanConfig, SegConfig, parse_interval, to_yaml
from segen.errors import CheckpointError, ConfigError, SegenError, TrainingStopped, one_line
from segen.runtime import (
    Group,
    ProcessInfo,
    collective_failure,
    peer_lost_message,
    rng_state,
    set_rng_state,
    write_atomic,
)

RUN_FILES = ("config.yaml", "metrics.jsonl", "last.pt", "best.pt")


class TrainTask(Protocol):
    """What the Trainer drives."""

    kind: str
    monitor: str
    monitor_mode: str

    def steps_per_epoch(self) -> int: ...
    def train_batches(self, epoch: int, start_step: int) -> Iterable[Any]: ...
    def before_step(self, state: TrainerState) -> None: ...
    def train_step(self, batch: Any, step: int, progress: float) -> dict[str, torch.Tensor]: ...
    def validate(self) -> dict[str, float | None]: ...
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, checkpoint: Checkpoint) -> None: ...
    def checkpoint_info(self) -> tuple[ModelSpec, SegDataSpec | GanDataSpec]: ...


@dataclass
class TrainerState:
    """Where a run stands; saved in every checkpoint.

    `epoch` counts finished epochs, `epoch_step` the batches done in the current one and `epoch_sums`
    their summed losses (so a resumed epoch logs the same means as an uninterrupted one); `records`
    is how many lines `metrics.jsonl` had, so lines written after the checkpoint are dropped on resume.
    """

    epoch: int = 0
    step: int = 0
    epoch_step: int = 0
    elapsed: float = 0.0
    best: float | None = None
    best_epoch: int | None = None
    finished: bool = False
    epoch_sums: dict[str, float] = field(default_factory=dict)
    records: int | None = 0  # lines in metrics.jsonl when saved (None: a checkpoint from before this field)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainerState:
        known = {f.name for f in fields(cls)}
        return cls(**{"records": None, **{k: v for k, v in data.items() if k in known}})


@dataclass
class RunResult:
    """Where a finished run left its files and how it ended (`notes`: what the data loader said)."""

    out: str
    state: TrainerState
    interrupted: bool = False
    notes: list[str] = field(default_factory=list)


Callback = Callable[["Trainer", dict[str, Any]], None]
StepCallback = Callable[["Trainer"], None]


class Trainer:
    """Runs `task` for the configured epochs or time, validating every epoch and checkpointing on schedule.

    `callbacks` are called with (trainer, record) after every epoch's validation and checkpoint (on rank 0),
    `step_callbacks` with the trainer after every optimiser step (on every rank). In a distributed run
    (`group` of several ranks) every decision to stop or to checkpoint is rank 0's, shared with all ranks
    in one collective per step, and rank 0 alone writes the run folder.
    """

    def __init__(self, task: TrainTask, cfg: SegConfig | GanConfig, progress: bool = True,
                 callbacks: Iterable[Callback] = (), step_callbacks: Iterable[StepCallback] = (),
                 group: Group | None = None) -> None:
        self.task = task
        self.group = group or Group(ProcessInfo(), torch.device("cpu"))
        self.cfg = cfg
        self.out = Path(cfg.train.out)
        self.epochs = cfg.train.resolved_epochs()
        self.max_time_s = cfg.train.max_time * 60 if cfg.train.max_time else None
        self.log_every = cfg.train.log_every
        self.every = parse_interval(cfg.train.checkpoint_every)
        self.show_progress = progress and self.group.is_main
        self.callbacks = list(callbacks)
        self.step_callbacks = list(step_callbacks)
        self.state = TrainerState()
        self._interrupted = False
        self._last_val_s = 0.0
        self._saved_at = (0, 0.0)  # (step, elapsed) of the last checkpoint
        self._metrics: dict[str, float] = {}
        self.last_logs: dict[str, float] = {}  # the last step's losses, agreed over ranks (for step callbacks)

    @property
    def last_path(self) -> Path:
        return self.out / "last.pt"

    @property
    def best_path(self) -> Path:
        return self.out / "best.pt"

    def prepare(self, resume_from: Checkpoint | None = None, resume: bool = False) -> None:
        """Create the run folder, or restore the run from its checkpoint; never write into a foreign folder.

        With `resume` and no checkpoint (a run stopped before its first one), the run starts again. Rank 0
        checks and writes the folder; a problem it finds stops every rank.
        """
        if resume_from is not None:
            self._restore(resume_from)
        problem = None
        if self.group.is_main:
            try:
                self._prepare_folder(resume_from, resume)
            except SegenError as exc:
                problem = exc
        problem = self.group.broadcast(problem)
        if problem is not None:
            raise problem

    def _prepare_folder(self, resume_from: Checkpoint | None, resume: bool) -> None:
        if resume_from is not None:
            self._keep_records(self.state.records)
        elif not resume:
            self._check_new_folder()
        else:
            self._keep_records(0)
        for stale in self.out.glob(".*.tmp") if self.out.is_dir() else ():
            if any(stale.name.startswith(f".{name}.") for name in RUN_FILES):
                stale.unlink()  # a write cut short by a crash; the file it was replacing is intact
        self.out.mkdir(parents=True, exist_ok=True)
        write_atomic(self.out / "config.yaml", to_yaml(self.cfg.to_dict()))

    def _check_new_folder(self) -> None:
        if not self.out.exists():
            return
        if not self.out.is_dir():
            raise ConfigError(f"{self.out}: --out is a file, not a folder", path=self.out)
        if self.last_path.exists():
            raise ConfigError(f"{self.out}: already holds a run (last.pt); use --resume to continue it "
                              "or choose another --out", kind="exists", path=self.out)
        entries = sorted(p.name for p in self.out.iterdir())
        if entries:
            what = "a run that saved no checkpoint" if "config.yaml" in entries else f"{len(entries)} entries"
            raise ConfigError(f"{self.out}: not empty ({what}, e.g. {entries[0]}); a new run needs a new or empty "
                              "--out, and segen never writes into or deletes what it did not write",
                              kind="exists", path=self.out)

    def _restore(self, checkpoint: Checkpoint) -> None:
        if checkpoint.training is None:
            raise CheckpointError(f"{self.last_path}: holds no training state (an exported model?); "
                                  "cannot resume from it", kind="invalid", path=self.last_path)
        self.task.load_state_dict(checkpoint)
        self.state = TrainerState.from_dict(checkpoint.training.trainer)
        self.state.finished = False  # a longer run (more epochs, more time) may continue a finished one
        self._saved_at = (self.state.step, self.state.elapsed)
        self._metrics = dict(checkpoint.metrics)
        set_rng_state(checkpoint.training.rng)

    def _keep_records(self, count: int | None) -> None:
        """Forget metric lines written after the checkpoint (their work is about to be redone)."""
        path = self.out / "metrics.jsonl"
        if not path.is_file():
            return
        lines = [line for line in path.read_text().splitlines() if line.strip()]
        kept = lines[:count] if count is not None else [x for x in lines if _record_step(x) <= self.state.step]
        self.state.records = len(kept)
        if len(kept) != len(lines):
            write_atomic(path, "".join(line + "\n" for line in kept))

    def fit(self) -> TrainerState:
        """Train to the end (or the budget, or Ctrl-C / SIGTERM); returns the final state."""
        total_steps = self.epochs * self.task.steps_per_epoch()
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        bar = tqdm(total=total_steps if self._bounded_by_epochs else None, initial=self.state.step,
                   disable=not self.show_progress, unit="step", dynamic_ncols=True, file=sys.stderr)
        try:
            while self.state.epoch < self.epochs and not self._agreed_stop():
                self._run_epoch(total_steps, bar)
        finally:
            bar.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if self._interrupted:
            self._say(f"interrupted: resumable checkpoint in {self.last_path}")
        return self.state

    def _say(self, line: str) -> None:
        """A line on stderr from rank 0 (the others stay quiet), without breaking the progress bar."""
        if self.group.is_main:
            tqdm.write(line, file=sys.stderr)

    @property
    def interrupted(self) -> bool:
        """Whether the run was stopped early by Ctrl-C, SIGTERM or `request_stop` (it can be resumed)."""
        return self._interrupted

    def request_stop(self) -> None:
        """Stop after the current step and checkpoint where the run stands."""
        self._interrupted = True

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._interrupted:
            raise KeyboardInterrupt
        self._interrupted = True  # only a flag: writing here could deadlock on a lock the interrupted code holds

    def _time_up(self) -> bool:
        return self.max_time_s is not None and self.state.elapsed + self._last_val_s >= self.max_time_s

    def _agreed_stop(self) -> bool:
        """Whether to stop before the next epoch: the same answer on every rank (see `_agreed_decisions`)."""
        interrupted, time_up, _ = self._agreed_decisions()
        if interrupted:  # never reset: a signal that lands during the vote counts at the next one
            self._interrupted = True
        return interrupted or time_up or self.state.finished

    def _progress(self, total_steps: int) -> float:
        by_steps = self.state.step / max(total_steps, 1) if self._bounded_by_epochs else 0.0
        by_time = self.state.elapsed / self.max_time_s if self.max_time_s else 0.0
        return max(by_steps, by_time)

    @property
    def _bounded_by_epochs(self) -> bool:
        return self.epochs < 1_000_000

    def _run_epoch(self, total_steps: int, bar: tqdm) -> None:
        per_epoch = self.task.steps_per_epoch()
        tick = time.perf_counter()
        try:
            for batch in self.task.train_batches(self.state.epoch, self.state.epoch_step):
                self.task.before_step(self.state)
                logs = self.task.train_step(batch, self.state.step, self._progress(total_steps))
                now = time.perf_counter()
                self.state.elapsed += now - tick
                tick = now
                self._count_step(self._agreed_logs(logs), bar, total_steps)
                for callback in self.step_callbacks:
                    callback(self)
                interrupted, time_up, due = self._agreed_decisions()
                if interrupted:
                    self._interrupted = True
                    self._say("stopping: saving where the run stands (Ctrl-C again to abort without saving)")
                    self._save_position()
                    return
                if time_up:
                    break
                if due:
                    self._save_position()
        except RuntimeError as exc:
            if not (self.group.distributed and collective_failure(exc)):
                raise
            raise TrainingStopped(f"{peer_lost_message(self.group.rank, exc)}; stopped at step "
                                  f"{self.state.step + 1}, {self._last_good()}", kind="distributed") from None
        except TrainingStopped:
            raise  # already says where the run stopped
        except SegenError as exc:
            raise TrainingStopped(f"{one_line(exc)}; stopped at step {self.state.step + 1}, "
                                  f"{self._last_good()}", kind=exc.kind, path=exc.path) from None
        self._end_epoch(complete=self.state.epoch_step >= per_epoch)

    def _agreed_logs(self, logs: dict[str, torch.Tensor]) -> dict[str, float]:
        """The step's logs summed over ranks (each rank's share of the global means), and rank 0's clock on
        every rank (the schedule follows the time budget): one collective."""
        clock = self.state.elapsed if self.group.is_main else 0.0
        *values, self.state.elapsed = self.group.sum([*(float(v) for v in logs.values()), clock])
        return dict(zip(logs, values, strict=True))

    def _agreed_decisions(self) -> tuple[bool, bool, bool]:
        """(stop now, the budget is spent, a checkpoint is due): an interruption on any rank stops every rank;
        the budget and the checkpoint period are rank 0's to judge. One collective."""
        main = self.group.is_main
        votes = self.group.sum([float(self._interrupted), float(main and self._time_up()),
                                float(main and self._checkpoint_due())])
        return votes[0] > 0, votes[1] > 0, votes[2] > 0

    def _count_step(self, values: dict[str, float], bar: tqdm, total_steps: int) -> None:
        bad = [key for key, value in values.items() if not math.isfinite(value)]
        if bad:
            hint = getattr(self.task, "nonfinite_hint", "try a lower learning rate")
            raise TrainingStopped(f"{', '.join(bad)} became non-finite at step {self.state.step + 1}; stopped, "
                                  f"{self._last_good()} ({hint})", kind="non-finite")
        for key, value in values.items():
            self.state.epoch_sums[key] = self.state.epoch_sums.get(key, 0.0) + value
        self.last_logs = values
        self.state.step += 1
        self.state.epoch_step += 1
        self._update_bar(bar, values, total_steps)

    def _last_good(self) -> str:
        if self.last_path.is_file():
            return f"the last good checkpoint is {self.last_path} (step {self._saved_at[0]})"
        return "no checkpoint had been written yet"

    def _checkpoint_due(self) -> bool:
        step, elapsed = self._saved_at
        if self.every.steps is not None:
            return self.state.step - step >= self.every.steps
        return self.every.seconds is not None and self.state.elapsed - elapsed >= self.every.seconds

    def _update_bar(self, bar: tqdm, logs: dict[str, float], total_steps: int) -> None:
        """Advance the bar; under a time budget its total (and ETA) is what the budget still allows."""
        bar.update(1)
        if self.max_time_s is not None and self.state.elapsed > 0:
            rate = self.state.step / self.state.elapsed
            by_time = self.state.step + max(0, int((self.max_time_s - self.state.elapsed) * rate))
            bar.total = min(by_time, total_steps) if self._bounded_by_epochs else by_time
        if self.state.epoch_step % self.log_every == 0 or self.state.epoch_step == 1:
            shown: dict[str, object] = {"epoch": self.state.epoch + 1}
            shown.update({k: f"{v:.4f}" for k, v in logs.items()})
            bar.set_postfix(shown, refresh=False)

    def _end_epoch(self, complete: bool) -> None:
        """Validate and log; a complete epoch advances the epoch count, a budget-cut one keeps its position."""
        val_start = time.perf_counter()
        val_logs = self.task.validate()
        steps = max(self.state.epoch_step, 1)
        train_logs = {f"train/{k}": v / steps for k, v in self.state.epoch_sums.items()}
        if complete:
            self.state.epoch += 1
            self.state.epoch_step = 0
            self.state.epoch_sums = {}
        record: dict[str, Any] = {"epoch": self.state.epoch + (0 if complete else 1), "step": self.state.step,
                                  "time_s": round(self.state.elapsed, 2), **train_logs, **val_logs}
        if not complete:
            record["partial_epoch"] = True
        self._update_best(record)
        self._last_val_s = time.perf_counter() - val_start
        self.state.elapsed += self._last_val_s
        self._last_val_s, self.state.elapsed = self.group.broadcast((self._last_val_s, self.state.elapsed))
        if self.state.epoch >= self.epochs or self._time_up():
            self.state.finished = not self._interrupted
        self._metrics = {k: v for k, v in record.items() if isinstance(v, int | float) and not isinstance(v, bool)}
        self.state.records = (self.state.records or 0) + 1
        if self.group.is_main:
            with open(self.out / "metrics.jsonl", "a") as handle:
                handle.write(json.dumps(record) + "\n")
        self._save(best=bool(record.get("best")))
        self._say(_summary(record))
        for callback in self.callbacks if self.group.is_main else ():
            callback(self, record)

    def _update_best(self, record: dict[str, Any]) -> None:
        value = record.get(self.task.monitor)
        if value is None or not math.isfinite(value):
            return
        better = self.state.best is None or (
            value > self.state.best if self.task.monitor_mode == "max" else value < self.state.best)
        if better:
            self.state.best, self.state.best_epoch = float(value), record["epoch"]
            record["best"] = True

    def _save_position(self) -> None:
        """Checkpoint mid-epoch (no validation): `last.pt` only."""
        self._save(best=False)

    def _save(self, best: bool) -> None:
        self._saved_at = (self.state.step, self.state.elapsed)
        if not self.group.is_main:
            return
        model, data = self.task.checkpoint_info()
        payload = Checkpoint(self.task.kind, self.cfg.to_dict(), model, data, dict(self._metrics),
                             TrainingState(asdict(self.state), self.task.state_dict(), rng_state()))
        if best:  # best first: a crash between the two writes leaves last.pt behind, and resume redoes the epoch
            save_checkpoint(payload, self.best_path)
        save_checkpoint(payload, self.last_path)


def _record_step(line: str) -> int:
    try:
        return int(json.loads(line).get("step", 0))
    except (ValueError, AttributeError):
        return 0


def _summary(record: dict[str, Any]) -> str:
    parts = [f"epoch {record['epoch']}" + (" (cut by the time budget)" if record.get("partial_epoch") else "")]
    for key, value in record.items():
        if key.count("/") == 1 and isinstance(value, float):
            parts.append(f"{key} {value:.4f}")
    return "  ".join(parts) + ("  (best)" if record.get("best") else "")
