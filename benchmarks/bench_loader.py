#!/usr/bin/env python3
"""Data-loading speed: decode + augment images/s with 0, 1 and 2 DataLoader workers, against the
training consumption (images/s) of the default CPU model on the same crops.

Uses segen's real training pipeline (format reader, torchvision decoding, joint augmentation, the
DataLoader settings of `segen seg train`) with the in-memory cache off, so every sample is decoded.

    python benchmarks/bench_loader.py --data ../shared/data/camvid --format camvid [--preset natural-strong]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from segen.config import AUGMENT_PRESETS, AugmentConfig, DataConfig, SegConfig, TrainConfig
from segen.data import TrainTransform, load_segmentation_data
from segen.losses import create_loss
from segen.models import create_model
from segen.training.sampling import ResumableSampler, training_loader
from segen.training.seg import default_workers


def loader_speed(dataset: Any, batch: int, workers: int, batches: int, seed: int) -> float:
    """Images/s of iterating a training DataLoader (after its first batch)."""
    sampler = ResumableSampler(len(dataset), batch, seed, min_samples=batches * batch * 2)
    loader = training_loader(dataset, sampler, workers, torch.device("cpu"))
    iterator = iter(loader)
    next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * batch / (time.perf_counter() - start)


def model_speed(model_name: str, channels: int, classes: int, crop: tuple[int, int], batch: int, steps: int) -> float:
    """Training images/s of the model alone on random batches of the crop size."""
    model = create_model(model_name, in_channels=channels, num_classes=classes).train()
    loss_fn = create_loss("ce+dice", classes)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randn(batch, channels, *crop)
    y = torch.randint(0, classes, (batch, *crop))
    for i in range(steps + 1):
        if i == 1:
            start = time.perf_counter()
        loss = loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return steps * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--format", default="auto")
    parser.add_argument("--preset", choices=AUGMENT_PRESETS, default="auto", help="augmentation preset")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--model-steps", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/loader.json"))
    args = parser.parse_args()
    augment = AugmentConfig(preset=args.preset)
    cfg = SegConfig(data=DataConfig(root=str(args.data), format=args.format, cache="no", augment=augment),
                    train=TrainConfig(out="unused", batch_size=args.batch)).validate()
    data = load_segmentation_data(cfg.data, 0)
    crop = cfg.data.image_size
    dataset = data.train.with_transform(TrainTransform(crop, cfg.data.augment, cfg.data.ignore_index, data.channels,
                                                                max_value=data.max_value))
    pipeline = {w: loader_speed(dataset, args.batch, w, args.batches, 0) for w in (0, 1, 2)}
    model = model_speed(cfg.model.name, data.channels, data.classes.num_classes, crop, args.batch, args.model_steps)
    default = default_workers(torch.device("cpu"))
    result = {"data": str(args.data), "format": data.format, "image_size": list(data.train.sizes[0]),
              "crop": list(crop), "batch": args.batch, "preset": args.preset, "pipeline_img_per_s": pipeline,
              "model": cfg.model.name, "model_train_img_per_s": model, "default_workers": default,
              "ratio_pipeline_over_model_default_workers": pipeline[default] / model,
              "threads": torch.get_num_threads()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
