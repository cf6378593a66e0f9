"""FID/KID on a tiny scripted feature network: closed forms, monotone growth with a shift, input handling, errors."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models import inception_v3

from segen.errors import ConfigError, DataError
from segen.metrics import GenerationMetrics, InceptionFeatures, TorchScriptFeatures, compute_fid_kid, generation
from segen.preprocess import rgb_to_grey

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit is deprecated in recent torch


class TinyFeatures(nn.Module):
    """Random conv net + global pooling: 16-d features of channels x size x size images in [0, 1]."""

    def __init__(self, channels: int = 3, size: int = 32) -> None:
        super().__init__()
        self.input_channels = channels
        self.input_size = [size, size]
        self.body = nn.Sequential(nn.Conv2d(channels, 8, 3, stride=2, padding=1), nn.ReLU(),
                                  nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU())

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x).mean(dim=(2, 3))


class Flatten(nn.Module):
    """Identity-like feature network: N,D,1,1 'images' -> N,D features."""

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(1)


def save_scripted(module: nn.Module, path: Path) -> Path:
    torch.jit.save(torch.jit.script(module), str(path))
    return path


@pytest.fixture(scope="module")
def features_rgb(tmp_path_factory: pytest.TempPathFactory) -> TorchScriptFeatures:
    torch.manual_seed(0)
    return TorchScriptFeatures(save_scripted(TinyFeatures(3), tmp_path_factory.mktemp("net") / "rgb.pt"))


@pytest.fixture(scope="module")
def features_grey(tmp_path_factory: pytest.TempPathFactory) -> TorchScriptFeatures:
    torch.manual_seed(1)
    return TorchScriptFeatures(save_scripted(TinyFeatures(1), tmp_path_factory.mktemp("net") / "grey.pt"))


def textures(n: int = 200, channels: int = 3, size: int = 32, seed: int = 0) -> Tensor:
    """Smooth random textures, uint8 in [40, 160] so that a +80 shift does not clip."""
    g = torch.Generator().manual_seed(seed)
    noise = torch.rand(n, channels, size // 4, size // 4, generator=g)
    smooth = F.interpolate(noise, size=(size, size), mode="bilinear", align_corners=False)
    return (40 + 120 * smooth).round().to(torch.uint8)


def brighter(images: Tensor, shift: int) -> Tensor:
    return (images.int() + shift).clamp(0, 255).to(torch.uint8)


def scores(features: nn.Module, real: Tensor, fake: Tensor, **options: Any) -> dict[str, float]:
    return compute_fid_kid(real.split(64), fake.split(64), features, kid_subset_size=50, kid_subsets=20, **options)


def test_loads_attributes_and_feature_size(features_rgb: TorchScriptFeatures) -> None:
    assert features_rgb.input_channels == 3
    assert features_rgb.input_size == (32, 32)
    assert features_rgb.num_features == 16
    assert features_rgb(textures(5)).shape == (5, 16)


def test_fid_and_kid_zero_for_identical_sets_and_grow_with_brightness(features_rgb: TorchScriptFeatures) -> None:
    real = textures()
    results = [scores(features_rgb, real, brighter(real, shift)) for shift in (0, 20, 40, 80)]
    fids = [r["fid"] for r in results]
    kids = [r["kid_mean"] for r in results]
    assert abs(fids[0]) < 1e-3 * fids[-1]
    assert abs(kids[0]) < 1e-3 * kids[-1]
    assert fids == sorted(fids) and len(set(fids)) == 4
    assert kids == sorted(kids) and len(set(kids)) == 4
    assert all(r["kid_std"] >= 0 for r in results)


def test_fid_small_for_another_draw_of_the_same_textures(features_rgb: TorchScriptFeatures) -> None:
    real = textures(seed=0)
    same_kind = scores(features_rgb, real, textures(seed=1))["fid"]
    shifted = scores(features_rgb, real, brighter(real, 40))["fid"]
    assert 0 < same_kind < shifted


def test_fid_matches_closed_form_on_gaussian_features() -> None:
    # Exactly whitened samples: means 0 and mu, covariances I and 4I -> FID = |mu|^2 + D * (1 - 2)^2
    mu = torch.tensor([1.0, 2.0, 0.0, -1.0], dtype=torch.float64)
    x, y = whitened(500, 4, seed=0), 2 * whitened(400, 4, seed=1) + mu
    metric = GenerationMetrics(Flatten(), metrics=("fid",))
    metric.update(x[:, :, None, None], real=True)
    metric.update(y[:, :, None, None], real=False)
    assert metric.compute() == {"fid": pytest.approx(6.0 + 4.0, abs=1e-9)}


def whitened(n: int, d: int, seed: int) -> Tensor:
    """n samples with sample mean exactly 0 and (unbiased) sample covariance exactly I."""
    z = torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    z = z - z.mean(0)
    chol = torch.linalg.cholesky(z.T @ z / (n - 1))
    return torch.linalg.solve_triangular(chol, z.T, upper=False).T


def test_accumulates_resets_and_is_repeatable(features_rgb: TorchScriptFeatures) -> None:
    real, fake = textures(120), brighter(textures(120, seed=2), 30)
    metric = GenerationMetrics(features_rgb, kid_subset_size=1000, kid_subsets=10)  # subset lowered to 120
    for batch in real.split(50):
        metric.update(batch, real=True)
    metric.update(fake, real=False)
    first = metric.compute()
    assert set(first) == {"fid", "kid_mean", "kid_std"}
    assert metric.compute() == first
    metric.reset()
    metric.update(real, real=True)
    metric.update(fake, real=False)
    assert metric.compute() == pytest.approx(first)
    metric.reset()
    with pytest.raises(ConfigError, match="at least 2"):
        metric.compute()


def test_uint8_and_float_inputs_agree(features_rgb: TorchScriptFeatures) -> None:
    images = textures(8)
    torch.testing.assert_close(features_rgb(images), features_rgb(images.float() / 255))
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        features_rgb(images.float() / 127.5 - 1)


def test_grey_and_rgb_inputs(features_rgb: TorchScriptFeatures, features_grey: TorchScriptFeatures) -> None:
    grey, rgb = textures(8, channels=1), textures(8, channels=3)
    torch.testing.assert_close(features_rgb(grey), features_rgb(grey.expand(-1, 3, -1, -1)))
    torch.testing.assert_close(features_grey(rgb), features_grey.net(rgb_to_grey(rgb.float() / 255)))
    real = textures(100, channels=1)
    fids = [scores(features_grey, real, brighter(real, s), metrics=("fid",))["fid"] for s in (0, 40)]
    assert abs(fids[0]) < 1e-3 * fids[1]


def test_other_sizes_are_resized(features_rgb: TorchScriptFeatures) -> None:
    images = textures(6, size=48)[..., :40]  # 48 x 40
    expected = features_rgb.net(F.interpolate(images.float() / 255, size=(32, 32), mode="bilinear",
                                              antialias=True, align_corners=False))
    torch.testing.assert_close(features_rgb(images), expected)
    real = textures(100, size=32)
    upsampled = F.interpolate(real.float(), size=(64, 64), mode="bilinear").round().to(torch.uint8)
    near = scores(features_rgb, real, upsampled, metrics=("fid",))["fid"]
    far = scores(features_rgb, real, brighter(real, 40), metrics=("fid",))["fid"]
    assert near < 0.1 * far


def test_untagged_network_takes_images_as_they_are(tmp_path: Path) -> None:
    net = TinyFeatures(1)
    del net.input_channels, net.input_size
    features = TorchScriptFeatures(save_scripted(net, tmp_path / "plain.pt"))
    assert (features.input_channels, features.input_size, features.num_features) == (None, None, 16)
    assert features(textures(3, channels=1, size=20)).shape == (3, 16)


def one_line(error: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def test_bad_torchscript_files(tmp_path: Path) -> None:
    with pytest.raises(DataError) as missing:
        TorchScriptFeatures(tmp_path / "missing.pt")
    assert "missing.pt" in one_line(missing) and "does not exist" in one_line(missing)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model")
    with pytest.raises(DataError) as bad:
        TorchScriptFeatures(junk)
    assert str(junk) in one_line(bad) and "not a TorchScript file" in one_line(bad)
    net = TinyFeatures(3, size=8)
    net.input_channels = 1  # the declared channels do not fit the first convolution
    with pytest.raises(ConfigError) as failing:
        TorchScriptFeatures(save_scripted(net, tmp_path / "wrong.pt"))
    assert "wrong.pt fails on a 1x1x8x8 image" in one_line(failing)


def test_rejects_bad_arguments(features_rgb: TorchScriptFeatures) -> None:
    with pytest.raises(ConfigError, match="among"):
        GenerationMetrics(features_rgb, metrics=("fid", "is"))
    with pytest.raises(DataError, match="1 or 3 channels"):
        features_rgb(torch.zeros(2, 4, 8, 8, dtype=torch.uint8))
    assert set(scores(features_rgb, textures(50), textures(50, seed=3), metrics=("kid",))) == {
        "kid_mean", "kid_std"}


def test_missing_inception_weights_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError) as given:
        InceptionFeatures(str(tmp_path / "nowhere.pth"), download=False)
    message = one_line(given)
    assert "Inception weights are not available" in message and "nowhere.pth" in message
    assert "--inception-weights" in message and "--features PATH" in message
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))
    with pytest.raises(ConfigError) as cached:
        InceptionFeatures(None, download=False)
    assert str(tmp_path / "hub" / "checkpoints" / "weights-inception-2015-12-05-6726825d.pth") in one_line(cached)


def test_unreadable_inception_weights_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    junk = tmp_path / "weights.pth"
    junk.write_bytes(b"junk")
    with pytest.raises(ConfigError) as error:
        InceptionFeatures(junk)
    assert f"Inception weights {junk}" in one_line(error) and "SHA-256" in one_line(error)
    assert (error.value.kind, error.value.path) == ("mismatch", junk)
    monkeypatch.setattr(generation, "INCEPTION_SHA256", sha256(junk))
    with pytest.raises(ConfigError) as unreadable:
        InceptionFeatures(junk)
    assert "not a weights-only state dict" in one_line(unreadable) and unreadable.value.kind == "corrupt"
    torch.save({"fc.weight": torch.zeros(2, 2)}, junk)  # tensors, but not the Inception's
    monkeypatch.setattr(generation, "INCEPTION_SHA256", sha256(junk))
    with pytest.raises(ConfigError) as wrong_layout:
        InceptionFeatures(junk)
    assert "do not fit the FID Inception-v3" in one_line(wrong_layout) and wrong_layout.value.kind == "mismatch"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class RunsCode:
    """Unpickling this object creates `marker`: what a malicious weights file would do with os.system."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return Path.touch, (self.marker,)


