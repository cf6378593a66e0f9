"""The built-in demo: synthetic data -> U-Net training -> evaluation -> prediction, then a small pix2pix
GAN that paints images from label maps, judged by the trained U-Net (FCN-score) -> HTML report.

Needs no network and no data of the user's; sized to finish within a few minutes on a laptop CPU.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np

from segen.config import DataConfig, GanConfig, GanDataConfig, GanModelConfig, ModelConfig, SegConfig, TrainConfig
from segen.data import SyntheticSpec, list_split, read_mask, write_folder_dataset
from segen.data.io import read_image
from segen.data.synthetic import write_paired_dataset
from segen.errors import ConfigError
from segen.inference import Segmenter, evaluate_segmentation, predict_files
from segen.inference.gan_eval import EvalRequest, evaluate_gan
from segen.inference.run_report import write_run_report
from segen.reports import colorize, image_grid, overlay, plot_curves, save_png, write_report
from segen.runtime import resolve_device, write_atomic
from segen.training import train_segmentation
from segen.training.gan import train_gan

DEMO_SPLITS = {"train": 240, "val": 40, "test": 40}
DEMO_SPEC = SyntheticSpec(height=128, width=128, num_classes=4)


DEMO_EPOCHS = 20
GAN_PAIRS = 200
GAN_TRAIN_IDS, GAN_VAL_IDS = "1-160", "161-200"
GAN_EPOCHS = 12
GAN_SHARE = 0.25  # the GAN's time cap, as a share of the segmentation's (52 s by default)


def demo_config(data_root: Path, run_dir: Path, minutes: float, seed: int) -> SegConfig:
    """The demo's training run: unet-small on 128x128 synthetic shapes, 20 epochs, at most `minutes`."""
    return SegConfig(
        model=ModelConfig(name="unet-small"),
        data=DataConfig(root=str(data_root), image_size=(128, 128), min_epoch_samples=0),
        train=TrainConfig(out=str(run_dir), epochs=DEMO_EPOCHS, max_time=minutes, batch_size=8, seed=seed),
    )


def gan_config(pairs: Path, run_dir: Path, minutes: float, seed: int) -> GanConfig:
    """The demo's GAN: a small pix2pix (label map -> image) at 128x128, 12 epochs, at most `minutes`."""
    return GanConfig(
        # the paper's generator: within the demo's minute it learns the shapes' colours where the
        # segmentation-U-Net generator at the same cost (width 8) does not (FCN-score mean IoU 0.94 vs 0.54)
        model=GanModelConfig(name="pix2pix", generator="paper", width=16, d_width=16, depth=5),
        data=GanDataConfig(root=str(pairs), ids=GAN_TRAIN_IDS, val_ids=GAN_VAL_IDS),
        train=TrainConfig(out=str(run_dir), epochs=GAN_EPOCHS, max_time=minutes, batch_size=8, seed=seed),
        sample_count=6,
    )


def run_demo(out: str | Path = "segen-demo", minutes: float = 3.5, seed: int = 0, progress: bool = True) -> Path:
    """Run the whole demo in `out`; returns the path of `report.html`."""
    out = Path(out)
    _claim(out)
    data_root = out / "data"
    if not (data_root / "classes.yaml").is_file():
        _say(f"writing synthetic dataset to {data_root}")
        write_folder_dataset(data_root, DEMO_SPEC, seed=seed, splits=DEMO_SPLITS)
    run_dir = _fresh(out / "run")
    _say(f"training unet-small for {DEMO_EPOCHS} epochs (at most {minutes:g} min)")
    train_segmentation(demo_config(data_root, run_dir, minutes, seed), progress=progress)
    write_run_report(run_dir, progress=progress)  # as `segen seg train` does: `segen serve --runs` shows it
    segmenter = Segmenter.from_checkpoint(run_dir / "best.pt")
    scores = {split: evaluate_segmentation(segmenter, data_root, split, progress=progress) for split in ("val", "test")}
    predict_files(segmenter, data_root / "test" / "images", out / "predictions", overlays=True, progress=progress)
    scores["gan"] = _run_gan(out, run_dir / "best.pt", minutes * GAN_SHARE, seed, progress)
    write_atomic(out / "scores.json", json.dumps(scores, indent=2))
    return _report(out, run_dir, data_root, segmenter, scores)


