"""Distributed training on top of the process group (`segen.runtime.Group`): models in DistributedDataParallel,
gradient accumulation, and the global batch split into consecutive rank shares and micro-batches.

A run started without torchrun is a group of one, where all of this is a no-op, so the training code has a
single path.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Sampler

from segen.errors import ConfigError
from segen.runtime import Group, shares


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
