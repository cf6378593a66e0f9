"""Memory and time of `segen seg predict` on one huge synthetic image, and a check of its mask.

Writes an N x N RGB image (a tiled, zlib-compressed BigTIFF made band by band, so making it needs little
memory), runs the real `segen seg predict` on it in a child process, and reports the child's peak RSS,
wall time and seconds per megapixel. The mask is then checked region by region against windows predicted
separately: for each region the windows of the same global grid that touch it are run one by one through
`Segmenter.scores`, weighted by the same Gaussian and averaged, and their argmax is compared pixel by pixel
with the command's mask.

    python benchmarks/bench_streaming.py --size 8192 --out /tmp/stream8k                  # in-memory tiling
    python benchmarks/bench_streaming.py --size 8192 --out /tmp/stream8k --whole          # whole-image eager
    python benchmarks/bench_streaming.py --size 32768 --out /tmp/stream32k --max-pixels 100000000  # streamed

Without --checkpoint an untrained (seeded) unet-small is used: memory and time do not depend on the
weights, and the check compares the command with an independent computation either way.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from segen.checkpoint import Checkpoint, ModelSpec, SegDataSpec, save_checkpoint
from segen.data.tiff import TiffRows, write_tiled_tiff
from segen.inference import Segmenter
from segen.inference.tiling import gaussian_weights, window_starts
from segen.models import create_model

BAND = 1024  # rows per band when making the image
MEASURE = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:]).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)
"""


def make_checkpoint(path: Path, classes: int = 4) -> Path:
    torch.manual_seed(0)
    kwargs = {"in_channels": 3, "num_classes": classes}
    model = create_model("unet-small", **kwargs)
    data = SegDataSpec([f"class{i}" for i in range(classes)], [], [0.5] * 3, [0.25] * 3, 3)
    config = {"data": {"image_size": [512, 512]}}
    return save_checkpoint(Checkpoint("segmentation", config, ModelSpec("unet-small", kwargs, model.state_dict()),
                                      data), path)


def image_bands(size: int) -> Iterator[np.ndarray]:
    """A structured RGB image (waves, blobs, noise), so the model sees edges everywhere."""
    rng = np.random.default_rng(0)
    x = np.arange(size, dtype=np.float32)[None]
    for top in range(0, size, BAND):
        y = np.arange(top, min(size, top + BAND), dtype=np.float32)[:, None]
        r = 127 + 90 * np.sin(x / 97.0) * np.cos(y / 61.0)
        g = 127 + 90 * np.sin((x + y) / 173.0)
        b = 127 + 90 * np.cos(np.hypot(x % 700 - 350, y % 500 - 250) / 40.0)
        noise = rng.normal(0, 12, (len(y), size, 3))
        yield np.clip(np.stack([r, g, b], axis=-1) + noise, 0, 255).astype(np.uint8)


def run_measured(command: list[str]) -> tuple[float, float, int]:
    """(peak RSS in MiB, wall seconds, exit code) of `command` in a fresh measuring process."""
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", MEASURE, *command], capture_output=True, text=True)
    wall = time.perf_counter() - start
    sys.stderr.write(out.stderr[-2000:])
    rss_kib, code = out.stdout.split()[-2:]
    return int(rss_kib) / 1024, wall, int(code)


def expected_region(segmenter: Segmenter, image: TiffRows, region: tuple[int, int, int, int],
                    window: tuple[int, int], overlap: float) -> np.ndarray:
    """The class ids of `region` (top, bottom, left, right) from the windows of the global grid that touch it."""
    top, bottom, left, right = region
    height, width = image.size
    win_h, win_w = min(window[0], height), min(window[1], width)
    weights = gaussian_weights(win_h, win_w)
    acc, norm = None, torch.zeros(bottom - top, right - left)
    for wt in window_starts(height, win_h, overlap):
        if wt >= bottom or wt + win_h <= top:
            continue
        strip = image.read(wt, wt + win_h)
        for wl in window_starts(width, win_w, overlap):
            if wl >= right or wl + win_w <= left:
                continue
            scores = segmenter.scores(strip[None, :, :, wl:wl + win_w])[0].float()
            if acc is None:
                acc = torch.zeros(scores.shape[0], bottom - top, right - left)
            ys = slice(max(top, wt), min(bottom, wt + win_h))
            xs = slice(max(left, wl), min(right, wl + win_w))
            local = (slice(ys.start - wt, ys.stop - wt), slice(xs.start - wl, xs.stop - wl))
            target = (slice(ys.start - top, ys.stop - top), slice(xs.start - left, xs.stop - left))
            acc[:, target[0], target[1]] += scores[:, local[0], local[1]] * weights[local]
            norm[target] += weights[local]
    assert acc is not None
    return (acc / norm).argmax(dim=0).numpy()


