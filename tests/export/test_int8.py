"""The int8 path's graph rewrites: up-convolutions as channels-last pixel shuffles, quantised tensors read directly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from conftest import TINY_UNET, seg_checkpoint
from segen.export import export_checkpoint
from segen.export.exportable import load_exportable
from segen.export.graphs import ChannelsLastUpConv, is_up_conv, with_int8_friendly_up_convs
from segen.export.quantize import Int8Settings

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


@pytest.mark.parametrize("bias", [True, False])
def test_channels_last_up_conv_computes_the_transposed_convolution(bias: bool) -> None:
    torch.manual_seed(0)
    up = nn.ConvTranspose2d(6, 5, kernel_size=2, stride=2, bias=bias)
    x = torch.randn(2, 6, 7, 11)
    with torch.no_grad():
        assert torch.allclose(ChannelsLastUpConv(up)(x), up(x), atol=1e-5)


def test_only_plain_up_convolutions_are_rewritten() -> None:
    assert is_up_conv(nn.ConvTranspose2d(4, 4, 2, 2))
    assert not any(is_up_conv(m) for m in (nn.ConvTranspose2d(4, 4, 4, 2, 1), nn.ConvTranspose2d(4, 4, 2, 2, groups=2),
                                           nn.Conv2d(4, 4, 2, 2)))


def test_the_rewrite_copies_the_graph_and_keeps_its_outputs(tmp_path: Path) -> None:
    exportable = load_exportable(seg_checkpoint(tmp_path / "m.pt", **TINY_UNET))
    friendly = with_int8_friendly_up_convs(exportable.graph)
    assert any(isinstance(m, ChannelsLastUpConv) for m in friendly.modules())
    assert not any(isinstance(m, ChannelsLastUpConv) for m in exportable.graph.modules())
    with torch.inference_mode():
        for (images,) in exportable.parity_inputs:
            (logits, labels), (new_logits, new_labels) = exportable.graph(images), friendly(images)
            assert torch.allclose(logits, new_logits, atol=1e-4) and torch.equal(labels, new_labels)


def test_int8_graph_has_no_float_up_convolution_and_labels_are_its_logits_argmax(tmp_path: Path) -> None:
    calibration = tmp_path / "calibration"
    calibration.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (40, 52, 3), dtype=np.uint8)).save(calibration / f"{i}.png")
    out = tmp_path / "int8.onnx"
    export_checkpoint(seg_checkpoint(tmp_path / "m.pt", classes=4, **TINY_UNET), out,
                      int8=Int8Settings(calibration, images=4))
    graph = onnx.load(str(out)).graph
    ops = [node.op_type for node in graph.node]
    assert "ConvTranspose" not in ops and ops.count("DequantizeLinear") > 0
    producers = {name: node.op_type for node in graph.node for name in node.output}
    argmax = next(node for node in graph.node if node.op_type == "ArgMax")
    assert producers[argmax.input[0]] == "QuantizeLinear"  # the int8 logits, not their float copy
    assert all(producers.get(n.input[0]) != "DequantizeLinear" for n in graph.node if n.op_type == "Shape")
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    logits, labels = session.run(None, {"images": rng.integers(0, 256, (2, 3, 37, 61), dtype=np.uint8)})
    assert logits.shape == (2, 4, 37, 61) and np.array_equal(labels, logits.argmax(axis=1))
