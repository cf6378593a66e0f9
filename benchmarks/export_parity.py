"""Export parity for every registered model: ONNX and TorchScript against PyTorch at odd sizes.

Each registered segmentation model (at its registered widths, 3 channels, 12 classes; plus unet-small on
timm's resnet18 and tf_efficientnet_lite0 encoders) and each GAN generator is built with seeded random
weights, written as a checkpoint and exported by `segen.export.export_checkpoint` in both formats; the
table lists the largest absolute difference over the parity inputs (97x131, 2x256x256, 333x517, 64x1000
for image models; batches 1, 3, 8 for sampling generators) and, for segmentation, the share of equal
class ids.

    python benchmarks/export_parity.py --out /tmp/export-parity.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

import torch

from segen.checkpoint import Checkpoint, GanDataSpec, ModelSpec, SegDataSpec, save_checkpoint
from segen.errors import SegenError
from segen.export import export_checkpoint
from segen.models import GANPair, create_model, list_models

CLASSES = 12
EXTRA_SEGMENTATION = [("unet-small", {"encoder": "resnet18"}), ("unet-small", {"encoder": "tf_efficientnet_lite0"})]
GANS = [("dcgan", {"image_size": (64, 64), "channels": 3}),
        ("cgan", {"image_size": (32, 32), "channels": 1, "num_classes": 10}),
        ("pix2pix", {"image_size": (256, 256), "channels": 3, "in_channels": 3, "generator": "unet"}),
        ("pix2pix", {"image_size": (256, 256), "channels": 3, "in_channels": 3, "generator": "paper"})]


def segmentation_checkpoint(path: Path, name: str, extra: dict[str, Any]) -> Path:
    torch.manual_seed(0)
    kwargs = {**extra, "in_channels": 3, "num_classes": CLASSES}
    model = create_model(name, **kwargs)
    data = SegDataSpec([f"c{i}" for i in range(CLASSES)], [], [0.45] * 3, [0.25] * 3, 3)
    return save_checkpoint(Checkpoint("segmentation", {}, ModelSpec(name, kwargs, model.state_dict()), data), path)


def gan_checkpoint(path: Path, name: str, kwargs: dict[str, Any]) -> Path:
    torch.manual_seed(0)
    pair = cast(GANPair, create_model(name, **kwargs))
    classes = [str(i) for i in range(int(kwargs.get("num_classes", 0)))]
    data = GanDataSpec(list(kwargs["image_size"]), int(kwargs["channels"]), kwargs.get("in_channels"), classes)
    return save_checkpoint(Checkpoint("gan", {}, ModelSpec(name, kwargs, pair.generator.state_dict()), data), path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--formats", nargs="+", default=["onnx", "torchscript"])
    parser.add_argument("--models", nargs="+", help="only the models whose labels contain one of these words")
    args = parser.parse_args()
    torch.set_num_threads(2)
    rows = []
    with tempfile.TemporaryDirectory(prefix="segen-parity-") as tmp:
        work = Path(tmp)
        cases: list[tuple[str, Path]] = []
        for name in list_models("segmentation"):
            cases.append((name, segmentation_checkpoint(work / f"{name}.pt", name, {})))
        for name, extra in EXTRA_SEGMENTATION:
            label = f"{name} + {extra['encoder']}"
            cases.append((label, segmentation_checkpoint(work / f"{label}.pt", name, extra)))
        for name, kwargs in GANS:
            label = f"{name} ({kwargs['generator']})" if "generator" in kwargs else name
            cases.append((label, gan_checkpoint(work / f"{label}.pt", name, kwargs)))
        for label, checkpoint in cases:
            if args.models and not any(word in label for word in args.models):
                continue
            for fmt in args.formats:
                start = time.perf_counter()
                try:
                    report = export_checkpoint(checkpoint, work / f"{label}.{fmt}", fmt)
                except SegenError as exc:
                    rows.append({"model": label, "format": fmt, "error": str(exc)})
                    print(f"{label} {fmt}: FAILED {exc}", file=sys.stderr)
                    continue
                agreement = [c.label_agreement for c in report.checks if c.label_agreement is not None]
                rows.append({"model": label, "format": fmt, "max_abs_diff": report.max_abs_diff,
                             "min_label_agreement": min(agreement) if agreement else None,
                             "sizes": [list(c.shape) for c in report.checks],
                             "seconds": round(time.perf_counter() - start, 1)})
                print(f"{label} {fmt}: max abs difference {report.max_abs_diff:.2e}", file=sys.stderr)
    print("| model | format | max abs difference | class ids equal (worst size) | export + check s |")
    print("|---|---|---|---|---|")
    for row in rows:
        if "error" in row:
            print(f"| {row['model']} | {row['format']} | failed: {row['error']} | | |")
            continue
        ids = "" if row["min_label_agreement"] is None else f"{row['min_label_agreement']:.4%}"
        print(f"| {row['model']} | {row['format']} | {row['max_abs_diff']:.2e} | {ids} | {row['seconds']} |")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
