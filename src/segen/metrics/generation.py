"""FID and KID of generated images against real ones, on features from a pluggable network.

Feature extractors take uint8 (or float in [0, 1]) N,C,H,W images of any size with 1 or 3 channels and
return N,D features. `InceptionFeatures` is the standard FID Inception-v3 (2048-d pool features);
`TorchScriptFeatures` loads any TorchScript network, e.g. a small classifier trained on the target domain.
The statistics and distances come from torchmetrics, on float64 features computed once per batch; torchmetrics
and torch-fidelity are imported only when used, so segmentation code does not need them.
"""

from __future__ import annotations

import importlib
import socket
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.transforms.functional import rgb_to_grayscale

from segen.errors import ConfigError, DataError

GENERATION_METRICS = ("fid", "kid")
INCEPTION_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"
)
INCEPTION_FILES = ("weights-inception-2015-12-05-6726825d.pth", "pt_inception-2015-12-05-6726825d.pth")
DOWNLOAD_TIMEOUT_S = 30.0


def _require(module: str) -> Any:
    """Import an optional dependency of FID/KID, or fail with one line on how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(f"FID/KID need {module.split('.')[0]}: pip install torchmetrics torch-fidelity") from None


def _one_line(error: BaseException) -> str:
    """The first line of an exception message, for one-line user errors."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _check_images(images: Tensor) -> None:
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise DataError(f"images must be N,C,H,W with 1 or 3 channels, got shape {tuple(images.shape)}")


def to_unit_float(images: Tensor) -> Tensor:
    """uint8 [0, 255] or float [0, 1] N,C,H,W images -> float32 in [0, 1]."""
    _check_images(images)
    if images.dtype == torch.uint8:
        return images.float() / 255
    if not images.is_floating_point():
        raise DataError(f"images must be uint8 or float in [0, 1], got {images.dtype}")
    low, high = float(images.min()), float(images.max())
    if low < -1e-4 or high > 1 + 1e-4:
        raise DataError(f"float images must lie in [0, 1], got values in [{low:.3g}, {high:.3g}]")
    return images.float().clamp(0, 1)


def to_uint8(images: Tensor) -> Tensor:
    """uint8 or float [0, 1] N,C,H,W images -> uint8 [0, 255]."""
    if images.dtype == torch.uint8:
        _check_images(images)
        return images
    return (to_unit_float(images) * 255).round().to(torch.uint8)


def match_channels(images: Tensor, channels: int) -> Tensor:
    """Grey -> RGB by repetition, RGB -> grey by luminance; unchanged when the count already matches."""
    if images.shape[1] == channels:
        return images
    if images.shape[1] == 1 and channels == 3:
        return images.expand(-1, 3, -1, -1)
    if images.shape[1] == 3 and channels == 1:
        return rgb_to_grayscale(images)
    raise DataError(f"cannot convert {images.shape[1]}-channel images to {channels} channels")


def resize(images: Tensor, size: tuple[int, int] | None) -> Tensor:
    """Bilinear, antialiased resize of float images to size (H, W); unchanged when None or already that size."""
    if size is None or tuple(images.shape[-2:]) == size:
        return images
    return F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=True)


class TorchScriptFeatures(nn.Module):
    """Features from a TorchScript network mapping float [0, 1] N,C,H,W images to N,D vectors.

    Integer attribute `input_channels` and `input_size` ([H, W] or an int) stored in the scripted module, when
    present, set the channel count and size images are converted to; otherwise images are passed as they are.

    Args:
        path: A file written by torch.jit.save.
    """

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)
        self.net = _load_torchscript(self.path).eval()
        self.input_channels = _channels_attribute(self.net, self.path)
        self.input_size = _size_attribute(self.net, self.path)
        self.num_features = self._probe()

    def _probe(self) -> int:
        """Feature size from one forward of a random image (3 channels, else 1, when none are declared)."""
        size = self.input_size or (64, 64)
        tries = [self.input_channels] if self.input_channels else [3, 1]
        error: BaseException | None = None
        for channels in tries:
            try:
                with torch.no_grad():
                    out = self.net(torch.rand(1, channels, *size))
            except Exception as e:
                error = e
                continue
            if not isinstance(out, Tensor) or out.dim() < 2 or out.shape[0] != 1:
                raise ConfigError(f"feature network {self.path} must return an N,D tensor, got {_describe(out)}")
            return int(out[0].numel())
        assert error is not None
        shape = f"1x{'|'.join(map(str, tries))}x{size[0]}x{size[1]}"
        raise ConfigError(f"feature network {self.path} fails on a {shape} image in [0, 1]: {_one_line(error)}")

    @torch.no_grad()
    def forward(self, images: Tensor) -> Tensor:
        """uint8 or float [0, 1] N,C,H,W images -> N,D float features."""
        x = to_unit_float(images)
        if self.input_channels:
            x = match_channels(x, self.input_channels)
        x = resize(x, self.input_size)
        return self.net(x).reshape(x.shape[0], -1).float()


