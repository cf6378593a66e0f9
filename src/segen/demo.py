"""The built-in demo: synthetic data -> U-Net training -> evaluation -> prediction -> HTML report.

Needs no network and no data of the user's; sized to finish within a few minutes on a laptop CPU.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np

from segen.config import DataConfig, ModelConfig, SegConfig, TrainConfig
from segen.data import SyntheticSpec, list_split, read_mask, write_folder_dataset
from segen.data.io import read_image
from segen.inference import Segmenter, evaluate_segmentation, predict_files
from segen.reports import colorize, image_grid, overlay, plot_curves, save_png, write_report
from segen.training import train_segmentation

DEMO_SPLITS = {"train": 240, "val": 40, "test": 40}
DEMO_SPEC = SyntheticSpec(height=128, width=128, num_classes=4)


DEMO_EPOCHS = 20


def demo_config(data_root: Path, run_dir: Path, minutes: float, seed: int) -> SegConfig:
    """The demo's training run: unet-small on 128x128 synthetic shapes, 20 epochs, at most `minutes`."""
    return SegConfig(
        model=ModelConfig(name="unet-small"),
        data=DataConfig(root=str(data_root), image_size=(128, 128), min_epoch_samples=0),
        train=TrainConfig(out=str(run_dir), epochs=DEMO_EPOCHS, max_time=minutes, batch_size=8, seed=seed),
    )


def run_demo(out: str | Path = "segen-demo", minutes: float = 4.0, seed: int = 0, progress: bool = True) -> Path:
    """Run the whole demo in `out`; returns the path of `report.html`."""
    out = Path(out)
    data_root = out / "data"
    if not (data_root / "classes.yaml").is_file():
        _say(f"writing synthetic dataset to {data_root}")
        write_folder_dataset(data_root, DEMO_SPEC, seed=seed, splits=DEMO_SPLITS)
    run_dir = out / "run"
    if run_dir.exists():
        _say(f"replacing the previous demo run in {run_dir}")
        shutil.rmtree(run_dir)
    _say(f"training unet-small for {DEMO_EPOCHS} epochs (at most {minutes:g} min)")
    train_segmentation(demo_config(data_root, run_dir, minutes, seed), progress=progress)
    segmenter = Segmenter.from_checkpoint(run_dir / "best.pt")
    scores = {split: evaluate_segmentation(segmenter, data_root, split, progress=progress) for split in ("val", "test")}
    (out / "scores.json").write_text(json.dumps(scores, indent=2))
    predict_files(segmenter, data_root / "test" / "images", out / "predictions", overlays=True, progress=progress)
    return _report(out, run_dir, data_root, segmenter, scores)


def _report(out: Path, run_dir: Path, data_root: Path, segmenter: Segmenter, scores: dict[str, Any]) -> Path:
    history = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    plot_curves(history, out / "curves.png")
    save_png(_overlay_grid(segmenter, data_root, out / "predictions"), out / "samples.png")
    val, test = scores["val"], scores["test"]
    summary = {"val mean IoU": val["mean_iou"], "val mean Dice": val["mean_dice"],
               "test mean IoU": test["mean_iou"], "test mean Dice": test["mean_dice"],
               "test pixel accuracy": test["pixel_accuracy"], "epochs": history[-1]["epoch"],
               "training time (s)": history[-1]["time_s"], "checkpoint": str(run_dir / "best.pt")}
    per_class = {name: {k: v for k, v in s.items()} for name, s in test["per_class"].items()}
    return write_report(out / "report.html", "segen demo: U-Net on synthetic shapes", summary=summary,
                        per_class=per_class,
                        images=[("Loss and validation metrics per epoch", "curves.png"),
                                ("Test images: image | truth | prediction | prediction over the image", "samples.png")],
                        notes=[f"Data: {data_root} (synthetic, {DEMO_SPEC.num_classes} classes). "
                               f"Per-class scores are on the test split."])


def _overlay_grid(segmenter: Segmenter, data_root: Path, predictions: Path, rows: int = 6) -> np.ndarray:
    palette, ignore = segmenter.palette, segmenter.info.ignore_index
    cells = []
    for sample in list_split(data_root, "test")[:rows]:
        image = read_image(sample.image, 3).permute(1, 2, 0).numpy()
        truth = read_mask(sample.mask)
        pred = read_mask(predictions / f"{sample.image.stem}.png")
        cells.append([image, colorize(truth, palette, ignore), colorize(pred, palette, ignore),
                      overlay(image, pred, palette, ignore_index=ignore)])
    return image_grid(cells)


def _say(message: str) -> None:
    print(message, file=sys.stderr)
