"""Everything a training run does before any data is read: check the config, join the process group, find
the resume point, choose the device, set threads and seeds."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from segen.checkpoint import Checkpoint, load_checkpoint
from segen.config import GanConfig, SegConfig, check_resume, load_yaml
from segen.errors import CheckpointError
from segen.models import check_model_options
from segen.runtime import Group, resolve_device, seed_everything, start_group


@dataclass
class RunStart:
    """What `start_run` found: the device, the process group, the checkpoint to resume from (None: a new run)
    and whether the run resumes (also when torchrun restarted the group after a failure)."""

    device: torch.device
    group: Group
    resume_from: Checkpoint | None
    resume: bool


def start_run(cfg: SegConfig | GanConfig, family: str, kind: str, resume: bool) -> RunStart:
    """Everything before any data is read: check `cfg` and its model's options, join the process group, find
    the resume point, choose the device and set threads and seeds."""
    cfg.validate()
    check_model_options(cfg.model.name, family, cfg.model.overrides())
    device = resolve_device(cfg.train.device)
    group = start_group(device)
    out = Path(cfg.train.out)
    if group.restarted and ((out / "last.pt").is_file() or (out / "config.yaml").is_file()):
        resume = True  # torchrun --max-restarts: the new group continues where the failed one saved
    resume_from = load_resume_point(cfg, kind) if resume else None
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # training batches have one size: the fastest kernels, chosen once
    seed_everything(cfg.train.seed)
    return RunStart(device, group, resume_from, resume)


def load_resume_point(cfg: SegConfig | GanConfig, kind: str) -> Checkpoint | None:
    """The run's `last.pt` (None: the run saved no checkpoint yet and restarts from its first step), after
    checking that `cfg` changes nothing but the budget and the machine."""
    out = Path(cfg.train.out)
    last = out / "last.pt"
    if last.is_file():
        state: Checkpoint | None = load_checkpoint(last, kind=kind)
        saved, source = state.config, f"{last} config"  # type: ignore[union-attr]
    elif (out / "config.yaml").is_file():
        state, saved, source = None, load_yaml(out / "config.yaml"), str(out / "config.yaml")
    else:
        raise CheckpointError(f"{last}: nothing to resume (no last.pt in {out})", kind="missing", path=last)
    check_resume(type(cfg).from_dict(saved, source).to_dict(), cfg.to_dict())
    return state
