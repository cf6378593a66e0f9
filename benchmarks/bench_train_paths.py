#!/usr/bin/env python3
"""Training speed of segen's fast paths: fp32, mixed precision and torch.compile, one process.

Each variant builds segen's own SegmentationTask (the real training step: normalisation, autocast, loss,
GradScaler where fp16 needs one, AdamW) for unet-small and, with timm installed, a U-Net on a timm encoder
(`--encoder`, random weights: speed does not depend on them), on synthetic images of `--size`. After
`--warmup` steps (compilation happens there, and is reported) it times `--steps` steps; rounds alternate the
variants' order and the figure is the median over rounds. Ratios are against fp32 eager in the same run.

    python benchmarks/bench_train_paths.py --device cpu --size 128 --batch 4 --out /tmp/paths.json
    python benchmarks/bench_train_paths.py --device cuda --size 512 --batch 8 --out /tmp/paths-gpu.json

On CUDA, "amp" is bf16 (fp16 with a GradScaler where the GPU has no bf16) and channels-last is on (segen's
CUDA default); on CPUs "amp" is bf16 autocast, which needs AMX or AVX512-BF16.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from segen.config import DataConfig, ModelConfig, SegConfig, TrainConfig
from segen.data import SyntheticSpec, load_segmentation_data, write_folder_dataset
from segen.training import SegmentationTask

VARIANTS = {"fp32": ("fp32", False), "amp": ("auto", False), "amp+compile": ("auto", True),
            "fp32+compile": ("fp32", True)}


def make_task(root: Path, out: Path, model: dict[str, Any], size: int, batch: int, device: str,
              variant: str) -> SegmentationTask:
    precision, compile_model = VARIANTS[variant]
    if precision == "auto" and device == "cpu":
        precision = "bf16"
    cfg = SegConfig(model=ModelConfig(**model), loss="ce",
                    data=DataConfig(root=str(root), image_size=(size, size), min_epoch_samples=0, num_workers=0),
                    train=TrainConfig(out=str(out), epochs=1, batch_size=batch, device=device, precision=precision,
                                      compile=compile_model)).validate()
    data = load_segmentation_data(cfg.data, 0)
    return SegmentationTask(cfg, data, torch.device(device), pretrained=False)


def synchronise(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def time_steps(task: SegmentationTask, steps: int, device: str) -> float:
    """Seconds for `steps` training steps on batches already in memory."""
    batches = list(task.train_batches(0, 0))
    synchronise(device)
    start = time.perf_counter()
    for i in range(steps):
        task.train_step(batches[i % len(batches)], i, 0.0)
    synchronise(device)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--encoder", default="tf_efficientnet_lite0", help="timm encoder ('' to skip)")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="segen-paths-"))
    root = write_folder_dataset(work / "data", SyntheticSpec(args.size, args.size, num_classes=4), seed=0,
                                splits={"train": max(8, args.batch * 2), "val": 2})
    models: dict[str, dict[str, Any]] = {"unet-small": {"name": "unet-small"}}
    if args.encoder:
        try:
            import timm  # noqa: F401
            models[f"unet/{args.encoder}"] = {"name": "unet", "encoder": args.encoder, "encoder_weights": None}
        except ImportError:
            print("timm is not installed: the timm-encoder U-Net is skipped", file=sys.stderr)
    variants = args.variants.split(",")
    result: dict[str, Any] = {"device": args.device, "size": args.size, "batch": args.batch, "steps": args.steps,
                              "torch": torch.__version__, "models": {}}
    if args.device == "cuda":
        result["gpu"] = torch.cuda.get_device_name()
    for name, model in models.items():
        tasks, warm = {}, {}
        for variant in variants:
            torch.manual_seed(0)
            tasks[variant] = make_task(root, work / name.replace("/", "-") / variant, model, args.size, args.batch,
                                       args.device, variant)
            warm[variant] = time_steps(tasks[variant], args.warmup, args.device)
        rates: dict[str, list[float]] = {v: [] for v in variants}
        for r in range(args.rounds):
            for variant in variants if r % 2 == 0 else variants[::-1]:
                rates[variant].append(args.steps * args.batch / time_steps(tasks[variant], args.steps, args.device))
        rows = {v: {"img_per_s": statistics.median(rates[v]), "warmup_s": warm[v], "all": rates[v]} for v in variants}
        base = rows.get("fp32", {}).get("img_per_s")
        for row in rows.values():
            row["ratio_vs_fp32"] = row["img_per_s"] / base if base else None
        result["models"][name] = rows
        for variant, row in rows.items():
            print(f"{name:32s} {variant:14s} {row['img_per_s']:8.2f} img/s  x{row['ratio_vs_fp32'] or 0:.2f}  "
                  f"warm-up {row['warmup_s']:.1f} s", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
