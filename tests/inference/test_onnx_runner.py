"""OnnxSegmenter: an exported model predicts as its checkpoint does; files that are not one fail in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import TINY_UNET, gan_checkpoint, seg_checkpoint
from segen.errors import CheckpointError, ConfigError
from segen.export import export_checkpoint
from segen.inference import Ensemble, Segmenter
from segen.inference.onnx_runner import OnnxSegmenter
from segen.inference.tiling import TileSpec

pytest.importorskip("onnxruntime")


@pytest.fixture()
def exported(tmp_path: Path) -> tuple[Path, Path]:
    ckpt = seg_checkpoint(tmp_path / "seg.pt", **TINY_UNET)
    export_checkpoint(ckpt, tmp_path / "seg.onnx")
    return ckpt, tmp_path / "seg.onnx"


@pytest.mark.parametrize("size", [(2, 3), (37, 50)])  # below the model's size multiple (4), and above
def test_onnx_predicts_the_checkpoints_masks(exported: tuple[Path, Path], size: tuple[int, int]) -> None:
    ckpt, model = exported
    image = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (3, *size), dtype=np.uint8))
    torch_seg, onnx_seg = Segmenter.from_checkpoint(ckpt, tta="d4"), OnnxSegmenter.from_file(model, tta="d4")
    assert np.array_equal(torch_seg.predict(image), onnx_seg.predict(image))
    assert np.abs(torch_seg.predict_proba(image) - onnx_seg.predict_proba(image)).max() < 1e-5
    tile = TileSpec((16, 16))
    assert torch.equal(torch_seg.labels(image[None], tile), onnx_seg.labels(image[None], tile))
    assert onnx_seg.info.class_names == torch_seg.info.class_names and onnx_seg.palette == torch_seg.palette


def test_onnx_and_checkpoint_form_an_ensemble(exported: tuple[Path, Path]) -> None:
    ckpt, model = exported
    ensemble = Ensemble.from_checkpoints([ckpt, model])
    image = torch.randint(0, 256, (3, 20, 28), dtype=torch.uint8)
    assert np.array_equal(ensemble.predict(image), Segmenter.from_checkpoint(ckpt).predict(image))


def test_files_that_are_not_exported_segmenters(tmp_path: Path, exported: tuple[Path, Path]) -> None:
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    with pytest.raises(CheckpointError, match=r"bad.onnx: not a readable ONNX model"):
        OnnxSegmenter.from_file(tmp_path / "bad.onnx")
    with pytest.raises(CheckpointError, match=r"none.onnx: model file not found"):
        OnnxSegmenter.from_file(tmp_path / "none.onnx")
    export_checkpoint(gan_checkpoint(tmp_path / "g.pt", "dcgan", image_size=(16, 16), channels=3), tmp_path / "g.onnx")
    with pytest.raises(CheckpointError, match=r"g.onnx: not a segmentation model exported by segen"):
        OnnxSegmenter.from_file(tmp_path / "g.onnx")
    with pytest.raises(ConfigError, match=r"--prune applies to checkpoints"):
        Ensemble.from_checkpoints([exported[1]], prune=1)
    with pytest.raises(ConfigError, match=r"--precision and --compile apply to checkpoints"):
        Ensemble.from_checkpoints([exported[1]], compile=True)
