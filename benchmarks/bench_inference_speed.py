"""Inference speed at 512x512, batch 1 and 8: segen's paths side by side with smp Unet(resnet18) as the peer.

Rows: segen eager fp32 in NCHW and in channels_last (the default), bf16 autocast (CPUs with AMX or AVX512-BF16),
torch.compile, onnxruntime fp32 and onnxruntime int8 (both from `segen export`), and the peer
segmentation_models_pytorch `Unet("resnet18")` in eager fp32, run by the peer's own venv in a child
process. Every row runs the same number of threads, one after the other, on the same uint8 input; images/s
is the median of timed rounds after warm-up rounds (the first compile or session run is not timed).

    python benchmarks/bench_inference_speed.py --checkpoint runs/camvid/last.pt \
        --calibration /tmp/camvid-half/train/images --peer-python /tmp/peer-venv/bin/python --out speed.json

Without --checkpoint an untrained unet-small with 12 classes is timed (speed does not depend on weights).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from segen.checkpoint import Checkpoint, ModelSpec, SegDataSpec, save_checkpoint
from segen.export import Int8Settings, export_checkpoint
from segen.inference import Segmenter
from segen.inference.onnx_runner import OnnxSegmenter
from segen.models import create_model
from segen.runtime import cpu_has_native_bf16

PEER = """
import json, statistics, sys, time, torch
import segmentation_models_pytorch as smp
torch.set_num_threads(int(sys.argv[1]))
size, batches, rounds = int(sys.argv[2]), [int(b) for b in sys.argv[3].split(",")], int(sys.argv[4])
model = smp.Unet("resnet18", encoder_weights=None, in_channels=3, classes=12).eval()
out = {}
for b in batches:
    x = torch.rand(b, 3, size, size)
    times = []
    with torch.inference_mode():
        for i in range(rounds + 2):
            t = time.perf_counter(); model(x).argmax(1); times.append(time.perf_counter() - t)
    out[b] = b / statistics.median(times[2:])
print(json.dumps(out))
"""


def make_checkpoint(path: Path, classes: int = 12) -> Path:
    torch.manual_seed(0)
    kwargs = {"in_channels": 3, "num_classes": classes}
    model = create_model("unet-small", **kwargs)
    data = SegDataSpec([f"class{i}" for i in range(classes)], [], [0.4] * 3, [0.25] * 3, 3)
    return save_checkpoint(Checkpoint("segmentation", {"data": {"image_size": [512, 512]}},
                                      ModelSpec("unet-small", kwargs, model.state_dict()), data), path)


def contiguous(segmenter: Segmenter) -> Segmenter:
    """`segmenter` with its model and input in the plain NCHW layout (segen predicts in NHWC)."""
    segmenter.layout = torch.contiguous_format
    segmenter.model = segmenter.model.to(memory_format=segmenter.layout)
    return segmenter


def images_per_s(run: Callable[[torch.Tensor], object], batch: torch.Tensor, rounds: int) -> float:
    times = []
    for _ in range(rounds + 2):  # two warm-up rounds: compilation, session set-up, allocator
        start = time.perf_counter()
        run(batch)
        times.append(time.perf_counter() - start)
    return batch.shape[0] / statistics.median(times[2:])


def segen_rows(checkpoint: Path, work: Path, calibration: Path | None) -> dict[str, Callable[[torch.Tensor], object]]:
    rows: dict[str, Callable[[torch.Tensor], object]] = {}
    eager = Segmenter.from_checkpoint(checkpoint)
    rows["segen eager fp32 NCHW"] = contiguous(Segmenter.from_checkpoint(checkpoint)).labels
    rows["segen eager fp32 (channels_last, the default)"] = eager.labels
    if cpu_has_native_bf16():
        rows["segen bf16 autocast"] = Segmenter.from_checkpoint(checkpoint, precision="bf16").labels
    rows["segen torch.compile"] = Segmenter.from_checkpoint(checkpoint, compile=True).labels
    export_checkpoint(checkpoint, work / "fp32.onnx")
    rows["onnxruntime fp32"] = OnnxSegmenter.from_file(work / "fp32.onnx").labels
    calib = calibration or _random_calibration(work / "calibration")
    export_checkpoint(checkpoint, work / "int8.onnx", int8=Int8Settings(calib, 16))
    rows["onnxruntime int8"] = OnnxSegmenter.from_file(work / "int8.onnx").labels
    return rows


def _random_calibration(folder: Path) -> Path:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(16):
        Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--calibration", type=Path, help="images for int8 calibration (default: random images)")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--peer-python", help="python of a venv with segmentation_models_pytorch")
    parser.add_argument("--rows", nargs="+", help="time only the rows whose names contain one of these words")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="segen-speed-") as tmp:
        work = Path(tmp)
        checkpoint = args.checkpoint or make_checkpoint(work / "unet-small.pt")
        rows = {name: run for name, run in segen_rows(checkpoint, work, args.calibration).items()
                if not args.rows or any(word in name for word in args.rows)}
        table: dict[str, dict[int, float]] = {}
        for batch_size in args.batches:
            batch = torch.randint(0, 256, (batch_size, 3, args.size, args.size), dtype=torch.uint8)
            for name, run in rows.items():
                table.setdefault(name, {})[batch_size] = images_per_s(run, batch, args.rounds)
                print(f"{name} batch {batch_size}: {table[name][batch_size]:.2f} img/s", file=sys.stderr)
    if args.peer_python:
        peer = subprocess.run([args.peer_python, "-c", PEER, str(args.threads), str(args.size),
                               ",".join(map(str, args.batches)), str(args.rounds)], capture_output=True, text=True)
        if peer.returncode != 0:
            sys.exit(f"peer failed: {peer.stderr.strip().splitlines()[-1]}")
        table["peer smp Unet(resnet18) eager fp32"] = {int(k): v for k, v in json.loads(peer.stdout).items()}
    print("| path | " + " | ".join(f"batch {b} img/s" for b in args.batches) + " |")
    print("|---|" + "---|" * len(args.batches))
    for name, speeds in table.items():
        print(f"| {name} | " + " | ".join(f"{speeds[b]:.2f}" for b in args.batches) + " |")
    if args.out:
        args.out.write_text(json.dumps({"size": args.size, "threads": args.threads, "table": table}, indent=2))


if __name__ == "__main__":
    main()
