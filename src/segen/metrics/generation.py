"""FID and KID of generated images against real ones, on features from a pluggable network.

Feature extractors take uint8 (or float in [0, 1]) N,C,H,W images of any size with 1 or 3 channels and return
N,D features: `InceptionFeatures`, the standard FID Inception-v3 (2048-d, weights SHA-256 checked and read as
tensors only), or `TorchScriptFeatures`, any TorchScript network (code: only load networks you trust).
Statistics and distances come from torchmetrics on float64 features; torchmetrics and torch-fidelity are
imported only when used, so segmentation code does not need them.
"""

from __future__ import annotations

import hashlib
import importlib
import threading
import urllib.request
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from segen.errors import ConfigError, DataError
from segen.preprocess import match_channels, to_unit, unit_to_uint8
from segen.runtime import atomic_open

GENERATION_METRICS = ("fid", "kid")
INCEPTION_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"
)
INCEPTION_FILES = ("weights-inception-2015-12-05-6726825d.pth", "pt_inception-2015-12-05-6726825d.pth")
#: SHA-256 of the FID Inception weights (95,628,359 bytes), published under both names above; the 8 hex digits
#: in the names are its prefix.
INCEPTION_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
DOWNLOAD_TIMEOUT_S = 30.0
#: Smallest KID subset the requested subset size is lowered to when there are fewer images.
KID_MIN_SUBSET = 100
_BUILD_LOCK = threading.Lock()


def _require(module: str, install: str = "torchmetrics torch-fidelity") -> Any:
    """Import an optional dependency of FID/KID, or fail with one line on how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(f"FID/KID need {module.split('.')[0]}: pip install {install}") from None


def _one_line(error: BaseException) -> str:
    """The first line of an exception message, for one-line user errors."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _check_shape(images: Tensor) -> None:
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise DataError(f"images must be N,C,H,W with 1 or 3 channels, got shape {tuple(images.shape)}")


def _unit_images(images: Tensor) -> Tensor:
    """uint8 [0, 255] or float [0, 1] N,C,H,W images (1 or 3 channels) -> float32 in [0, 1]."""
    _check_shape(images)
    if images.dtype != torch.uint8 and not images.is_floating_point():
        raise DataError(f"images must be uint8 or float in [0, 1], got {images.dtype}")
    low, high = float(images.min()), float(images.max())
    if images.is_floating_point() and (low < -1e-4 or high > 1 + 1e-4):
        raise DataError(f"float images must lie in [0, 1], got values in [{low:.3g}, {high:.3g}]")
    return to_unit(images).clamp(0, 1)


def resize(images: Tensor, size: tuple[int, int] | None) -> Tensor:
    """Bilinear, antialiased resize of float images to size (H, W); unchanged when None or already that size."""
    if size is None or tuple(images.shape[-2:]) == size:
        return images
    return F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=True)


