#!/usr/bin/env python3
"""Training speed: segen's Trainer against a bare PyTorch loop on the same model, batch and data.

Both loops train `unet-small` (or --model) on the same synthetic folder dataset at the same crop size
and batch, with the same loss (CE + Dice) and AdamW, in one process, alternating rounds so that
machine noise hits both alike: the order within a round alternates (bare first in even rounds, segen
first in odd ones) so that drift in the machine's speed does not favour either, and the figure is the
median of the per-round ratios. The bare loop draws random crops and flips from tensors preloaded in
memory and does nothing else; segen runs its real pipeline: folder dataset, joint augmentation
(scale-crop, flip, rotation, colour jitter), LR schedule, gradient clipping, progress bar, logging,
checkpoints. Validation is timed separately and reported, but not counted as training time.

Also reports the achieved GFLOP/s of the forward+backward pass (FLOPs counted by
torch.utils.flop_counter, 2 per multiply-add).

    python benchmarks/bench_train_speed.py --steps 30 --rounds 6 --out benchmarks/out/train_speed.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from segen.config import AugmentConfig, DataConfig, ModelConfig, OptimConfig, SegConfig, TrainConfig
from segen.data import SyntheticSpec, load_segmentation_data, write_folder_dataset
from segen.losses import create_loss
from segen.models import create_model
from segen.training import SegmentationTask, Trainer


def bare_loop(images: torch.Tensor, masks: torch.Tensor, model_name: str, classes: int, batch: int, crop: int,
              steps: int, seed: int) -> float:
    """Images/s of a minimal loop: preloaded tensors, random crop + flip, forward, loss, backward, step."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    model = create_model(model_name, in_channels=3, num_classes=classes).train()
    loss_fn = create_loss("ce+dice", classes)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    mean, std = images.float().mean() / 255, images.float().std() / 255
    n, _, h, w = images.shape
    start = time.perf_counter()
    for _ in range(steps):
        picks = [rng.randrange(n) for _ in range(batch)]
        r, c = rng.randrange(h - crop + 1), rng.randrange(w - crop + 1)
        x = images[picks, :, r:r + crop, c:c + crop]
        y = masks[picks, r:r + crop, c:c + crop]
        if rng.random() < 0.5:
            x, y = x.flip(-1), y.flip(-1)
        x = (x.float() / 255 - mean) / std
        loss = loss_fn(model(x), y.long())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return steps * batch / (time.perf_counter() - start)


def segen_loop(root: Path, out: Path, model_name: str, batch: int, crop: int, steps: int,
               seed: int) -> tuple[float, float]:
    """(training images/s, validation seconds) of segen's Trainer over `steps` steps."""
    cfg = SegConfig(
        model=ModelConfig(name=model_name),
        data=DataConfig(root=str(root), image_size=(crop, crop), min_epoch_samples=steps * batch,
                        augment=AugmentConfig(), num_workers=0),
        optim=OptimConfig(),
        train=TrainConfig(out=str(out), epochs=1, batch_size=batch, seed=seed),
        loss="ce+dice",
    ).validate()
    torch.manual_seed(seed)
    data = load_segmentation_data(cfg.data, seed)
    task = SegmentationTask(cfg, data, torch.device("cpu"))
    validate = task.validate
    val_time = [0.0]

    def timed_validate() -> dict[str, float | None]:
        t0 = time.perf_counter()
        result = validate()
        val_time[0] += time.perf_counter() - t0
        return result

    task.validate = timed_validate  # type: ignore[method-assign]
    trainer = Trainer(task, cfg, progress=True)
    trainer.prepare()
    start = time.perf_counter()
    trainer.fit()
    total = time.perf_counter() - start
    return trainer.state.step * batch / (total - val_time[0]), val_time[0]


def train_step_flops(model_name: str, classes: int, batch: int, crop: int) -> int:
    """FLOPs of one forward + backward pass (2 per multiply-add)."""
    model = create_model(model_name, in_channels=3, num_classes=classes).train()
    x = torch.randn(batch, 3, crop, crop)
    y = torch.randint(0, classes, (batch, crop, crop))
    with FlopCounterMode(display=False) as counter:
        create_loss("ce+dice", classes)(model(x), y).backward()
    return int(counter.get_total_flops())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="unet-small")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/train_speed.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    classes = 4
    work = Path(tempfile.mkdtemp(prefix="segen-speed-"))
    root = write_folder_dataset(work / "data", SyntheticSpec(320, 320, num_classes=classes), seed=0,
                                splits={"train": 32, "val": 2})
    data = load_segmentation_data(DataConfig(root=str(root)), 0)
    images = torch.stack([data.train.image(i) for i in range(len(data.train))])
    masks = torch.stack([data.train.mask(i) for i in range(len(data.train))])
    bare_loop(images, masks, args.model, classes, args.batch, args.crop, 3, 0)  # warm-up
    bare, ours, val = [], [], []
    cpu0, wall0 = os.times(), time.perf_counter()
    for r in range(args.rounds):
        if r % 2:
            speed, val_s = segen_loop(root, work / f"run{r}", args.model, args.batch, args.crop, args.steps, r)
        bare.append(bare_loop(images, masks, args.model, classes, args.batch, args.crop, args.steps, r))
        if not r % 2:
            speed, val_s = segen_loop(root, work / f"run{r}", args.model, args.batch, args.crop, args.steps, r)
        ours.append(speed)
        val.append(val_s)
        print(f"round {r}: bare {bare[-1]:.2f} img/s, segen {ours[-1]:.2f} img/s, ratio {ours[-1] / bare[-1]:.3f}",
              flush=True)
    cpu1 = os.times()
    util = 100 * ((cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)) / (
        (time.perf_counter() - wall0) * args.threads)
    flops = train_step_flops(args.model, classes, args.batch, args.crop)
    result: dict[str, Any] = {
        "model": args.model, "batch": args.batch, "crop": args.crop, "steps": args.steps, "rounds": args.rounds,
        "threads": args.threads, "bare_img_per_s": statistics.median(bare), "segen_img_per_s": statistics.median(ours),
        "ratio_segen_over_bare": statistics.median(s / b for s, b in zip(ours, bare, strict=True)),
        "ratio_of_medians": statistics.median(ours) / statistics.median(bare),
        "segen_validation_s_per_epoch": statistics.median(val),
        "train_step_gflop_per_image": flops / args.batch / 1e9,
        "segen_gflop_per_s": flops / args.batch * statistics.median(ours) / 1e9,
        "bare_gflop_per_s": flops / args.batch * statistics.median(bare) / 1e9,
        "cpu_util_pct": round(util, 1), "torch": torch.__version__, "all_bare": bare, "all_segen": ours,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
