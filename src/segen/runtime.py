"""What every stage needs about the process: device choice, seeding, RNG state capture, mixed precision, atomic
writes, and its place in a torchrun launch.

A process started without torchrun is a group of one, where every collective is a no-op, so training and
evaluation have a single path. Under torchrun (`WORLD_SIZE` > 1) the group uses NCCL on CUDA and gloo on
CPUs, each rank on `cuda:LOCAL_RANK` or the CPU; a collective that waits longer than `timeout_s` for a rank
that died fails instead of hanging, which becomes one line (`PeerLost`).
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import hashlib
import itertools
import os
import random
import re
import signal
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

import numpy as np
import torch
import torch.distributed as dist

from segen.errors import ConfigError, PeerLost


@dataclass(frozen=True)
class ProcessInfo:
    """Where this process stands in a torchrun launch (rank 0 of 1 without one)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    launched: bool = False  # started by torchrun (also with one process: then a process group of one)

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def process_info() -> ProcessInfo:
    """This process's rank, world size and local rank, from the variables torchrun sets."""
    try:
        rank, world, local, local_world = (int(os.environ.get(name, default)) for name, default in (
            ("RANK", "0"), ("WORLD_SIZE", "1"), ("LOCAL_RANK", "0"), ("LOCAL_WORLD_SIZE", "1")))
        return ProcessInfo(rank, world, local, local_world, launched="TORCHELASTIC_RUN_ID" in os.environ)
    except ValueError:
        raise ConfigError("RANK, WORLD_SIZE, LOCAL_RANK and LOCAL_WORLD_SIZE must be whole numbers (as torchrun sets "
                          "them)") from None


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA, then MPS, then CPU; an unavailable explicit choice raises ConfigError. Under torchrun
    each process takes the GPU of its local rank."""
    if name == "auto":
        if torch.cuda.is_available():
            return _local_gpu()
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: cuda requested but no CUDA GPU is available; use --device cpu or auto")
    if name == "cuda":
        return _local_gpu()
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("device: mps requested but not available; use --device cpu or auto")
    return torch.device(name)


def _local_gpu() -> torch.device:
    """The GPU of this process: the one of its local rank under torchrun, else the first."""
    return torch.device("cuda", process_info().local_rank % torch.cuda.device_count())


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """All random-number-generator states, as tensors and plain data."""
    name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "python": _plain(random.getstate()),
        "numpy": [name, torch.from_numpy(np.asarray(keys, dtype=np.int64)), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore states captured by `rng_state`."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@contextlib.contextmanager
def seeded_rng(seed: int) -> Iterator[None]:
    """Run a block with Python, NumPy and torch (CPU) RNGs seeded from `seed`, restoring them afterwards.

    Data augmentation draws from these global generators; seeding them per sample makes a sample's
    augmentation depend on its seed alone, whatever the worker count and wherever a run resumed.
    """
    saved_python, saved_numpy, saved_torch = random.getstate(), np.random.get_state(), torch.get_rng_state()
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        random.setstate(saved_python)
        np.random.set_state(saved_numpy)
        torch.set_rng_state(saved_torch)


def mix_seed(*parts: int) -> int:
    """A seed in [0, 2**63) from whole numbers (a hash: nearby inputs give unrelated seeds)."""
    digest = hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


class BatchDraws:
    """Random numbers for rows `start:stop` of a batch of `total` samples, the same however the batch is split
    over processes and micro-batches: each call draws for the whole batch from a generator of its own, seeded
    from `seed` and the call's number, and keeps these rows. One process with the whole batch passes
    (seed, 0, n, n); a process of a distributed run passes the rows of its share."""

    def __init__(self, seed: int, start: int, stop: int, total: int) -> None:
        if not 0 <= start < stop <= total:
            raise ValueError(f"rows {start}:{stop} are not inside a batch of {total}")
        self.seed, self.start, self.stop, self.total = seed, start, stop, total
        self.calls = 0

    @property
    def rows(self) -> int:
        return self.stop - self.start

    def _generator(self) -> torch.Generator:
        self.calls += 1
        return torch.Generator().manual_seed(mix_seed(self.seed, self.calls))

    def _keep(self, draw: Callable[..., torch.Tensor], shape: tuple[int, ...], device: torch.device | str
              ) -> torch.Tensor:
        if shape[0] != self.rows:
            raise ValueError(f"a draw for {shape[0]} samples from draws for {self.rows} rows")
        return draw((self.total, *shape[1:]), generator=self._generator())[self.start:self.stop].to(device)

    def rand(self, shape: tuple[int, ...], device: torch.device | str = "cpu") -> torch.Tensor:
        """U(0, 1) numbers shaped `shape` (its first size: the rows)."""
        return self._keep(torch.rand, shape, device)

    def randn(self, shape: tuple[int, ...], device: torch.device | str = "cpu") -> torch.Tensor:
        """N(0, 1) numbers shaped `shape` (its first size: the rows)."""
        return self._keep(torch.randn, shape, device)

    def randint(self, low: int, high: int, shape: tuple[int, ...], device: torch.device | str = "cpu"
                ) -> torch.Tensor:
        """Integers in [low, high) shaped `shape` (its first size: the rows)."""
        return self._keep(functools.partial(torch.randint, low, high), shape, device)


RandomSource = torch.Generator | BatchDraws | None


def random_uniform(shape: tuple[int, ...], source: RandomSource, device: torch.device) -> torch.Tensor:
    """U(0, 1) numbers from `source` (global RNG when None) on `device`, or on a generator's own device."""
    if isinstance(source, BatchDraws):
        return source.rand(shape, device)
    return torch.rand(shape, generator=source, device=source.device if source is not None else device)