class TorchScriptFeatures(nn.Module):
    """Features from a TorchScript network mapping float [0, 1] N,C,H,W images to N,D vectors.

    A TorchScript file is a program that runs when loaded and called: only load feature networks you trust.

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
        x = _unit_images(images)
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
        raise ConfigError(_missing_inception(f"{weights_path} does not exist"), kind="missing", path=weights_path)
    cached = inception_cache_path()
    for candidate in (cached.with_name(name) for name in INCEPTION_FILES):
        if candidate.is_file():
            return candidate
    if not download:
        raise ConfigError(_missing_inception(f"{cached} does not exist and downloading is off"), kind="missing",
                          path=cached)
    return _download_inception(cached)


def _open_url(url: str, timeout: float) -> IO[bytes]:
    return urllib.request.urlopen(url, timeout=timeout)


def _download_inception(target: Path) -> Path:
    """Download the weights into the cache, hashing while writing; a file with the wrong hash never lands there."""
    digest = hashlib.sha256()
    try:
        with _open_url(INCEPTION_URL, DOWNLOAD_TIMEOUT_S) as response, atomic_open(target) as out:
            for chunk in iter(lambda: response.read(1 << 20), b""):
                digest.update(chunk)
                out.write(chunk)
            _check_hash(digest.hexdigest(), INCEPTION_URL, target)
    except ConfigError:
        raise
    except Exception as e:
        raise ConfigError(_missing_inception(f"download from {INCEPTION_URL} failed ({_one_line(e)})")) from None
    return target


def _missing_inception(problem: str) -> str:
    return (f"Inception weights are not available: {problem}; put {INCEPTION_FILES[0]} at {inception_cache_path()} "
            f"or pass its path with --inception-weights, or use --features PATH (a TorchScript feature network) "
            f"to work offline")


def _check_hash(actual: str, source: str | Path, path: Path) -> None:
    if actual != INCEPTION_SHA256:
        raise ConfigError(f"Inception weights {source} are not the known FID weights file (SHA-256 {actual[:16]}..., "
                          f"expected {INCEPTION_SHA256[:16]}...); delete it and pass the right file with "
                          f"--inception-weights", kind="mismatch", path=path)


def load_inception_state(path: str | Path) -> dict[str, Tensor]:
    """The FID Inception weights as tensors: SHA-256 checked first, then read without running any code.

    Raises:
        ConfigError: kind "mismatch" for a file that is not the known one, "corrupt" for one that is not a
            weights-only state dict.
    """
    path = Path(path)
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    _check_hash(digest.hexdigest(), path, path)
    try:
        state = _read_tensors(path)
    except Exception as e:
        if isinstance(e, ConfigError):
            raise
        raise ConfigError(f"Inception weights {path} are not a weights-only state dict: {_one_line(e)}",
                          kind="corrupt", path=path) from None
    if not (isinstance(state, dict) and state
            and all(isinstance(k, str) and isinstance(v, Tensor) for k, v in state.items())):
        raise ConfigError(f"Inception weights {path} are not a weights-only state dict (names -> tensors)",
                          kind="corrupt", path=path)
    return state


def _read_tensors(path: Path) -> Any:
    """A safetensors file, else a torch file read with weights_only=True (tensors and plain data, no code)."""
    with path.open("rb") as handle:
        head = handle.read(9)
    if head[8:9] == b"{" and int.from_bytes(head[:8], "little") < path.stat().st_size:
        return _require("safetensors.torch", "safetensors").load_file(str(path))
    return torch.load(path, map_location="cpu", weights_only=True)


def _build_inception(state: dict[str, Tensor], path: Path) -> nn.Module:
    """torchmetrics' FID Inception-v3 built around verified tensors: torch-fidelity reads no file and downloads
    nothing. Given no path, it asks its module's `load_state_dict_from_url` for the weights; for the length of
    the build that name hands over the tensors, which torch-fidelity puts in with load_state_dict (strict)."""
    fidelity = _require("torch_fidelity.feature_extractor_inceptionv3")
    fid = _require("torchmetrics.image.fid")
    if not callable(getattr(fidelity, "load_state_dict_from_url", None)):
        raise ConfigError("this torch-fidelity version builds its Inception-v3 in an unknown way: "
                          "pip install 'torch-fidelity>=0.3,<0.5'")
    with _BUILD_LOCK:
        original = fidelity.load_state_dict_from_url
        fidelity.load_state_dict_from_url = lambda url, **_: state
        try:
            net = fid.NoTrainInceptionV3("inception-v3-compat", ["2048"], None)
        except Exception as e:
            raise ConfigError(f"Inception weights {path} do not fit the FID Inception-v3: {_one_line(e)}",
                              kind="mismatch", path=path) from None
        finally:
            fidelity.load_state_dict_from_url = original
    return net


class InceptionFeatures(nn.Module):
    """The standard FID Inception-v3 (torch-fidelity port of the TensorFlow graph): 2048-d pool features.

    Images are converted to uint8 RGB and resized to 299x299 (bilinear, antialiased). The weights file must be
    the known one (SHA-256 checked) and is read as tensors only.

    Args:
        weights_path: The torch-fidelity weights file; None looks in the torch hub cache.
        download: Download the weights into the cache when they are not there.
    """

    num_features = 2048

    def __init__(self, weights_path: str | Path | None = None, download: bool = False) -> None:
        super().__init__()
        self.weights_path = locate_inception_weights(weights_path, download)
        self.net = _build_inception(load_inception_state(self.weights_path), self.weights_path)

    @torch.no_grad()
    def forward(self, images: Tensor) -> Tensor:
        """uint8 or float [0, 1] N,C,H,W images -> N,2048 float features."""
        uint8 = images if images.dtype == torch.uint8 else unit_to_uint8(_unit_images(images))
        _check_shape(uint8)
        return self.net(match_channels(uint8, 3)).float()


class _Precomputed(nn.Module):
    """Hands features computed outside the torchmetrics metrics through unchanged."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: Tensor) -> Tensor:
        return features


