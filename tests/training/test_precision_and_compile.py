"""The fast paths of training, on a CPU: bf16 autocast for U-Nets and GANs, and `--compile` (torch.compile's
dynamo front end, with its eager back end here so the test needs no C++ compiler and stays quick)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import segen.runtime
import segen.training.seg
from conftest import tiny_config
from segen.checkpoint import load_checkpoint
from segen.config import GanConfig
from segen.data import SyntheticSpec, write_folder_dataset
from segen.training import train_segmentation
from segen.training.gan import GanTask, train_gan
from segen.training.gan_data import load_gan_data


@pytest.fixture
def bf16_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """bf16 on any CPU: where it has no bf16 instructions the same kernels run emulated (slowly, on tiny data)."""
    monkeypatch.setattr(segen.runtime, "cpu_has_native_bf16", lambda: True)


@pytest.fixture
def eager_compile(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[nn.Module]]:
    """torch.compile with the eager back end; yields the modules it was given."""
    compiled: list[nn.Module] = []
    real = torch.compile

    def compile_eagerly(module: nn.Module, **options: Any) -> Any:
        compiled.append(module)
        return real(module, backend="eager", **options)

    monkeypatch.setattr(torch, "compile", compile_eagerly)
    yield compiled
    torch._dynamo.reset()


@pytest.fixture(scope="module")
def gan_images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("gan-fast")
    written = write_folder_dataset(root, SyntheticSpec(16, 16, num_classes=2), seed=2, splits={"train": 8})
    return written / "train" / "images"


def gan_config(images: Path, out: Path, **optim: Any) -> GanConfig:
    return GanConfig.from_dict({"model": {"name": "dcgan", "width": 8, "d_width": 8}, "optim": optim,
                                "data": {"root": str(images), "diffaugment": "none"},
                                "train": {"out": str(out), "epochs": 1, "batch_size": 4, "precision": "bf16"}})


def conv_output_types(model: nn.Module) -> tuple[list[torch.dtype], Any]:
    """The dtypes of every convolution output while training (a list that hooks fill) and the hook handles."""
    seen: list[torch.dtype] = []
    handles = [m.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype)) for m in model.modules()
               if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)]
    return seen, handles


def test_bf16_autocast_trains_a_unet_on_the_cpu(bf16_cpu: None, multiclass_root: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[torch.dtype] = []
    original = segen.training.seg.SegmentationTask.train_step

    def watched(task: Any, *args: Any) -> Any:
        types, handles = conv_output_types(task.net)
        try:
            return original(task, *args)
        finally:
            seen.extend(types)
            for handle in handles:
                handle.remove()

    monkeypatch.setattr(segen.training.seg.SegmentationTask, "train_step", watched)
    result = train_segmentation(tiny_config(multiclass_root, tmp_path / "bf16", epochs=1, precision="bf16"),
                                progress=False)
    assert seen and set(seen) == {torch.bfloat16}  # every convolution ran in bf16
    weights = load_checkpoint(tmp_path / "bf16" / "last.pt").model.weights
    floats = [w for w in weights.values() if w.is_floating_point()]
    assert all(w.dtype == torch.float32 and torch.isfinite(w).all() for w in floats)  # fp32 master weights
    assert result.state.step > 0


def test_bf16_autocast_trains_a_gan_on_the_cpu(bf16_cpu: None, gan_images: Path, tmp_path: Path) -> None:
    cfg = gan_config(gan_images, tmp_path / "gan", r1_gamma=1.0)
    task = GanTask(cfg, load_gan_data(cfg), torch.device("cpu"))
    batch = next(iter(task.train_batches(0, 0)))
    seen, handles = conv_output_types(task.discriminator)
    before = {k: v.clone() for k, v in task.discriminator.state_dict().items()}
    logs = task.train_step(batch, step=0, progress=0.0)
    for handle in handles:
        handle.remove()
    assert torch.bfloat16 in seen and all(torch.isfinite(v) for v in logs.values())
    assert any(not torch.equal(before[k], v) for k, v in task.discriminator.state_dict().items())
    train_gan(cfg, progress=False)
    assert load_checkpoint(tmp_path / "gan" / "last.pt").training is not None


def test_compile_trains_the_weights_of_an_eager_run(eager_compile: list[nn.Module], multiclass_root: Path,
                                                    tmp_path: Path) -> None:
    train_segmentation(tiny_config(multiclass_root, tmp_path / "eager", epochs=1), progress=False)
    assert not eager_compile
    train_segmentation(tiny_config(multiclass_root, tmp_path / "compiled", epochs=1, compile=True), progress=False)
    assert len(eager_compile) == 1
    eager, fast = (load_checkpoint(tmp_path / run / "last.pt").model.weights for run in ("eager", "compiled"))
    assert eager.keys() == fast.keys()  # no _orig_mod. prefix
    assert max(float((eager[k] - fast[k]).abs().max()) for k in eager) < 1e-6


def test_compile_keeps_a_penalised_discriminator_eager(eager_compile: list[nn.Module], gan_images: Path,
                                                       tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = gan_config(gan_images, tmp_path / "plain")
    plain = GanConfig.from_dict({**cfg.to_dict(), "train": {**cfg.to_dict()["train"], "compile": True,
                                                            "precision": "fp32"}})
    task = GanTask(plain, load_gan_data(plain), torch.device("cpu"))
    assert eager_compile == [task.generator, task.discriminator] and not task.eager_discriminator
    task.train_step(next(iter(task.train_batches(0, 0))), step=0, progress=0.0)
    eager_compile.clear()
    penalised = GanConfig.from_dict({**plain.to_dict(), "optim": {**plain.to_dict()["optim"], "r1_gamma": 1.0},
                                     "train": {**plain.to_dict()["train"], "out": str(tmp_path / "r1")}})
    train_gan(penalised, progress=False)
    assert len(eager_compile) == 1  # the generator
    assert "discriminator's R1 or WGAN-GP penalty" in capsys.readouterr().err