def random_integers(low: int, high: int, shape: tuple[int, ...], source: RandomSource, device: torch.device
                    ) -> torch.Tensor:
    """Integers in [low, high) from `source` (as `random_uniform`)."""
    if isinstance(source, BatchDraws):
        return source.randint(low, high, shape, device)
    return torch.randint(low, high, shape, generator=source, device=source.device if source is not None else device)


def ignore_interrupts(worker_id: int = 0) -> None:
    """DataLoader `worker_init_fn`: workers ignore Ctrl-C, so the main process can stop and save cleanly."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def cpu_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A detached CPU copy of `model`'s state dict (for checkpoints)."""
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def make_grad_scaler(amp: torch.dtype | None) -> torch.amp.GradScaler:
    """A gradient scaler, active only for fp16 autocast (bf16 and fp32 need none)."""
    return torch.amp.GradScaler("cuda", enabled=amp == torch.float16)


def _plain(value: Any) -> Any:
    return [_plain(v) for v in value] if isinstance(value, tuple | list) else value


def amp_dtype(device: torch.device, precision: str) -> torch.dtype | None:
    """The autocast type for `precision` on `device`; None means plain fp32.

    "auto" is mixed precision on CUDA (bf16 where the GPU supports it, else fp16) and fp32 elsewhere.
    "bf16" on a CPU is fast only with AMX or AVX512-BF16 (2-3x fp32 for convolutions); elsewhere it is
    emulated and slow, which raises ConfigError. "fp16" needs CUDA.
    """
    if precision == "fp32" or (precision == "auto" and device.type != "cuda"):
        return None
    if precision == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError(f"precision: fp16 needs a CUDA GPU (device is {device.type}); use bf16 or fp32")
    if precision == "bf16" and device.type == "cpu" and not cpu_has_native_bf16():
        raise ConfigError("precision: this CPU has no bf16 instructions (AMX or AVX512-BF16); use fp32")
    return torch.bfloat16 if precision == "bf16" else torch.float16


def memory_format(device: torch.device, inference: bool = False) -> torch.memory_format:
    """Channels-last on CUDA (tensor cores want NHWC) and for inference everywhere (oneDNN's NHWC convolutions
    without a backward pass ran unet-small 1.3-2.4x faster on a 2-core CPU); the plain layout for training
    on CPUs (forward and backward ran as fast, and the layout reorders cost)."""
    return torch.channels_last if inference or device.type == "cuda" else torch.contiguous_format


@contextlib.contextmanager
def cudnn_autotune(enabled: bool) -> Iterator[None]:
    """Within it, cuDNN benchmarks kernels for each new input size (`torch.backends.cudnn.benchmark`) only when
    `enabled`: worth it for batches of one size, a cost for images of many sizes."""
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = enabled and before
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = before