def read_mask(path: Path, region: tuple[int, int, int, int]) -> np.ndarray:
    top, bottom, left, right = region
    if path.suffix == ".tif":
        with TiffRows(path, 1) as rows:
            return rows.read(top, bottom)[0, :, left:right].numpy()
    Image.MAX_IMAGE_PIXELS = None
    return np.asarray(Image.open(path))[top:bottom, left:right]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=8192)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--window", type=int, nargs=2, default=(512, 512))
    parser.add_argument("--overlap", type=float, default=0.5)
    parser.add_argument("--max-pixels", type=int, default=None, help="passed to segen (default: segen's)")
    parser.add_argument("--whole", action="store_true", help="predict the image whole (eager, no tiling)")
    parser.add_argument("--regions", type=int, default=3, help="regions of the mask to check")
    parser.add_argument("--region-size", type=int, default=1024)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    checkpoint = args.checkpoint or make_checkpoint(args.out / "unet-small.pt")
    image_path = args.out / f"image-{args.size}.tif"
    if not image_path.exists():
        write_tiled_tiff(image_path, image_bands(args.size), (args.size, args.size))
    masks = args.out / ("whole" if args.whole else "tiled")
    command = [str(Path(sys.executable).parent / "segen"), "seg", "predict", "--checkpoint", str(checkpoint),
               "--input", str(image_path), "--out", str(masks), "--overwrite", "--quiet"]
    command += ["--whole"] if args.whole else ["--tile", *map(str, args.window), "--overlap", str(args.overlap)]
    if args.max_pixels is not None:
        command += ["--max-pixels", str(args.max_pixels)]
    rss, wall, code = run_measured(command)
    result = {"size": args.size, "mode": "whole" if args.whole else "tiled", "window": list(args.window),
              "overlap": args.overlap, "exit_code": code, "peak_rss_mib": round(rss), "wall_s": round(wall, 1),
              "s_per_megapixel": round(wall / (args.size**2 / 1e6), 3)}
    if code == 0 and not args.whole:
        result["regions"] = check_regions(checkpoint, image_path, masks, args)
    print(json.dumps(result))


def check_regions(checkpoint: Path, image_path: Path, masks: Path, args: argparse.Namespace) -> list[dict]:
    mask_path = next(p for p in (masks / f"{image_path.stem}.tif", masks / f"{image_path.stem}.png") if p.exists())
    segmenter = Segmenter.from_checkpoint(checkpoint, max_pixels=None)
    rng = np.random.default_rng(1)
    side = min(args.region_size, args.size)
    corners = [(0, 0), (args.size - side, args.size - side)]
    corners += [tuple(int(v) for v in rng.integers(0, args.size - side + 1, 2)) for _ in range(args.regions - 2)]
    checks = []
    with TiffRows(image_path, 3) as image:
        for top, left in corners[:max(args.regions, 1)]:
            region = (top, top + side, left, left + side)
            expected = expected_region(segmenter, image, region, tuple(args.window), args.overlap)
            agree = float((read_mask(mask_path, region) == expected).mean())
            checks.append({"region": list(region), "agreement": agree})
            print(f"region rows {top}..{top + side} cols {left}..{left + side}: {agree:.6f} of pixels agree",
                  file=sys.stderr)
    return checks


if __name__ == "__main__":
    main()
