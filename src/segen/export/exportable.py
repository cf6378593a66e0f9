"""A checkpoint turned into something to export: the graph, its inputs and outputs, dynamic axes, metadata and
the inputs on which the exported model must agree with PyTorch."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import torch
from torch import Tensor, nn

from segen.checkpoint import Checkpoint, GanDataSpec, SegDataSpec, load_checkpoint, training_crop
from segen.errors import CheckpointError, ConfigError
from segen.export.graphs import ClassSamplerGraph, SamplerGraph, SegmentationGraph, TranslatorGraph
from segen.models import GANPair, create_model
from segen.preprocess import UINT8_MAX

#: (batch, height, width) of the parity inputs of image models: odd sizes, a square, a long strip.
PARITY_SIZES = ((1, 97, 131), (2, 256, 256), (1, 333, 517), (1, 64, 1000))
EXAMPLE_SIZE = (97, 131)  # traced at an odd size (batch 2), so no size-dependent branch is taken for granted
PARITY_BATCHES = (1, 3, 8)
IMAGE_AXES = {0: "batch", 2: "height", 3: "width"}
BATCH_AXIS = {0: "batch"}  # latent batches of the sampling generators


@dataclass
class Exportable:
    """What an exporter needs: `graph(*example)` runs; `dynamic` maps each input and output name to its
    variable axes ({axis: name}); height and width must be at least `min_side`."""

    graph: nn.Module
    example: tuple[Tensor, ...]
    input_names: list[str]
    output_names: list[str]
    dynamic: dict[str, dict[int, str]]
    min_side: int
    parity_inputs: Sequence[tuple[Tensor, ...]]
    metadata: dict[str, str] = field(default_factory=dict)


def load_exportable(path: str | Path, seed: int = 0) -> Exportable:
    """The export graph of a segmentation or GAN checkpoint, with seeded random parity inputs."""
    checkpoint = load_checkpoint(path)
    gen = torch.Generator().manual_seed(seed)
    try:
        if checkpoint.kind == "segmentation":
            return _segmentation(checkpoint, gen)
        return _generator(checkpoint, gen)
    except (KeyError, TypeError, RuntimeError, IndexError, ValueError, ConfigError) as exc:
        raise CheckpointError(f"{path}: incomplete {checkpoint.kind} checkpoint ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0][:120] if str(exc) else ''})", kind="corrupt") from None


def _segmentation(checkpoint: Checkpoint, gen: torch.Generator) -> Exportable:
    spec, data = checkpoint.model, checkpoint.data
    assert isinstance(data, SegDataSpec)
    model = create_model(spec.name, **spec.kwargs)
    model.load_state_dict(spec.weights)
    max_value = int(data.max_value)
    graph = SegmentationGraph(model, list(data.mean), list(data.std), max_value).eval()
    dtype = torch.uint8 if max_value <= UINT8_MAX else torch.int32
    channels = int(data.channels)
    inputs = [(_pixels((n, channels, h, w), max_value, dtype, gen),) for n, h, w in PARITY_SIZES]
    example = (_pixels((2, channels, *EXAMPLE_SIZE), max_value, dtype, gen),)
    metadata = {"task": "segmentation", "model": spec.name, "class_names": json.dumps(list(data.class_names)),
                "palette": json.dumps([list(c) for c in data.colors]),
                "input": json.dumps({"name": "images", "layout": "NCHW", "dtype": str(dtype).removeprefix("torch."),
                                     "channels": channels, "max_value": max_value,
                                     "min_side": _min_side(model)}),
                "outputs": json.dumps({"logits": "float32 N,K,H,W", "labels": "int64 N,H,W class ids"}),
                "activation": "sigmoid" if _one_channel(model, channels) else "softmax",
                "ignore_index": str(int(data.ignore_index)), "window": json.dumps(training_crop(checkpoint.config)),
                "binary_255": "true" if data.binary_255 else "false"}
    return Exportable(graph, example, ["images"], ["logits", "labels"],
                      {"images": IMAGE_AXES, "logits": IMAGE_AXES, "labels": {0: "batch", 1: "height", 2: "width"}},
                      _min_side(model), inputs, metadata)


def _generator(checkpoint: Checkpoint, gen: torch.Generator) -> Exportable:
    spec, data = checkpoint.model, checkpoint.data
    assert isinstance(data, GanDataSpec)
    kwargs = dict(spec.kwargs)
    if spec.name == "pix2pix":
        kwargs.setdefault("generator", "paper")  # written before the choice existed: the paper's
    pair = cast(GANPair, create_model(spec.name, **kwargs))
    pair.generator.load_state_dict(spec.weights)
    net = pair.generator.eval()
    metadata = {"task": "generation", "model": spec.name, "conditioning": pair.conditioning,
                "class_names": json.dumps(list(data.class_names)),
                "image_size": json.dumps(list(data.image_size)),
                "outputs": json.dumps({"images": "float32 N,C,H,W in [0, 1]"})}
    if pair.conditioning == "image":
        channels = int(data.in_channels or 3)
        side = _min_side(net)
        sizes = [(n, max(h, side), max(w, side)) for n, h, w in PARITY_SIZES]
        inputs = [(_pixels((n, channels, h, w), UINT8_MAX, torch.uint8, gen),) for n, h, w in sizes]
        example = (_pixels((2, channels, *(max(n, side) for n in EXAMPLE_SIZE)), UINT8_MAX, torch.uint8, gen),)
        metadata["input"] = json.dumps({"name": "images", "layout": "NCHW", "dtype": "uint8", "channels": channels,
                                        "max_value": UINT8_MAX, "min_side": side})
        return Exportable(TranslatorGraph(net).eval(), example, ["images"], ["images_out"],
                          {"images": IMAGE_AXES, "images_out": IMAGE_AXES}, side, inputs, metadata)
    latents: list[tuple[Tensor, ...]] = [(torch.randn(n, pair.latent_dim, generator=gen),) for n in PARITY_BATCHES]
    metadata["input"] = json.dumps({"name": "latent", "shape": f"N,{pair.latent_dim}", "dtype": "float32"})
    if pair.conditioning == "class":
        k = len(data.class_names)
        pairs: list[tuple[Tensor, ...]] = [(z, torch.randint(0, k, (z.shape[0],), generator=gen)) for (z,) in latents]
        return Exportable(ClassSamplerGraph(net).eval(), pairs[1], ["latent", "labels"], ["images"],
                          {"latent": BATCH_AXIS, "labels": BATCH_AXIS, "images": BATCH_AXIS}, 1, pairs,
                          metadata)
    return Exportable(SamplerGraph(net).eval(), latents[1], ["latent"], ["images"],
                      {"latent": BATCH_AXIS, "images": BATCH_AXIS}, 1, latents, metadata)


def _pixels(shape: tuple[int, ...], max_value: int, dtype: torch.dtype, gen: torch.Generator) -> Tensor:
    return torch.randint(0, max_value + 1, shape, generator=gen).to(dtype)


def _min_side(model: nn.Module) -> int:
    """The smallest height and width the exported graph takes: the size the model pads its input to."""
    return int(getattr(model, "size_multiple", 1))


def _one_channel(model: nn.Module, channels: int) -> bool:
    with torch.no_grad():
        side = max(2, _min_side(model))
        return int(model.eval()(torch.zeros(1, channels, side, side)).shape[1]) == 1
