"""Turn the pix2pix facades pairs (photo | colour label map) into a segen segmentation dataset.

The colour label maps are JPEG-encoded, so their colours are noisy: the 12-class palette is derived
from the data by k-means (k-means++ start) on label-map pixels, and every label pixel is assigned to
its nearest palette colour. Photos of `--train-ids` go to train/ (segen carves its validation images
from them), those of `--test-ids` to test/. The palette is written to classes.yaml, where the
FCN-score reads it back through the segmentation checkpoint.

    python benchmarks/prepare_facades.py --src ../shared/data/facades/train --out /tmp/facades-seg
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import yaml
from PIL import Image


def id_range(text: str) -> list[int]:
    """'1-350' -> [1, ..., 350]."""
    first, last = (int(v) for v in text.split("-"))
    return list(range(first, last + 1))


def split_pair(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A side-by-side file -> (photo, label map) as H,W,3 uint8 arrays."""
    pair = np.asarray(Image.open(path).convert("RGB"))
    half = pair.shape[1] // 2
    return pair[:, :half], pair[:, half:]


def kmeans_palette(pixels: np.ndarray, k: int, seed: int, iterations: int = 40) -> np.ndarray:
    """k colours (k-means++ start, Lloyd iterations) of N,3 float pixels, most frequent first."""
    rng = np.random.default_rng(seed)
    centres = [pixels[rng.integers(len(pixels))]]
    for _ in range(1, k):
        d = np.min(((pixels[:, None, :] - np.array(centres)[None]) ** 2).sum(-1), axis=1)
        centres.append(pixels[rng.choice(len(pixels), p=d / d.sum())])
    c = np.array(centres)
    for _ in range(iterations):
        assign = ((pixels[:, None, :] - c[None]) ** 2).sum(-1).argmin(1)
        c = np.array([pixels[assign == j].mean(0) if np.any(assign == j) else c[j] for j in range(k)])
    counts = np.bincount(((pixels[:, None, :] - c[None]) ** 2).sum(-1).argmin(1), minlength=k)
    return np.round(c[np.argsort(-counts)]).astype(np.uint8)


def quantise(label_map: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """H,W,3 colours -> H,W ids of the nearest palette colour."""
    d = ((label_map[:, :, None, :].astype(np.float32) - palette[None, None].astype(np.float32)) ** 2).sum(-1)
    return d.argmin(-1).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", required=True, type=Path, help="facades folder of N.jpg side-by-side pairs")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--train-ids", default="1-350")
    parser.add_argument("--test-ids", default="351-400")
    parser.add_argument("--classes", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.out.exists() and any(args.out.iterdir()):
        raise SystemExit(f"error: {args.out}: not empty")
    splits = {"train": id_range(args.train_ids), "test": id_range(args.test_ids)}
    rng = np.random.default_rng(args.seed)
    samples = []
    for i in splits["train"]:
        _, label = split_pair(args.src / f"{i}.jpg")
        flat = label.reshape(-1, 3).astype(np.float32)
        samples.append(flat[rng.choice(len(flat), 400, replace=False)])
    palette = kmeans_palette(np.concatenate(samples), args.classes, args.seed)
    shares = np.zeros(args.classes)
    for split, ids in splits.items():
        (args.out / split / "images").mkdir(parents=True)
        (args.out / split / "masks").mkdir(parents=True)
        for i in ids:
            photo, label = split_pair(args.src / f"{i}.jpg")
            mask = quantise(label, palette)
            shares += np.bincount(mask.ravel(), minlength=args.classes)
            Image.fromarray(photo).save(args.out / split / "images" / f"{i}.png")
            Image.fromarray(mask).save(args.out / split / "masks" / f"{i}.png")
    names = [f"class{k:02d}" for k in range(args.classes)]
    classes = {"names": names, "colors": [[int(v) for v in c] for c in palette]}
    (args.out / "classes.yaml").write_text(yaml.safe_dump(classes, sort_keys=False))
    print(json.dumps({"palette": classes["colors"], "pixel_share": [round(float(s), 4) for s in shares / shares.sum()],
                      "train": len(splits["train"]), "test": len(splits["test"])}))


if __name__ == "__main__":
    main()
