"""The process group of a training run: torchrun's ranks, the global batch split between them, and the few
collectives the Trainer needs (one per step to agree on stopping and to average the logged losses).

A run started without torchrun is a group of one, where every collective is a no-op, so the training code
has a single path. Under torchrun (`WORLD_SIZE` > 1) the group uses NCCL on CUDA and gloo on CPUs, each rank
on `cuda:LOCAL_RANK` or the CPU; a collective that waits longer than `timeout_s` for a rank that died fails
instead of hanging, which the Trainer turns into one line.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Sampler

from segen.errors import ConfigError, PeerLost
from segen.runtime import ProcessInfo, process_info

DEFAULT_TIMEOUT_S = 30.0


@dataclass
class Group:
    """This process's place in the run: `rank` of `world` (a group of one without torchrun)."""

    info: ProcessInfo
    device: torch.device
    started: bool = False

    @property
    def rank(self) -> int:
        return self.info.rank

    @property
    def world(self) -> int:
        return self.info.world_size

    @property
    def is_main(self) -> bool:
        return self.info.is_main

    @property
    def distributed(self) -> bool:
        return self.info.world_size > 1

    @property
    def restarted(self) -> bool:
        """Whether torchrun restarted this group after a failure (then the run resumes from its checkpoint)."""
        return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")) > 0

    def sum(self, values: Sequence[float]) -> list[float]:
        """The element-wise sum of `values` over all ranks (one all-reduce, in float64)."""
        if not self.distributed:
            return [float(v) for v in values]
        tensor = torch.tensor(list(values), dtype=torch.float64, device=self._collective_device)
        self._collective(dist.all_reduce, tensor)
        return [float(v) for v in tensor.cpu()]

    def sum_tensor(self, tensor: torch.Tensor) -> torch.Tensor:
        """`tensor` summed over all ranks (in place where possible; returned)."""
        if not self.distributed:
            return tensor
        moved = tensor.to(self._collective_device)
        self._collective(dist.all_reduce, moved)
        return moved.to(tensor.device)

    def broadcast(self, value: Any) -> Any:
        """Rank 0's `value` (a picklable object), on every rank."""
        if not self.distributed:
            return value
        holder = [value]
        self._collective(dist.broadcast_object_list, holder, src=0)
        return holder[0]

    def share_buffers(self, model: nn.Module) -> None:
        """Give every rank rank 0's buffers of `model` (BatchNorm statistics, which each rank updates from its
        own share of the batch), so all ranks validate the same model, the one rank 0 saves."""
        if not self.distributed:
            return
        for buffer in model.buffers():
            moved = buffer.to(self._collective_device)
            self._collective(dist.broadcast, moved, src=0)
            buffer.copy_(moved)

    @property
    def _collective_device(self) -> torch.device:
        return self.device if dist.get_backend() == "nccl" else torch.device("cpu")

    def _collective(self, op: Any, *args: Any, **kwargs: Any) -> None:
        try:
            op(*args, **kwargs)
        except RuntimeError as exc:  # gloo: connection closed or timeout; nccl: watchdog (DistError is one)
            raise PeerLost(peer_lost_message(self.rank, exc)) from None

    def close(self) -> None:
        if self.started and dist.is_initialized():
            dist.destroy_process_group()
            self.started = False


def collective_failure(error: BaseException) -> bool:
    """Whether `error` is a failed or timed-out collective (torch raises them as DistError, or as RuntimeError
    from inside DistributedDataParallel, naming the backend)."""
    text = str(error)
    return isinstance(error, dist.DistError) or any(mark in text for mark in ("gloo", "NCCL", "ProcessGroup"))


def peer_lost_message(rank: int, error: BaseException) -> str:
    """One line for a failed collective: the backend's first sentence, without its source location."""
    text = re.sub(r"^\[[^\]]*\]\s*", "", str(error).strip().split("\n")[0])
    detail = text.split(". ")[0][:120] or type(error).__name__
    return f"rank {rank}: another process of the run stopped or stopped answering ({detail})"


def start_group(device: torch.device, timeout_s: float = DEFAULT_TIMEOUT_S) -> Group:
    """Join the torchrun group when there is one (backend from the device: NCCL on CUDA, gloo otherwise)."""
    info = process_info()
    group = Group(info, device)
    if info.world_size > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        timeout = datetime.timedelta(seconds=timeout_s)
        dist.init_process_group(backend, timeout=timeout, device_id=device if device.type == "cuda" else None,
                                **_attempt_store(info, timeout))
        group.started = True
    return group


_groups_started = 0  # in this process: each run of a script that trains several models gets its own prefix


