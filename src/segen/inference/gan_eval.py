"""Scores for generators: FID / KID against real images, and the FCN-score of label -> photo translation.

The FCN-score (Isola et al., pix2pix) runs a segmentation model on generated photos and compares
its prediction with the label map the photos were generated from: a segmenter judges a generator.
The same score on the real photos is the ceiling.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Subset
from tqdm import tqdm

from segen.data.gan import open_gan_dataset, parse_id_range
from segen.data.io import image_channels
from segen.data.readers import read_uint8, wide_range
from segen.errors import ConfigError
from segen.inference.generator import Generator, resize_to
from segen.inference.predict import list_inputs
from segen.inference.segmenter import Segmenter
from segen.metrics import ConfusionMatrix
from segen.metrics.generation import GenerationMetrics, InceptionFeatures, TorchScriptFeatures
from segen.runtime import Group, ProcessInfo

BATCH = 100


@dataclass(frozen=True)
class EvalRequest:
    """What to score and against what (the arguments of `segen gan evaluate`)."""

    data: str
    checkpoint: str | None = None
    samples: str | None = None
    split: str = "test"
    metrics: tuple[str, ...] = ("fid", "kid")
    num: int = 10000
    features: str | None = None
    inception_weights: str | None = None
    segmenter: str | None = None
    direction: str | None = None
    ids: str | None = None
    seed: int = 0
    allow_few_images: bool = False


def evaluate_gan(request: EvalRequest, device: torch.device, progress: bool = True,
                 group: Group | None = None) -> dict[str, Any]:
    """Compute the requested metrics; returns a flat dict of scores and what they were computed on.

    Under torchrun (`group` of several ranks) each rank generates and embeds a consecutive block of the
    batches, real and generated; the features are gathered in batch order and scored once, so the scores are
    those of one process. Every rank returns them; progress bars show on rank 0.
    """
    group = group or Group(ProcessInfo(), device)
    progress = progress and group.is_main
    generator = Generator.from_checkpoint(request.checkpoint, device) if request.checkpoint else None
    scores: dict[str, Any] = {}
    distribution = [m for m in request.metrics if m in ("fid", "kid")]
    if distribution:
        scores.update(_distribution_scores(request, generator, distribution, device, progress, group))
    if "fcn" in request.metrics:
        if generator is None:
            raise ConfigError("--metrics fcn needs --checkpoint (a pix2pix generator), not --samples")
        scores.update(fcn_score(request, generator, device, progress, group))
    return scores


def feature_network(request: EvalRequest) -> nn.Module:
    """The TorchScript network given by --features (code: trusted files only), else the standard Inception-v3
    (a given weights file, the cache, or downloaded into the cache when no file was named; SHA-256 checked)."""
    if request.features:
        return TorchScriptFeatures(request.features)
    return InceptionFeatures(request.inception_weights, download=request.inception_weights is None)


def _distribution_scores(request: EvalRequest, generator: Generator | None, names: list[str],
                         device: torch.device, progress: bool, group: Group) -> dict[str, Any]:
    metric = GenerationMetrics(feature_network(request), metrics=tuple(names), device=device,
                               allow_few_images=request.allow_few_images)
    size, channels, kind = _reference_shape(generator)
    reals, _ = open_gan_dataset(request.data, kind, size, channels, split=request.split,
                                direction=request.direction or "AtoB", jitter=False,
                                ids=parse_id_range(request.ids) if request.ids else None)
    n_real = len(reals)  # type: ignore[arg-type]
    metric.check_counts(n_real, _fake_count(request, generator, reals, kind))  # before any feature is computed
    mine = _batch_block(n_real, BATCH, group)
    real_share = DataLoader(Subset(reals, mine), batch_size=BATCH)
    real = [metric.embed(_real_images(batch, kind))
            for batch in tqdm(real_share, desc="real", disable=not progress, unit="batch")]
    fake = [metric.embed(images) for images in tqdm(_fake_batches(request, generator, reals, kind, group),
                                                    desc="generated", disable=not progress, unit="batch")]
    for features, is_real in ((real, True), (fake, False)):
        for share in group.gather([f.cpu() for f in features]):  # rank order: the batches in their own order
            for batch_features in share:
                metric.update_features(batch_features, real=is_real)
    scores = metric.compute()
    return {**scores, "real_images": metric.counts[True], "generated_images": metric.counts[False],
            "min_images": metric.min_images, "reliable": metric.reliable}


def _real_images(batch: Any, kind: str) -> torch.Tensor:
    return batch[1] if kind == "image" else (batch[0] if isinstance(batch, list | tuple) else batch)


def _batch_block(count: int, batch: int, group: Group) -> range:
    """The items of this rank's consecutive block of the batches of `batch` items that `count` items make."""
    batches = group.block(-(-count // batch))
    return range(batches.start * batch, min(batches.stop * batch, count))


def _fake_count(request: EvalRequest, generator: Generator | None, reals: Any, kind: str) -> int:
    if generator is None:
        return len(list_inputs(Path(request.samples or "")))
    return len(reals) if kind == "image" else request.num


def _reference_shape(generator: Generator | None) -> tuple[tuple[int, int] | None, int | None, str]:
    if generator is None:
        return None, None, "none"
    kind = "image" if generator.info.conditioning == "image" else "none"
    return generator.info.image_size, generator.info.channels, kind


def _fake_batches(request: EvalRequest, generator: Generator | None, reals: Any, kind: str,
                  group: Group) -> Iterator[torch.Tensor]:
    """This rank's block of the generated batches (each batch seeded by its place, whatever the ranks)."""
    if generator is None:
        yield from _folder_batches(Path(request.samples or ""), group)
        return
    if kind == "image":
        for inputs, _ in DataLoader(Subset(reals, _batch_block(len(reals), BATCH, group)), batch_size=8):
            yield generator.translate(inputs)
        return
    for start in _batch_block(request.num, BATCH, group)[::BATCH]:
        n = min(BATCH, request.num - start)
        yield generator.sample(n, seed=request.seed * 1_000_003 + start)


def _folder_batches(folder: Path, group: Group) -> Iterator[torch.Tensor]:
    """A folder of generated images as uint8 batches at the first image's size and channels (16-bit by their
    range): this rank's block of them."""
    files = list_inputs(folder)
    channels = image_channels(files[0])
    max_value = wide_range(files, channels)
    first = read_uint8(files[0], channels, max_value)
    size = (int(first.shape[-2]), int(first.shape[-1]))
    for start in _batch_block(len(files), BATCH, group)[::BATCH]:
        images = [resize_to(read_uint8(f, channels, max_value)[None], size)[0] for f in files[start:start + BATCH]]
        yield torch.stack(images)


def quantise_labels(label_maps: torch.Tensor, palette: list[tuple[int, int, int]]) -> torch.Tensor:
    """uint8 N,3,H,W colour label maps -> int64 N,H,W class ids of the nearest palette colour."""
    colours = torch.tensor(palette, dtype=torch.float32, device=label_maps.device)  # K,3
    pixels = label_maps.float().permute(0, 2, 3, 1).unsqueeze(-2)  # N,H,W,1,3
    return (pixels - colours).square().sum(-1).argmin(-1)


def fcn_score(request: EvalRequest, generator: Generator, device: torch.device, progress: bool,
              group: Group | None = None) -> dict[str, Any]:
    """FCN-score of generated photos and of the real photos (the ceiling) against the input label maps; under
    torchrun each rank scores a block of the pairs and the confusion matrices are summed."""
    group = group or Group(ProcessInfo(), device)
    if generator.info.conditioning != "image":
        raise ConfigError("--metrics fcn scores image-to-image (pix2pix) generators")
    if not request.segmenter:
        raise ConfigError("--metrics fcn needs --segmenter CKPT (a segmentation model trained on photo -> labels)")
    segmenter = Segmenter.from_checkpoint(request.segmenter, device)
    if segmenter.info.channels != generator.info.channels:
        raise ConfigError(f"{request.segmenter}: takes {segmenter.info.channels}-channel images but the generator "
                          f"makes {generator.info.channels}-channel ones")
    pairs, _ = open_gan_dataset(request.data, "image", generator.info.image_size, None, split=request.split,
                                direction=request.direction or "AtoB", jitter=False,
                                ids=parse_id_range(request.ids) if request.ids else None)
    names = segmenter.info.class_names
    generated = ConfusionMatrix(len(names), segmenter.info.ignore_index, names)
    real = ConfusionMatrix(len(names), segmenter.info.ignore_index, names)
    share = Subset(pairs, group.block(len(pairs)))  # type: ignore[arg-type]
    for labels, photos in tqdm(DataLoader(share, batch_size=8), desc="fcn-score", disable=not progress,
                               unit="batch"):
        truth = quantise_labels(labels, segmenter.palette)
        generated.update(_segment(segmenter, generator.translate(labels)), truth)
        real.update(_segment(segmenter, photos), truth)
    for matrix in (generated, real):
        matrix.reduce(group.sum_tensor)
    return {**_fcn_fields("fcn", generated.compute()), **_fcn_fields("fcn_real", real.compute()),
            "fcn_images": len(pairs)}  # type: ignore[arg-type]


def _segment(segmenter: Segmenter, images: torch.Tensor) -> torch.Tensor:
    from segen.metrics import logits_to_labels

    return logits_to_labels(segmenter.logits(images)).cpu()


def _fcn_fields(prefix: str, scores: dict[str, Any]) -> dict[str, Any]:
    return {f"{prefix}/pixel_accuracy": scores["pixel_accuracy"],
            f"{prefix}/mean_class_accuracy": scores["mean_class_accuracy"],
            f"{prefix}/mean_iou": scores["mean_iou"]}


def format_gan_scores(scores: dict[str, Any]) -> str:
    """A short human-readable table of the scores."""
    lines = []
    for key, value in scores.items():
        shown = f"{value:.4f}" if isinstance(value, float) else str(value)
        lines.append(f"{key:<32} {shown}")
    if scores.get("reliable") is False:
        lines.append(f"unreliable: FID/KID from fewer than {scores['min_images']} real or generated images "
                     "(--allow-few-images); not comparable with other scores")
    return "\n".join(lines)
