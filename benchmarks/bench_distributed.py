"""The cost of distributed training on CPUs: the same run (same global batch, same steps) as 1 process with
T threads and as N gloo processes with T/N threads each, through the real command; images/s of training
(from the run's own clock, `time_s` in metrics.jsonl) and of the whole command (start-up included), and
the largest weight difference between the two runs. `--task gan` does the same for a dcgan (GroupNorm
generator, no norm in the discriminator, R1 every 4 steps, all DiffAugment ops).

    python benchmarks/bench_distributed.py --out /tmp/bench-ddp
    python benchmarks/bench_distributed.py --task gan --size 32 --batch-size 32 --out /tmp/bench-ddp-gan
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch
import yaml

from segen.checkpoint import load_checkpoint
from segen.data.synthetic import SyntheticSpec, write_folder_dataset


def run(command: list[str], threads: int) -> float:
    start = time.perf_counter()
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{result.stderr[-2000:]}")
    return time.perf_counter() - start


def train_rate(run_dir: Path, batch: int) -> float:
    last = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[-1])
    return last["step"] * batch / last["time_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="threads of the single process (split over ranks)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--task", choices=("seg", "gan"), default="seg")
    args = parser.parse_args()
    if args.out.exists():
        sys.exit(f"{args.out}: exists; choose a new folder")
    data = write_folder_dataset(args.out / "data", SyntheticSpec(args.size, args.size, num_classes=4), seed=0,
                                splits={"train": args.images, "val": 4})
    config = args.out / "config.yaml"
    train = {"batch_size": args.batch_size, "epochs": args.epochs, "seed": 0, "checkpoint_every": "off"}
    if args.task == "seg":
        settings = {"model": {"name": "unet-small", "norm": "group"}, "loss": "ce", "train": train,
                    "data": {"root": str(data), "image_size": [args.size, args.size], "min_epoch_samples": 0,
                             "num_workers": 0}}
    else:
        settings = {"model": {"name": "dcgan", "g_norm": "group", "d_norm": "none"}, "train": train,
                    "optim": {"r1_gamma": 0.1, "r1_interval": 4},
                    "data": {"root": str(data / "train" / "images"), "diffaugment": "color,translation,cutout",
                             "num_workers": 0}}
    config.write_text(yaml.safe_dump(settings))
    common = ["-m", "segen", args.task, "train", "--config", str(config), "--quiet"]
    per_rank = max(1, args.threads // args.nproc)
    single = run([sys.executable, *common, "--out", str(args.out / "one")], args.threads)
    ranks = run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={args.nproc}",
                 *common, "--out", str(args.out / "ranks")], per_rank)
    a = load_checkpoint(args.out / "one" / "last.pt").model.weights
    b = load_checkpoint(args.out / "ranks" / "last.pt").model.weights
    steps = json.loads((args.out / "one" / "metrics.jsonl").read_text().splitlines()[-1])["step"]
    report = {
        "torch": torch.__version__, "image_size": args.size, "global_batch": args.batch_size, "steps": steps,
        "single": {"threads": args.threads, "train_images_per_s": train_rate(args.out / "one", args.batch_size),
                   "wall_s": single},
        "distributed": {"processes": args.nproc, "threads_each": per_rank,
                        "train_images_per_s": train_rate(args.out / "ranks", args.batch_size), "wall_s": ranks},
        "max_weight_difference": max(float((a[k].double() - b[k].double()).abs().max()) for k in a),
    }
    report["ratio_distributed_over_single"] = (report["distributed"]["train_images_per_s"]  # type: ignore[index]
                                               / report["single"]["train_images_per_s"])  # type: ignore[index]
    print(json.dumps(report, indent=2))
    (args.out / "report.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