def _load_torchscript(path: Path) -> Any:
    if not path.is_file():
        raise DataError(f"feature network {path} does not exist")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            return torch.jit.load(str(path), map_location="cpu")
    except Exception as e:
        raise DataError(f"feature network {path} is not a TorchScript file (torch.jit.save): {_one_line(e)}") from None


def _describe(value: Any) -> str:
    return f"shape {tuple(value.shape)}" if isinstance(value, Tensor) else type(value).__name__


def _channels_attribute(net: Any, path: Path) -> int | None:
    channels = getattr(net, "input_channels", None)
    if channels is None:
        return None
    if channels not in (1, 3):
        raise ConfigError(f"feature network {path}: input_channels must be 1 or 3, got {channels!r}")
    return int(channels)


def _size_attribute(net: Any, path: Path) -> tuple[int, int] | None:
    size = getattr(net, "input_size", None)
    if size is None:
        return None
    if isinstance(size, int):
        size = [size, size]
    if not (isinstance(size, (list, tuple)) and len(size) == 2 and all(isinstance(s, int) and s > 0 for s in size)):
        raise ConfigError(f"feature network {path}: input_size must be [H, W] or an int, got {size!r}")
    return int(size[0]), int(size[1])


def inception_cache_path() -> Path:
    """Where the FID Inception weights are looked for: the torch hub checkpoint folder."""
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILES[0]


def locate_inception_weights(weights_path: str | Path | None = None, download: bool = False) -> Path:
    """The FID Inception-v3 weights file: the given path, else the torch hub cache, else downloaded there.

    Raises:
        ConfigError: The file is not available (a one-line message on where to put it).
    """
    if weights_path is not None:
        if Path(weights_path).is_file():
            return Path(weights_path)
        raise ConfigError(_missing_inception(f"{weights_path} does not exist"))
    cached = inception_cache_path()
    for candidate in (cached.with_name(name) for name in INCEPTION_FILES):
        if candidate.is_file():
            return candidate
    if not download:
        raise ConfigError(_missing_inception(f"{cached} does not exist and downloading is off"))
    return _download_inception(cached)