def _attempt_store(info: ProcessInfo, timeout: datetime.timedelta) -> dict[str, Any]:
    """Under torchrun's agent store, a store prefix of its own for each restart of the group and each group
    this process starts: otherwise ranks read the addresses that failed predecessors (or this process's
    previous group) left there and fail to connect."""
    global _groups_started
    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        return {}
    base = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), info.world_size,
                         is_master=False, timeout=timeout)
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    _groups_started += 1
    return {"store": dist.PrefixStore(f"segen/attempt-{attempt}/group-{_groups_started}", base), "rank": info.rank,
            "world_size": info.world_size}


def wrap_model(model: nn.Module, group: Group, sync_bn: bool = False) -> nn.Module:
    """`model` itself in a group of one, else in DistributedDataParallel (gradients averaged over ranks); with
    `sync_bn` its BatchNorm layers compute their statistics over the global batch (CUDA only)."""
    if sync_bn and group.device.type != "cuda":
        raise ConfigError(f"--sync-bn needs CUDA GPUs (SyncBatchNorm has no {group.device.type} kernels); on this "
                          "device leave it off: BatchNorm then uses each process's share of the batch")
    if not group.distributed:
        return model
    if sync_bn:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    ids = [group.device.index] if group.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)  # buffers (BatchNorm statistics): rank 0's


def gradient_sync(model: nn.Module, sync: bool) -> contextlib.AbstractContextManager[Any]:
    """Within it, a DDP model's backward passes average gradients over ranks only when `sync` (the last
    micro-batch of an accumulated step); a plain model needs nothing."""
    if isinstance(model, DistributedDataParallel) and not sync:
        return model.no_sync()
    return contextlib.nullcontext()


def shares(total: int, parts: int) -> list[int]:
    """`total` items split into `parts` consecutive shares whose sizes differ by at most one."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


@dataclass(frozen=True)
class StepBatch:
    """This rank's part of one global batch: its micro-batches (one unless accumulating) and the size of the
    whole global batch, so each micro-batch's loss can be weighted by its share of it."""

    micro: list[Any]
    sizes: list[int]
    global_size: int
    first_row: int = 0

    def rows(self, index: int) -> tuple[int, int]:
        """Where micro-batch `index` lies in the global batch: (start, stop), for `BatchDraws`."""
        start = self.first_row + sum(self.sizes[:index])
        return start, start + self.sizes[index]

    def weight(self, index: int, world: int) -> float:
        """The factor for micro-batch `index`'s mean loss so that the gradients DDP averages over `world` ranks
        sum to the gradient of the global batch's mean loss."""
        return self.sizes[index] * world / self.global_size


class RankBatches(Sampler[list[Any]]):
    """The micro-batches of rank `rank` of `world`: each global batch of the wrapped sampler (items in its order)
    is split into `world` consecutive shares, and each share into `accumulate` micro-batches."""

    def __init__(self, sampler: Sampler[Any], global_batch: int, rank: int, world: int, accumulate: int) -> None:
        self.sampler, self.global_batch = sampler, global_batch
        self.rank, self.world, self.accumulate = rank, world, accumulate

    def global_batches(self) -> Iterator[list[Any]]:
        chunk: list[Any] = []
        for item in self.sampler:
            chunk.append(item)
            if len(chunk) == self.global_batch:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def __iter__(self) -> Iterator[list[Any]]:
        for chunk in self.global_batches():
            yield from self.split(chunk)[1]

    def split(self, chunk: list[Any]) -> tuple[int, list[list[Any]]]:
        """(global size, this rank's micro-batches) of one global batch."""
        parts = self.world * self.accumulate
        if len(chunk) < parts:
            raise ConfigError(f"a batch of {len(chunk)} samples cannot be split over {self.world} processes x "
                              f"{self.accumulate} accumulation steps; use a --batch-size of at least {parts}")
        sizes = shares(len(chunk), parts)
        start = self.first_row(len(chunk))
        micro = []
        for size in sizes[self.rank * self.accumulate:(self.rank + 1) * self.accumulate]:
            micro.append(chunk[start:start + size])
            start += size
        return len(chunk), micro

    def first_row(self, global_size: int) -> int:
        """Where this rank's share begins in a global batch of `global_size`."""
        return sum(shares(global_size, self.world * self.accumulate)[: self.rank * self.accumulate])

    def __len__(self) -> int:
        return -(-len(self.sampler) // self.global_batch) * self.accumulate  # type: ignore[arg-type]


def step_batches(loader: Any, batches: RankBatches) -> Iterator[StepBatch]:
    """Group a loader over `batches` back into one `StepBatch` per global batch."""
    sizes_of = (batches.split(chunk) for chunk in batches.global_batches())
    iterator = iter(loader)
    for global_size, micro_items in sizes_of:
        micro = [next(iterator) for _ in micro_items]
        yield StepBatch(micro, [len(m) for m in micro_items], global_size, batches.first_row(global_size))


def rank_indices(count: int, group: Group) -> list[int]:
    """The validation samples of this rank: every `world`-th from `rank`, so each is counted exactly once."""
    return list(range(group.rank, count, group.world))
