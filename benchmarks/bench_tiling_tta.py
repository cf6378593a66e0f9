"""Seams and test-time augmentation on a labelled split: tiled vs whole-image prediction, and TTA's gain and cost.

For every image of the split the model predicts whole, then window by window with windows smaller than the
image (Gaussian weighting, and flat averaging for comparison); the script reports the share of pixels
where tiled and whole masks agree and the mean IoU of each. Then it scores the split with --tta none,
hflip, flip and d4 (whole images) and reports mean IoU (or membrane Dice for binary data) and seconds per image.

    python benchmarks/bench_tiling_tta.py --checkpoint runs/camvid/last.pt --data /tmp/camvid-full \
        --split val --window 256 256
    python benchmarks/bench_tiling_tta.py --checkpoint runs/isbi/last.pt --data /tmp/isbi-folder \
        --split test --window 256 256
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from segen.data import load_split_dataset
from segen.inference import Segmenter, TileSpec, Tiling, evaluate_segmentation
from segen.inference.tta import TTA_MODES


def agreement(segmenter: Segmenter, root: Path, split: str, spec: TileSpec) -> float:
    """Share of pixels where window-by-window and whole-image masks agree, over the split."""
    info = segmenter.info
    dataset = load_split_dataset(root, split, len(info.class_names), info.ignore_index, info.channels,
                                 info.binary_255, max_pixels=segmenter.max_pixels)
    same = total = 0
    for i in range(len(dataset)):
        image = dataset.image(i)[None]
        whole, tiled = segmenter.labels(image), segmenter.labels(image, spec)
        same += int((whole == tiled).sum())
        total += whole.numel()
    return same / total


def headline(scores: dict[str, Any]) -> dict[str, float | None]:
    """Mean IoU, and for two classes the foreground's Dice (ISBI's membrane Dice when class 1 is membrane)."""
    out: dict[str, float | None] = {"mean_iou": scores["mean_iou"]}
    per_class = list(scores["per_class"].values())
    if len(per_class) == 2:
        out["class1_dice"] = per_class[1]["dice"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--window", type=int, nargs=2, default=(256, 256))
    parser.add_argument("--overlap", type=float, default=0.5)
    parser.add_argument("--parts", nargs="+", choices=("seams", "tta"), default=["seams", "tta"],
                        help="measure only these parts")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    result: dict[str, Any] = {"checkpoint": str(args.checkpoint), "data": str(args.data), "split": args.split,
                              "window": list(args.window), "overlap": args.overlap}
    segmenter = Segmenter.from_checkpoint(args.checkpoint, max_pixels=None)
    if "seams" in args.parts:
        result.update(seams(segmenter, args))
    if "tta" in args.parts:
        result.update(tta_gain(args))
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


def seams(segmenter: Segmenter, args: argparse.Namespace) -> dict[str, Any]:
    """Whole-image scores, and tiled ones with Gaussian and flat blending with their pixel agreement."""
    result: dict[str, Any] = {}
    whole = evaluate_segmentation(segmenter, args.data, args.split, progress=False, tiling=None)
    result["whole"] = headline(whole)
    for blend in ("gaussian", "flat"):
        spec = TileSpec(tuple(args.window), args.overlap, gaussian=blend == "gaussian")
        tiling = Tiling(tuple(args.window), args.overlap, gaussian=blend == "gaussian", above=0)
        scores = evaluate_segmentation(segmenter, args.data, args.split, progress=False, tiling=tiling)
        result[f"tiled_{blend}"] = {**headline(scores), "pixel_agreement": agreement(segmenter, args.data,
                                                                                      args.split, spec)}
    return result


def tta_gain(args: argparse.Namespace) -> dict[str, Any]:
    """Scores and seconds per image for every TTA mode (whole images)."""
    result: dict[str, Any] = {}
    for mode in TTA_MODES:
        tta = Segmenter.from_checkpoint(args.checkpoint, max_pixels=None, tta=mode)
        start = time.perf_counter()
        scores = evaluate_segmentation(tta, args.data, args.split, progress=False, tiling=None)
        seconds = time.perf_counter() - start
        result[f"tta_{mode}"] = {**headline(scores), "s_per_image": seconds / scores["images"]}
    return result


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