def _download_inception(target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        torch.hub.download_url_to_file(INCEPTION_URL, str(target), progress=False)
    except Exception as e:
        raise ConfigError(_missing_inception(f"download from {INCEPTION_URL} failed ({_one_line(e)})")) from None
    finally:
        socket.setdefaulttimeout(previous)
    return target


def _missing_inception(problem: str) -> str:
    return (f"Inception weights are not available: {problem}; put {INCEPTION_FILES[0]} at {inception_cache_path()} "
            f"or pass its path with --inception-weights, or use --features PATH (a TorchScript feature network) "
            f"to work offline")


class InceptionFeatures(nn.Module):
    """The standard FID Inception-v3 (torch-fidelity port of the TensorFlow graph): 2048-d pool features.

    Images are converted to uint8 RGB and resized to 299x299 (bilinear, antialiased).

    Args:
        weights_path: The torch-fidelity weights file; None looks in the torch hub cache.
        download: Download the weights into the cache when they are not there.
    """

    num_features = 2048

    def __init__(self, weights_path: str | Path | None = None, download: bool = False) -> None:
        super().__init__()
        self.weights_path = locate_inception_weights(weights_path, download)
        _require("torch_fidelity")
        fid = _require("torchmetrics.image.fid")
        try:
            self.net = fid.NoTrainInceptionV3("inception-v3-compat", ["2048"], str(self.weights_path))
        except Exception as e:
            raise ConfigError(f"Inception weights {self.weights_path} cannot be loaded: {_one_line(e)}") from None

    @torch.no_grad()
    def forward(self, images: Tensor) -> Tensor:
        """uint8 or float [0, 1] N,C,H,W images -> N,2048 float features."""
        return self.net(match_channels(to_uint8(images), 3)).float()


class _Precomputed(nn.Module):
    """Hands features computed outside the torchmetrics metrics through unchanged."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: Tensor) -> Tensor:
        return features


class GenerationMetrics:
    """Accumulates features of real and generated images and computes FID and KID.

    Args:
        features: Network mapping an N,C,H,W image batch to N,D features (e.g. InceptionFeatures).
        metrics: Any of "fid" and "kid".
        kid_subset_size: Images per KID subset, capped at the smaller set size when computing.
        kid_subsets: Number of random KID subsets.
        device: Where features are computed and statistics kept.
        seed: Seed of the KID subset sampling, so that compute() is repeatable.
    """

    def __init__(self, features: nn.Module, metrics: Sequence[str] = GENERATION_METRICS, kid_subset_size: int = 1000,
                 kid_subsets: int = 100, device: str | torch.device = "cpu", seed: int = 0) -> None:
        unknown = sorted(set(metrics) - set(GENERATION_METRICS))
        if unknown or not metrics:
            raise ConfigError(f"generation metrics must be among {list(GENERATION_METRICS)}, got {list(metrics)}")
        if kid_subset_size < 2 or kid_subsets < 1:
            raise ConfigError(f"KID needs subset size >= 2 and >= 1 subset, got {kid_subset_size} and {kid_subsets}")
        self.metrics = tuple(m for m in GENERATION_METRICS if m in metrics)
        self.kid_subset_size, self.kid_subsets, self.seed = kid_subset_size, kid_subsets, seed
        self.device = torch.device(device)
        self.features = features.to(self.device).eval()
        self.num_features: int | None = None
        self.counts = {True: 0, False: 0}
        self._fid: Any = None
        self._kid: Any = None

    def reset(self) -> None:
        """Forget all real and generated images."""
        self.counts = {True: 0, False: 0}
        for metric in (self._fid, self._kid):
            if metric is not None:
                metric.reset()

    @torch.no_grad()
    def update(self, images: Tensor, real: bool) -> None:
        """Add a batch of real or generated images (uint8 N,C,H,W, or float in [0, 1])."""
        self.update_features(self.features(images.to(self.device)), real)

    @torch.no_grad()
    def update_features(self, features: Tensor, real: bool) -> None:
        """Add N,D features already computed by the feature network."""
        features = features.reshape(features.shape[0], -1).to(self.device, torch.float64)
        self._build(features.shape[1])
        for metric in (self._fid, self._kid):
            if metric is not None:
                metric.update(features, real=real)
        self.counts[real] += features.shape[0]

    def _build(self, num_features: int) -> None:
        """Create the torchmetrics metrics once the feature size is known."""
        if self.num_features is not None:
            if num_features != self.num_features:
                raise DataError(f"feature size changed from {self.num_features} to {num_features}")
            return
        self.num_features = num_features
        if "fid" in self.metrics:
            fid = _require("torchmetrics.image.fid")
            self._fid = fid.FrechetInceptionDistance(_Precomputed(num_features)).to(self.device)
        if "kid" in self.metrics:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "will save all extracted features"
                kid = _require("torchmetrics.image.kid")
                self._kid = kid.KernelInceptionDistance(_Precomputed(num_features), subsets=self.kid_subsets,
                                                        subset_size=self.kid_subset_size).to(self.device)

    def compute(self) -> dict[str, float]:
        """{"fid", "kid_mean", "kid_std"} for the chosen metrics.

        Raises:
            ConfigError: Fewer than 2 real or 2 generated images.
        """
        n_real, n_fake = self.counts[True], self.counts[False]
        if min(n_real, n_fake) < 2:
            raise ConfigError(f"FID/KID need at least 2 real and 2 generated images, got {n_real} and {n_fake}")
        scores: dict[str, float] = {}
        if self._fid is not None:
            scores["fid"] = float(self._fid.compute())
        if self._kid is not None:
            self._kid.subset_size = min(self.kid_subset_size, n_real, n_fake)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed)
                mean, std = self._kid.compute()
            scores.update(kid_mean=float(mean), kid_std=float(std))
        return scores


def compute_fid_kid(real: Iterable[Tensor], fake: Iterable[Tensor], features: nn.Module,
                    metrics: Sequence[str] = GENERATION_METRICS, **options: Any) -> dict[str, float]:
    """FID/KID of batches of generated images against batches of real ones.

    Args:
        real: Batches of real images (uint8 N,C,H,W, or float in [0, 1]).
        fake: Batches of generated images.
        features: The feature network.
        metrics: Any of "fid" and "kid".
        **options: kid_subset_size, kid_subsets, device, seed of GenerationMetrics.
    """
    scores = GenerationMetrics(features, metrics, **options)
    for batch in real:
        scores.update(batch, real=True)
    for batch in fake:
        scores.update(batch, real=False)
    return scores.compute()
