"""torch.compile and bf16 inference give PyTorch's eager fp32 masks (compile) or refuse clearly (bf16)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import TINY_UNET, run_segen, seg_checkpoint
from segen.errors import ConfigError
from segen.inference import Segmenter
from segen.runtime import cpu_has_native_bf16


@pytest.mark.skipif(shutil.which("c++") is None and shutil.which("g++") is None, reason="torch.compile on a CPU "
                    "needs a C++ compiler")
def test_compiled_model_predicts_the_eager_logits(tmp_path: Path) -> None:
    checkpoint = seg_checkpoint(tmp_path / "seg.pt", **TINY_UNET)
    eager, compiled = Segmenter.from_checkpoint(checkpoint), Segmenter.from_checkpoint(checkpoint, compile=True)
    images = torch.randint(0, 256, (2, 3, 45, 61), dtype=torch.uint8)
    assert (eager.logits(images) - compiled.logits(images)).abs().max() < 1e-4


def test_bf16_runs_where_the_cpu_has_it_and_says_so_where_not(tmp_path: Path) -> None:
    checkpoint = seg_checkpoint(tmp_path / "seg.pt", **TINY_UNET)
    if not cpu_has_native_bf16():
        with pytest.raises(ConfigError, match="this CPU has no bf16 instructions"):
            Segmenter.from_checkpoint(checkpoint, precision="bf16")
        Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / "photo.png")
        result = run_segen("seg", "predict", "--checkpoint", str(checkpoint), "--input", str(tmp_path / "photo.png"),
                           "--out", str(tmp_path / "out"), "--precision", "bf16")
        assert result.returncode == 1 and "this CPU has no bf16 instructions" in result.stderr
        return
    images = torch.randint(0, 256, (1, 3, 40, 52), dtype=torch.uint8)
    fp32, bf16 = Segmenter.from_checkpoint(checkpoint), Segmenter.from_checkpoint(checkpoint, precision="bf16")
    assert (fp32.scores(images) - bf16.scores(images)).abs().max() < 0.05
