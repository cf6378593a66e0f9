"""Exported models against PyTorch on a labelled split: the share of pixels with the same class id, and each
path's mean IoU.

The checkpoint is exported to ONNX (fp32, and int8 when --calibration is given) with `segen export`'s own
function; every image of the split is predicted whole by PyTorch and by onnxruntime, and the masks are
compared pixel by pixel.

    python benchmarks/export_masks.py --checkpoint runs/camvid/last.pt --data /tmp/camvid-half --split val \
        --calibration /tmp/camvid-half/train/images --out /tmp/export-masks.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import torch

from segen.data import load_split_dataset
from segen.export import Int8Settings, export_checkpoint
from segen.inference import Segmenter, evaluate_segmentation
from segen.inference.onnx_runner import OnnxSegmenter


def agreement(reference: Segmenter, other: Segmenter, root: Path, split: str) -> float:
    """Share of pixels of the split where the two segmenters give the same class id."""
    info = reference.info
    dataset = load_split_dataset(root, split, len(info.class_names), info.ignore_index, info.channels,
                                 info.binary_255, max_pixels=None)
    same = total = 0
    for i in range(len(dataset)):
        image = dataset.image(i)[None]
        a, b = reference.labels(image), other.labels(image)
        same += int((a == b).sum())
        total += a.numel()
    return same / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--calibration", type=Path, help="images for an int8 export too")
    parser.add_argument("--calibration-images", type=int, default=32)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    reference = Segmenter.from_checkpoint(args.checkpoint, max_pixels=None)
    result: dict[str, Any] = {"checkpoint": str(args.checkpoint), "data": str(args.data), "split": args.split,
                              "pytorch_mean_iou": evaluate_segmentation(reference, args.data, args.split,
                                                                        progress=False)["mean_iou"]}
    with tempfile.TemporaryDirectory() as tmp:
        files = {"onnx_fp32": export_checkpoint(args.checkpoint, Path(tmp) / "fp32.onnx").path}
        if args.calibration:
            files["onnx_int8"] = export_checkpoint(args.checkpoint, Path(tmp) / "int8.onnx",
                                                   int8=Int8Settings(args.calibration, args.calibration_images)).path
        for name, path in files.items():
            onnx = OnnxSegmenter.from_file(path, max_pixels=None)
            scores = evaluate_segmentation(onnx, args.data, args.split, progress=False)
            result[name] = {"pixel_agreement": agreement(reference, onnx, args.data, args.split),
                            "mean_iou": scores["mean_iou"]}
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