def _run_gan(out: Path, segmenter_checkpoint: Path, minutes: float, seed: int, progress: bool) -> dict[str, Any]:
    """Train the demo pix2pix on label map -> image pairs and score it with the demo's segmenter."""
    pairs = out / "pairs"
    if not (pairs / "B" / f"{GAN_PAIRS}.png").is_file():
        write_paired_dataset(pairs, DEMO_SPEC, seed=seed + 1, count=GAN_PAIRS)
    gan_dir = _fresh(out / "gan")
    _say(f"training pix2pix (label map -> image) for {GAN_EPOCHS} epochs (at most {minutes:g} min)")
    train_gan(gan_config(pairs, gan_dir, minutes, seed), progress=progress)
    write_run_report(gan_dir, progress=progress)
    request = EvalRequest(data=str(pairs), checkpoint=str(gan_dir / "best.pt"), metrics=("fcn",),
                          segmenter=str(segmenter_checkpoint), ids=GAN_VAL_IDS)
    return evaluate_gan(request, resolve_device("auto"), progress=progress)


DEMO_MARKER = ".segen-demo"
#: What a demo run folder may hold; anything else in it was not written by segen and stops the demo.
RUN_ENTRIES = frozenset({"config.yaml", "metrics.jsonl", "last.pt", "best.pt", "samples.png", "samples",
                         "report.html"})
#: What the demo writes at the top of its folder (a folder holding only these is an earlier demo's).
DEMO_ENTRIES = frozenset({DEMO_MARKER, "data", "run", "gan", "pairs", "predictions", "scores.json", "curves.png",
                          "samples.png", "report.html"})


def _claim(out: Path) -> None:
    """Make `out` a demo folder: new or empty, or one a previous demo marked; refuse anything else."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: --out is a file, not a folder", path=out)
    if out.is_dir() and not (out / DEMO_MARKER).is_file() and any(p.name not in DEMO_ENTRIES for p in out.iterdir()):
        raise ConfigError(f"{out}: not empty and not a segen demo folder; choose a new or empty --out "
                          "(segen never deletes what it did not write)", kind="exists", path=out)
    write_atomic(out / DEMO_MARKER, "written by segen demo\n")


def _fresh(run_dir: Path) -> Path:
    """Remove the previous demo run in `run_dir`: only the files a run writes, and only if that is all it holds."""
    if not run_dir.exists():
        return run_dir
    foreign = sorted(p.name for p in run_dir.iterdir() if p.name not in RUN_ENTRIES)
    if foreign:
        raise ConfigError(f"{run_dir / foreign[0]}: not written by segen; the demo will not delete it "
                          f"(move it, or choose another --out)", kind="exists", path=run_dir / foreign[0])
    _say(f"replacing the previous demo run in {run_dir}")
    for name in RUN_ENTRIES:
        target = run_dir / name
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
    return run_dir


def _report(out: Path, run_dir: Path, data_root: Path, segmenter: Segmenter, scores: dict[str, Any]) -> Path:
    history = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    curves = plot_curves(history, out / "curves.png")
    samples = _overlay_grid(segmenter, data_root, out / "predictions")
    save_png(samples, out / "samples.png")
    val, test = scores["val"], scores["test"]
    summary = {"val mean IoU": val["mean_iou"], "val mean Dice": val["mean_dice"],
               "test mean IoU": test["mean_iou"], "test mean Dice": test["mean_dice"],
               "test pixel accuracy": test["pixel_accuracy"], "epochs": history[-1]["epoch"],
               "training time (s)": history[-1]["time_s"], "checkpoint": str(run_dir / "best.pt"),
               "pix2pix FCN-score mean IoU (generated images)": scores["gan"]["fcn/mean_iou"],
               "FCN-score mean IoU of the real images (ceiling)": scores["gan"]["fcn_real/mean_iou"]}
    per_class = {name: {k: v for k, v in s.items()} for name, s in test["per_class"].items()}
    return write_report(out / "report.html", "segen demo: U-Net on synthetic shapes", summary=summary,
                        per_class=per_class,
                        images=[("Loss and validation metrics per epoch (curves.png)", curves),
                                ("Test images: image | truth | prediction | prediction over the image (samples.png)",
                                 samples),
                                ("pix2pix on held-out label maps: input | generated | real (gan/samples.png)",
                                 (out / "gan" / "samples.png").read_bytes())],
                        notes=[f"Data: {data_root} (synthetic, {DEMO_SPEC.num_classes} classes). "
                               f"Per-class scores are on the test split.",
                               "The FCN-score runs the trained U-Net on images that pix2pix generated from held-out "
                               "label maps and compares its masks with those label maps (Isola et al.)."])


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
