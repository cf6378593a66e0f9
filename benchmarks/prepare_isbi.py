#!/usr/bin/env python3
"""Convert the ISBI 2012 EM membrane set (image/, label/, N.png) to segen's folder format.

Membranes (label 0 in the source) become the foreground class 1, stored as 255 (binary 0/255 masks).
Images 0-14 go to `train`, 15-19 to `test` (the split of the benchmark in RESULTS.md). There is no
`val` split: segen holds out its own validation share of `train`, so the test images are never seen
in training or checkpoint selection. `--val` writes 15-19 as `val` instead.

    python benchmarks/prepare_isbi.py ../shared/data/isbi2012 /tmp/isbi-folder
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import yaml
from PIL import Image


def convert(src: Path, dst: Path, train_ids: range, held_ids: range, held_split: str) -> None:
    for split, ids in (("train", train_ids), (held_split, held_ids)):
        (dst / split / "images").mkdir(parents=True, exist_ok=True)
        (dst / split / "masks").mkdir(parents=True, exist_ok=True)
        for i in ids:
            image = Image.open(src / "image" / f"{i}.png").convert("L")
            label = np.asarray(Image.open(src / "label" / f"{i}.png").convert("L"))
            membrane = np.where(label <= 127, 255, 0).astype(np.uint8)
            image.save(dst / split / "images" / f"{i}.png")
            Image.fromarray(membrane).save(dst / split / "masks" / f"{i}.png")
    classes = {"names": ["cell", "membrane"], "colors": [[0, 0, 0], [255, 64, 64]]}
    (dst / "classes.yaml").write_text(yaml.safe_dump(classes, sort_keys=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("src", type=Path, help="folder with image/ and label/")
    parser.add_argument("dst", type=Path, help="output folder (folder format)")
    parser.add_argument("--val", action="store_true", help="write images 15-19 as the val split, not test")
    args = parser.parse_args()
    convert(args.src, args.dst, range(0, 15), range(15, 20), "val" if args.val else "test")
    print(f"wrote {args.dst}")


if __name__ == "__main__":
    main()