class GenerationMetrics:
    """Accumulates features of real and generated images and computes FID and KID.

    FID needs more real and generated images than features (else the covariance is singular), KID subsets of
    `kid_subset_size` (lowered to fit, not below KID_MIN_SUBSET); fewer are refused unless `allow_few_images`.

    Args:
        features: Network mapping an N,C,H,W image batch to N,D features (e.g. InceptionFeatures).
        metrics: Any of "fid" and "kid".
        kid_subset_size: Images per KID subset, lowered to the smaller set size (not below KID_MIN_SUBSET).
        kid_subsets: Number of random KID subsets.
        device: Where features are computed and statistics kept.
        seed: Seed of the KID subset sampling, so that compute() is repeatable.
        allow_few_images: Score fewer images than the metrics need instead of refusing (unreliable figures).
    """

    def __init__(self, features: nn.Module, metrics: Sequence[str] = GENERATION_METRICS, kid_subset_size: int = 1000,
                 kid_subsets: int = 100, device: str | torch.device = "cpu", seed: int = 0,
                 allow_few_images: bool = False) -> None:
        unknown = sorted(set(metrics) - set(GENERATION_METRICS))
        if unknown or not metrics:
            raise ConfigError(f"generation metrics must be among {list(GENERATION_METRICS)}, got {list(metrics)}")
        if kid_subset_size < 2 or kid_subsets < 1:
            raise ConfigError(f"KID needs subset size >= 2 and >= 1 subset, got {kid_subset_size} and {kid_subsets}")
        self.metrics = tuple(m for m in GENERATION_METRICS if m in metrics)
        self.kid_subset_size, self.kid_subsets, self.seed = kid_subset_size, kid_subsets, seed
        self.allow_few_images = allow_few_images
        self.device = torch.device(device)
        self.features = features.to(self.device).eval()
        self.num_features: int | None = getattr(features, "num_features", None)  # known before any image
        self.counts = {True: 0, False: 0}
        self.reliable = True
        self._fid: Any = None
        self._kid: Any = None

    @property
    def min_images(self) -> int:
        """Fewest real and generated images each for meaningful figures (feature size + 1 for FID)."""
        needs = [min(self.kid_subset_size, KID_MIN_SUBSET)] if "kid" in self.metrics else []
        if "fid" in self.metrics and self.num_features is not None:
            needs.append(self.num_features + 1)
        return max(needs, default=2)

    def reset(self) -> None:
        """Forget all real and generated images."""
        self.counts = {True: 0, False: 0}
        self.reliable = True
        for metric in (self._fid, self._kid):
            if metric is not None:
                metric.reset()

    @torch.no_grad()
    def update(self, images: Tensor, real: bool) -> None:
        """Add a batch of real or generated images (uint8 N,C,H,W, or float in [0, 1])."""
        self.update_features(self.embed(images), real)

    @torch.no_grad()
    def embed(self, images: Tensor) -> Tensor:
        """The features of a batch of images (uint8 N,C,H,W, or float in [0, 1]), without adding them."""
        return self.features(images.to(self.device))

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
        """Create the torchmetrics metrics once the feature size is known; they never sync across ranks by
        themselves (under torchrun the caller gathers the features in order)."""
        if self._fid is not None or self._kid is not None:
            if num_features != self.num_features:
                raise DataError(f"feature size changed from {self.num_features} to {num_features}")
            return
        self.num_features = num_features
        if "fid" in self.metrics:
            fid = _require("torchmetrics.image.fid")
            self._fid = fid.FrechetInceptionDistance(_Precomputed(num_features), sync_on_compute=False).to(self.device)
        if "kid" in self.metrics:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "will save all extracted features"
                kid = _require("torchmetrics.image.kid")
                self._kid = kid.KernelInceptionDistance(_Precomputed(num_features), subsets=self.kid_subsets,
                                                        subset_size=self.kid_subset_size,
                                                        sync_on_compute=False).to(self.device)

    def check_counts(self, n_real: int, n_fake: int) -> None:
        """Refuse fewer than min_images of each unless allowed (then mark unreliable); usable before any update."""
        if min(n_real, n_fake) < 2:
            raise ConfigError(f"FID/KID need at least 2 real and 2 generated images, got {n_real} and {n_fake}")
        self.reliable = min(n_real, n_fake) >= self.min_images
        if self.reliable or self.allow_few_images:
            return
        reasons = {"fid": f"FID: more than the {self.num_features} features",
                   "kid": f"KID: subsets of {min(self.kid_subset_size, KID_MIN_SUBSET)}"}
        raise ConfigError(f"too few images: got {n_real} real and {n_fake} generated, need at least {self.min_images} "
                          f"of each ({'; '.join(reasons[m] for m in self.metrics)}); use more images, or "
                          f"--allow-few-images for an unreliable figure")

    def compute(self) -> dict[str, float]:
        """{"fid", "kid_mean", "kid_std"} for the chosen metrics; sets `reliable`.

        Raises:
            ConfigError: Fewer than 2 real or 2 generated images, or fewer than min_images without
                allow_few_images.
        """
        n_real, n_fake = self.counts[True], self.counts[False]
        self.check_counts(n_real, n_fake)
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
    """FID/KID of batches of generated images (`fake`) against batches of real ones (uint8 N,C,H,W, or float in
    [0, 1]), with the `features` network; `options` are those of GenerationMetrics."""
    scores = GenerationMetrics(features, metrics, **options)
    for batch in real:
        scores.update(batch, real=True)
    for batch in fake:
        scores.update(batch, real=False)
    return scores.compute()