def test_inception_weights_that_would_run_code_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "code-ran"
    weights = tmp_path / "weights-inception-2015-12-05-6726825d.pth"
    torch.save({"fc.weight": torch.zeros(2, 2), "payload": RunsCode(marker)}, weights)
    with pytest.raises(ConfigError) as wrong_hash:  # not the known file: refused before it is opened
        InceptionFeatures(weights)
    assert wrong_hash.value.kind == "mismatch" and "SHA-256" in one_line(wrong_hash)
    assert not marker.exists()
    monkeypatch.setattr(generation, "INCEPTION_SHA256", sha256(weights))  # even when the hash matches
    with pytest.raises(ConfigError) as pickled:
        InceptionFeatures(weights)
    assert pickled.value.kind == "corrupt" and pickled.value.path == weights
    assert "not a weights-only state dict" in one_line(pickled)
    assert not marker.exists()
    torch.load(weights, weights_only=False)  # the file does run code when fully unpickled: the test is not vacuous
    assert marker.exists()


def test_downloaded_weights_are_hash_checked_before_they_reach_the_cache(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))
    monkeypatch.setattr(generation, "_open_url", lambda url, timeout: io.BytesIO(b"tampered"))
    with pytest.raises(ConfigError) as error:
        InceptionFeatures(None, download=True)
    assert error.value.kind == "mismatch" and "SHA-256" in one_line(error)
    assert not [f for f in (tmp_path / "hub").rglob("*") if f.is_file()]  # nothing left, not even a partial file
    good = b"the known weights"
    monkeypatch.setattr(generation, "INCEPTION_SHA256", hashlib.sha256(good).hexdigest())
    monkeypatch.setattr(generation, "_open_url", lambda url, timeout: io.BytesIO(good))
    assert generation.locate_inception_weights(None, download=True).read_bytes() == good