def compiled(module: torch.nn.Module, enabled: bool) -> torch.nn.Module:
    """`module` run through torch.compile when `enabled` (it compiles on its first calls), else itself."""
    return cast(torch.nn.Module, torch.compile(module)) if enabled else module


def cpu_has_native_bf16() -> bool:
    """Whether this CPU has bf16 instructions (Intel AMX tiles or AVX512-BF16)."""
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)


@contextlib.contextmanager
def autocast(device: torch.device, dtype: torch.dtype | None) -> Iterator[None]:
    """Mixed precision when `dtype` is set, plain fp32 otherwise."""
    if dtype is None:
        yield
        return
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a hidden temporary sibling of `path` for writing; on success fsync it and rename it over `path`.

    A crash or an exception leaves `path` as it was (old content or absent) and no temporary file
    behind. Missing parent folders are created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(name)
    os.close(fd)  # reopened by name, so the handle has a file name (writers such as tifffile ask for it)
    try:
        with open(tmp, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: str | os.PathLike[str], data: bytes | str) -> Path:
    """Write bytes or text to `path` atomically (see `atomic_open`); returns the path."""
    with atomic_open(path, "w" if isinstance(data, str) else "wb") as handle:
        handle.write(data)
    return Path(path)


def shares(total: int, parts: int) -> list[int]:
    """`total` items split into `parts` consecutive shares whose sizes differ by at most one."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


# -- the process group of a torchrun launch ------------------------------------------------------------------

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
        """Whether there is a process group: several processes, or one that torchrun started (the NCCL/gloo and
        DDP path on a single device)."""
        return self.info.world_size > 1 or self.info.launched

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

    def gather(self, value: Any) -> list[Any]:
        """Every rank's `value` (a picklable object), in rank order, on every rank."""
        if not self.distributed:
            return [value]
        values: list[Any] = [None] * self.world
        self._collective(dist.all_gather_object, values, value)
        return values

    def block(self, count: int) -> range:
        """This rank's consecutive share of `count` items (rank 0 the first): in rank order the blocks are the
        items in their own order."""
        sizes = shares(count, self.world)
        start = sum(sizes[: self.rank])
        return range(start, start + sizes[self.rank])

    def broadcast(self, value: Any) -> Any:
        """Rank 0's `value` (a picklable object), on every rank."""
        if not self.distributed:
            return value
        holder = [value]
        self._collective(dist.broadcast_object_list, holder, src=0)
        return holder[0]

    def share_buffers(self, model: torch.nn.Module) -> None:
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
    return isinstance(error, dist.DistError) or any(mark in str(error) for mark in ("gloo", "NCCL", "ProcessGroup"))


def peer_lost_message(rank: int, error: BaseException) -> str:
    """One line for a failed collective: the backend's first sentence, without its source location."""
    text = re.sub(r"^\[[^\]]*\]\s*", "", str(error).strip().split("\n")[0])
    detail = text.split(". ")[0][:120] or type(error).__name__
    return f"rank {rank}: another process of the run stopped or stopped answering ({detail})"


def start_group(device: torch.device, timeout_s: float = DEFAULT_TIMEOUT_S) -> Group:
    """Join the torchrun group when there is one (backend from the device: NCCL on CUDA, gloo otherwise)."""
    info = process_info()
    group = Group(info, device)
    if group.distributed and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        timeout = datetime.timedelta(seconds=timeout_s)
        dist.init_process_group(backend, timeout=timeout, device_id=device if device.type == "cuda" else None,
                                **_attempt_store(info, timeout))
        group.started = True
    return group


_GROUP_NUMBERS = itertools.count(1)  # of the groups this process starts (a script may train several models)


def _attempt_store(info: ProcessInfo, timeout: datetime.timedelta) -> dict[str, Any]:
    """Under torchrun's agent store, a store prefix of its own for each restart of the group and each group
    this process starts: otherwise ranks read the addresses that failed predecessors (or this process's
    previous group) left there and fail to connect."""
    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        return {}
    base = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), info.world_size,
                         is_master=False, timeout=timeout)
    prefix = f"segen/attempt-{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}/group-{next(_GROUP_NUMBERS)}"
    return {"store": dist.PrefixStore(prefix, base), "rank": info.rank, "world_size": info.world_size}
