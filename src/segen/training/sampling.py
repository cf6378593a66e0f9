"""Training data order that can stop and resume at any batch with the same samples and augmentations.

Each epoch's order comes from (seed, epoch) alone, and every sample carries its own augmentation seed
derived from (seed, epoch, position), so a run resumed mid-epoch, or one using several DataLoader
workers, sees exactly the batches an uninterrupted run sees.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from segen.runtime import ignore_interrupts, process_info, seeded_rng


class ResumableSampler(Sampler[tuple[int, int]]):
    """Yields (sample index, augmentation seed): shuffled passes over `size` samples per epoch.

    An epoch holds at least `min_samples` samples (several passes over a small dataset), cut to whole
    batches when `drop_last`. `set_epoch(epoch, start_batch)` selects the epoch and where in it to begin.
    """

    def __init__(self, size: int, batch_size: int, seed: int, min_samples: int = 0, drop_last: bool = True) -> None:
        self.size, self.batch_size, self.seed = size, batch_size, seed
        total = max(1, -(-min_samples // size)) * size
        self.length = total - total % batch_size if drop_last and total >= batch_size else total
        self.epoch = 0
        self.start = 0

    @property
    def batches_per_epoch(self) -> int:
        """Batches in a whole epoch (a partial last batch counts)."""
        return -(-self.length // self.batch_size)

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.epoch = epoch
        self.start = min(start_batch * self.batch_size, self.length)

    def order(self) -> list[int]:
        """This epoch's sample indices, from (seed, epoch) alone."""
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order: list[int] = []
        while len(order) < self.length:
            order.extend(torch.randperm(self.size, generator=generator).tolist())
        return order[: self.length]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        base = (self.seed * 1_000_003 + self.epoch) * 10_000_019
        for position, index in enumerate(self.order()[self.start:], start=self.start):
            yield index, (base + position) % 2**63

    def __len__(self) -> int:
        return self.length - self.start


class SeededSamples(Dataset[Any]):
    """`dataset[index]` computed under the sample's own RNG seed (see `ResumableSampler`)."""

    def __init__(self, dataset: Dataset[Any]) -> None:
        self.dataset = dataset

    def __getitem__(self, item: tuple[int, int]) -> Any:
        index, seed = item
        with seeded_rng(seed):
            return self.dataset[index]

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]


def training_loader(dataset: Dataset[Any], sampler: ResumableSampler, workers: int, device: torch.device,
                    batches: Sampler[list[Any]] | None = None) -> DataLoader:
    """The training DataLoader: seeded samples, workers that ignore Ctrl-C, no draw from the global RNG; batches
    of `sampler.batch_size`, or those of `batches` (a batch sampler over `sampler`'s items)."""
    grouping: dict[str, Any] = ({"batch_sampler": batches} if batches is not None
                                else {"batch_size": sampler.batch_size, "sampler": sampler})
    return DataLoader(SeededSamples(dataset), **grouping, num_workers=workers, persistent_workers=workers > 0,
                      pin_memory=device.type == "cuda", worker_init_fn=ignore_interrupts,
                      generator=torch.Generator().manual_seed(sampler.seed))


@contextmanager
def workers_released(*loaders: DataLoader) -> Iterator[None]:
    """Stop the loaders' persistent workers on the way out, error or not. Torch keeps them until the loader is
    garbage-collected, which after an error can be much later: a worker outliving its run holds the run's memory
    and every file, pipe and socket the parent had open when it forked."""
    try:
        yield
    finally:
        for loader in loaders:
            shutdown = getattr(getattr(loader, "_iterator", None), "_shutdown_workers", None)
            if shutdown is not None:
                shutdown()  # what torch's own __del__ calls; there is no public way
                loader._iterator = None


def default_workers(device: torch.device) -> int:
    """DataLoader workers from the machine: none on small CPU machines (they would compete with the model), else
    a few; the cores are shared by the processes torchrun started on this machine."""
    cores = max(1, (os.cpu_count() or 1) // process_info().local_world_size)
    if device.type == "cpu":
        return 0 if cores <= 4 else min(4, cores // 4)
    return min(8, max(1, cores - 1))
