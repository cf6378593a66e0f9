"""What every stage needs about the process: device choice, seeding, RNG state capture and mixed precision."""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import signal
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

import numpy as np
import torch

from segen.errors import ConfigError


@dataclass(frozen=True)
class ProcessInfo:
    """Where this process stands in a torchrun launch (rank 0 of 1 without one)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def process_info() -> ProcessInfo:
    """This process's rank, world size and local rank, from the variables torchrun sets."""
    try:
        return ProcessInfo(*(int(os.environ.get(name, default)) for name, default in (
            ("RANK", "0"), ("WORLD_SIZE", "1"), ("LOCAL_RANK", "0"), ("LOCAL_WORLD_SIZE", "1"))))
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

    def _keep(self, whole: torch.Tensor, shape: tuple[int, ...], device: torch.device | str) -> torch.Tensor:
        if shape[0] != self.rows:
            raise ValueError(f"a draw for {shape[0]} samples from draws for {self.rows} rows")
        return whole[self.start:self.stop].to(device)

    def rand(self, shape: tuple[int, ...], device: torch.device | str = "cpu") -> torch.Tensor:
        """U(0, 1) numbers shaped `shape` (its first size: the rows)."""
        return self._keep(torch.rand(self.total, *shape[1:], generator=self._generator()), shape, device)

    def randn(self, shape: tuple[int, ...], device: torch.device | str = "cpu") -> torch.Tensor:
        """N(0, 1) numbers shaped `shape` (its first size: the rows)."""
        return self._keep(torch.randn(self.total, *shape[1:], generator=self._generator()), shape, device)

    def randint(self, low: int, high: int, shape: tuple[int, ...], device: torch.device | str = "cpu"
                ) -> torch.Tensor:
        """Integers in [low, high) shaped `shape` (its first size: the rows)."""
        whole = torch.randint(low, high, (self.total, *shape[1:]), generator=self._generator())
        return self._keep(whole, shape, device)


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