def test_inception_loads_weights_from_path_or_hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Untrained weights with the layout of the FID Inception (torchvision names match torch-fidelity's)
    net = inception_v3(weights=None, aux_logits=False, init_weights=False, num_classes=1008)
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))
    cached = tmp_path / "hub" / "checkpoints" / "weights-inception-2015-12-05-6726825d.pth"
    cached.parent.mkdir(parents=True)
    torch.save(net.state_dict(), cached)
    monkeypatch.setattr(generation, "INCEPTION_SHA256", sha256(cached))
    calls: list[Any] = []
    real_load = torch.load

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    assert InceptionFeatures(cached).weights_path == cached
    assert calls == [True]  # segen's own weights-only read; torch-fidelity loads nothing itself
    features = InceptionFeatures(None, download=False)
    assert features.weights_path == cached
    grey = torch.randint(0, 256, (2, 1, 28, 28), dtype=torch.uint8)
    assert features(grey).shape == (2, 2048)


def test_fid_refuses_fewer_images_than_features() -> None:
    # 8-d features: 8 samples give a singular covariance, so FID needs at least 9 of each
    metric = GenerationMetrics(Flatten(), metrics=("fid",))
    metric.update(torch.rand(8, 8, 1, 1), real=True)
    metric.update(torch.rand(20, 8, 1, 1), real=False)
    with pytest.raises(ConfigError) as error:
        metric.compute()
    message = one_line(error)
    assert "8 real" in message and "20 generated" in message and "at least 9" in message and "FID" in message
    metric.update(torch.rand(1, 8, 1, 1), real=True)
    assert set(metric.compute()) == {"fid"} and metric.reliable and metric.min_images == 9


def test_kid_lowers_its_subset_size_to_fit_and_refuses_below_its_minimum() -> None:
    x, y = torch.rand(150, 4, 1, 1), torch.rand(60, 4, 1, 1)
    metric = GenerationMetrics(Flatten(), metrics=("kid",), kid_subset_size=1000, kid_subsets=5)
    metric.update(x, real=True)
    metric.update(y, real=False)
    with pytest.raises(ConfigError) as error:  # subsets of fewer than 100 images are not lowered to
        metric.compute()
    assert "60 generated" in one_line(error) and "at least 100" in one_line(error) and "KID" in one_line(error)
    metric.update(torch.rand(90, 4, 1, 1), real=False)
    assert set(metric.compute()) == {"kid_mean", "kid_std"}  # 150 images each: subsets lowered to 150
    small = GenerationMetrics(Flatten(), metrics=("kid",), kid_subset_size=50, kid_subsets=5)
    small.update(y, real=True)
    small.update(y, real=False)
    assert small.min_images == 50 and set(small.compute()) == {"kid_mean", "kid_std"}


def test_few_images_only_with_an_explicit_flag_that_marks_the_figure_unreliable() -> None:
    metric = GenerationMetrics(Flatten(), metrics=("fid", "kid"), allow_few_images=True)
    metric.update(torch.rand(5, 8, 1, 1), real=True)
    metric.update(torch.rand(6, 8, 1, 1), real=False)
    scores = metric.compute()
    assert set(scores) == {"fid", "kid_mean", "kid_std"}
    assert metric.reliable is False and metric.min_images == 100
    metric.reset()
    metric.update(torch.rand(1, 8, 1, 1), real=True)
    metric.update(torch.rand(6, 8, 1, 1), real=False)
    with pytest.raises(ConfigError, match="at least 2"):
        metric.compute()
