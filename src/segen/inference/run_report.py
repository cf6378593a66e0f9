"""`RUNDIR/report.html`: one self-contained page on a run folder, segmentation or GAN.

It shows what training logged (summary, curves, the resolved config) and, for segmentation, what the run's
checkpoint (`best.pt`, else `last.pt`) does on the images the run validated on: the data's `val` split, or
the share of the training images it held out, rebuilt by the training's own loader from the saved config
and seed. For GANs it shows the sample grids over training and any scores of `segen gan evaluate --json
RUNDIR/eval*.json`: every `eval*.json` in the run folder that holds FID, KID or FCN-score keys.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from segen.checkpoint import Checkpoint, load_checkpoint
from segen.config import SegConfig, load_yaml
from segen.data import SegmentationDataset, load_segmentation_data, load_split_dataset
from segen.data.seg import get_format
from segen.data.seg.dataset import stats_indices
from segen.errors import CheckpointError, DataError, one_line
from segen.inference.evaluate import evaluate_dataset
from segen.inference.segmenter import Segmenter
from segen.inference.tiling import AUTO_TILING
from segen.models import model_entry
from segen.preprocess import to_unit
from segen.reports import colorize, fit_within, image_grid, overlay, plot_curves, to_uint8_image, write_page
from segen.reports.html import (
    config_block,
    confusion_table,
    figure,
    gallery,
    heading,
    paragraph,
    per_class_table,
    summary_table,
)
from segen.runtime import resolve_device

REPORT_NAME = "report.html"
#: The value each task's Trainer monitors to choose `best.pt` (training/seg.py, training/gan.py).
MONITORED = {"segmentation": "val/mean_iou", "gan": "val/l1"}
#: At most this many `samples/step-*.png` grids, evenly spaced, the first and last included.
SAMPLE_STEPS = 8
#: The longest side of each panel of an example row (image | truth | prediction | overlay).
PANEL_SIDE = 256
PER_CLASS_SCORES = ("iou", "dice", "precision", "recall", "pixel_share", "boundary_f1", "hd95", "assd")
GAN_SCORE_KEYS = ("fid", "kid_mean", "kid_std")
_STEP_FILE = re.compile(r"step-(\d+)\.png")
_PNG = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class RunFolder:
    """What a run folder holds: its config (as text and data), the metric records and the checkpoint read."""

    path: Path
    config: dict[str, Any]
    config_text: str
    history: list[dict[str, Any]]
    checkpoint_path: Path
    checkpoint: Checkpoint


@dataclass(frozen=True)
class ValidationSplit:
    """The images a segmentation run validated on."""

    dataset: SegmentationDataset
    root: Path
    name: str
    description: str


def write_run_report(run_dir: str | Path, *, worst: int = 4, device: str = "auto", progress: bool = False) -> Path:
    """Write `run_dir/report.html` (atomically) and return its path.

    Args:
        run_dir: a run folder written by segen's Trainer.
        worst: segmentation: show the best and the worst `worst` validation images by per-image mean IoU.
        device: where the checkpoint is evaluated (auto, cpu, cuda, mps).
        progress: show a progress bar while evaluating.

    Raises:
        DataError: no such folder, no config.yaml or metrics.jsonl in it, a corrupt metrics line, eval json or
            sample grid.
        ConfigError: a malformed config.yaml.
        CheckpointError: no checkpoint, or a corrupt one.
    """
    run = read_run(run_dir)
    kind = run.checkpoint.kind
    label = kind if kind == "segmentation" else run.checkpoint.model.name
    parts = [summary_table(_summary(run, label)),
             figure("Loss and validation metrics per epoch", plot_curves(run.history))]
    if kind == "segmentation":
        segmenter = Segmenter.from_checkpoint(run.checkpoint_path, resolve_device(device))
        parts += _segmentation_parts(run, segmenter, worst, progress)
    else:
        parts += _sample_parts(run)
    parts += _eval_parts(run.path, kind)
    parts.append(config_block(run.config_text, "Config (config.yaml)"))
    return write_page(run.path / REPORT_NAME, f"{label} run {run.path.name}", parts)


def read_run(run_dir: str | Path) -> RunFolder:
    """Read a run folder: config.yaml, metrics.jsonl and `best.pt` (or `last.pt` when there is no best.pt)."""
    path = Path(run_dir)
    if not path.is_dir():
        raise DataError(f"{path}: run folder not found", kind="missing", path=path)
    for name in ("config.yaml", "metrics.jsonl"):
        if not (path / name).is_file():
            raise DataError(f"{path / name}: not found; {path} is not a segen run folder", kind="missing",
                            path=path / name)
    config = load_yaml(path / "config.yaml")
    checkpoint_path = next((path / n for n in ("best.pt", "last.pt") if (path / n).is_file()), None)
    if checkpoint_path is None:
        raise CheckpointError(f"{path}: no checkpoint (best.pt or last.pt) in the run folder", kind="missing",
                              path=path)
    return RunFolder(path, config, (path / "config.yaml").read_text(), read_history(path / "metrics.jsonl"),
                     checkpoint_path, load_checkpoint(checkpoint_path))


def read_history(path: Path) -> list[dict[str, Any]]:
    """The records of a metrics.jsonl file; a line that is not a JSON object is a DataError naming it."""
    records = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            raise DataError(f"{path}: line {number} is not a JSON record", kind="corrupt", path=path)
        records.append(record)
    return records


def _summary(run: RunFolder, label: str) -> dict[str, object]:
    last = run.history[-1] if run.history else {}
    best = next((r for r in reversed(run.history) if r.get("best")), None)
    monitor = MONITORED.get(run.checkpoint.kind, "best")
    epochs = last.get("epoch")
    encoder = (run.config.get("model") or {}).get("encoder") if run.checkpoint.kind == "segmentation" else None
    model = run.checkpoint.model.name + (f" (encoder {encoder})" if encoder else "")
    return {"kind": label, "model": model, "run folder": str(run.path),
            "checkpoint": run.checkpoint_path.name,
            "epochs": f"{epochs} (the last cut short by the time budget)" if last.get("partial_epoch") else epochs,
            "steps": last.get("step"), "training time": _duration(last.get("time_s")),
            "best epoch": best.get("epoch") if best else None, f"best {monitor}": best.get(monitor) if best else None}


def _duration(seconds: object) -> str | None:
    """Seconds as `12.3 s`, `4 min 05 s` or `2 h 03 min`."""
    if not isinstance(seconds, int | float):
        return None
    whole = int(seconds)
    if whole < 60:
        return f"{seconds:.1f} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def validation_split(cfg: SegConfig, segmenter: Segmenter) -> ValidationSplit:
    """The images the run validated on: the data's `val` split, or the share of `train` it held out (rebuilt by
    `load_segmentation_data`, as training did, from the config and its seed).

    Raises:
        DataError: the data is missing or unreadable.
    """
    root, info = Path(cfg.data.root), segmenter.info
    if not root.is_dir():
        raise DataError(f"{root}: data folder not found", kind="missing", path=root)
    if "val" in get_format(cfg.data.format, root).splits(root):
        dataset = load_split_dataset(root, "val", len(info.class_names), info.ignore_index, info.channels,
                                     info.binary_255, cfg.data.format, segmenter.max_pixels)
        return ValidationSplit(dataset, root, "val", f"the val split of {root} ({len(dataset)} images)")
    held_out = load_segmentation_data(replace(cfg.data, cache="no"), cfg.train.seed, len(info.class_names)).val
    return ValidationSplit(held_out, root, "val (held out of train)",
                           f"the {len(held_out)} images held out of the training images of {root} "
                           f"(data.val_fraction {cfg.data.val_fraction:g}, seed {cfg.train.seed})")


def _segmentation_parts(run: RunFolder, segmenter: Segmenter, count: int, progress: bool) -> list[str]:
    cfg = SegConfig.from_dict(run.config, str(run.path / "config.yaml"))
    try:
        split = validation_split(cfg, segmenter)
        scores = evaluate_dataset(segmenter, split.dataset, split.root, split.name, progress=progress)
    except DataError as exc:
        return [paragraph(_missing_data(Path(cfg.data.root), exc))]
    names = segmenter.info.class_names
    overall = {"images": scores["images"], "mean IoU": scores["mean_iou"], "mean Dice": scores["mean_dice"],
               "pixel accuracy": scores["pixel_accuracy"], "mean class accuracy": scores["mean_class_accuracy"],
               "mean boundary F1": scores["mean_boundary_f1"], "mean HD95 (px)": scores["mean_hd95"]}
    per_class = {name: {k: per[k] for k in PER_CLASS_SCORES if k in per} for name, per in scores["per_class"].items()}
    return [summary_table(overall, f"Validation scores of {run.checkpoint_path.name}"),
            paragraph(f"Scored on {split.description}, each image whole (large ones in windows)."),
            per_class_table(per_class, "Per class (validation)"), confusion_table(names, scores["confusion"]),
            *_example_parts(segmenter, split.dataset, scores["per_image"], count)]


def _missing_data(root: Path, error: DataError) -> str:
    """The one sentence (also said on stderr) of a report made without its data."""
    where = (f"The validation data is no longer at {root} (data.root in config.yaml)" if not root.is_dir()
             else f"The validation data in {root} could not be read ({one_line(error)})")
    sentence = f"{where}, so this report leaves out the per-class scores, the confusion matrix and the examples."
    print(f"note: {sentence}", file=sys.stderr)
    return sentence


def _example_parts(segmenter: Segmenter, dataset: SegmentationDataset, per_image: list[dict[str, Any]],
                   count: int) -> list[str]:
    """The best and the worst `count` images by mean IoU (never the same image twice)."""
    ranked = sorted((i for i, e in enumerate(per_image) if e["mean_iou"] is not None),
                    key=lambda i: per_image[i]["mean_iou"])
    n_best = min(count, (len(ranked) + 1) // 2)
    picks = (("Best", ranked[::-1][:n_best]), ("Worst", ranked[:min(count, len(ranked) - n_best)]))
    parts = []
    for title, ids in picks:
        if ids:
            parts.append(heading(f"{title} {len(ids)} validation images by mean IoU"))
            parts += [figure(_caption(per_image[i]), _example_row(segmenter, dataset, i), pixels=True) for i in ids]
    return parts


def _caption(entry: dict[str, Any]) -> str:
    means = ", ".join(f"{label} {_score(entry[key])}" for label, key in (
        ("mean IoU", "mean_iou"), ("mean Dice", "mean_dice"), ("mean boundary F1", "mean_boundary_f1")))
    classes = ", ".join(f"{name} {_score(s['iou'])}" for name, s in entry["per_class"].items() if s["iou"] is not None)
    return f"{entry['image']}: {means}; IoU per class: {classes} (image | truth | prediction | overlay)"


def _score(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _example_row(segmenter: Segmenter, dataset: SegmentationDataset, index: int) -> np.ndarray:
    """image | truth | prediction | prediction over the image, each at most PANEL_SIDE pixels long."""
    image = dataset.image(index)
    size = (int(image.shape[-2]), int(image.shape[-1]))
    predicted = segmenter.labels(image[None], segmenter.tile_for(size, AUTO_TILING))[0].numpy()
    truth = dataset.mask(index).numpy()
    shown = to_uint8_image(to_unit(image[:3], segmenter.info.max_value).numpy())
    palette, ignore = segmenter.palette, segmenter.info.ignore_index
    masks = [fit_within(colorize(m, palette, ignore), PANEL_SIDE, nearest=True) for m in (truth, predicted)]
    blended = overlay(shown, predicted, palette, ignore_index=ignore)
    return image_grid([[fit_within(shown, PANEL_SIDE), *masks, fit_within(blended, PANEL_SIDE)]])


def _sample_parts(run: RunFolder) -> list[str]:
    """The `samples/step-N.png` grids (at most SAMPLE_STEPS, in step order) and the final `samples.png`."""
    steps = sorted((int(m.group(1)), p) for p in (run.path / "samples").glob("step-*.png")
                   if (m := _STEP_FILE.fullmatch(p.name)))
    picks = [steps[i] for i in stats_indices(len(steps), SAMPLE_STEPS)]
    parts = []
    if picks:
        parts += [heading("Samples over training"),
                  paragraph(f"{len(picks)} of the {len(steps)} grids in samples/, from the same fixed inputs."),
                  gallery([figure(f"step {step}", _png_file(path), pixels=True) for step, path in picks])]
    final = run.path / "samples.png"
    if final.is_file():
        pix2pix = model_entry(run.checkpoint.model.name, "gan").conditioning == "image"
        what = "input | generated | real, for the fixed validation inputs" if pix2pix else "from the fixed inputs"
        parts += [heading("Final samples"), figure(f"samples.png: {what}", _png_file(final), pixels=True)]
    return parts


def _png_file(path: Path) -> bytes:
    data = path.read_bytes()
    if not data.startswith(_PNG):
        raise DataError(f"{path}: not a PNG file", kind="corrupt", path=path)
    return data


def _eval_parts(run_dir: Path, kind: str) -> list[str]:
    """A table for each `eval*.json` holding FID, KID or FCN-score keys (from `segen gan evaluate --json`)."""
    parts = []
    for path in sorted(run_dir.glob("eval*.json")):
        scores = _eval_scores(path)
        if scores:
            parts.append(summary_table(scores, f"FID / KID / FCN-score ({path.name})"))
            if scores.get("reliable") is False:
                parts.append(paragraph("Unreliable: scored on fewer images than FID/KID need "
                                       "(--allow-few-images); not comparable with other scores."))
    if not parts and kind == "gan":
        parts.append(paragraph("No FID, KID or FCN-score yet: segen gan evaluate ... --json RUNDIR/eval.json "
                               "writes them where the next report shows them."))
    return parts


def _eval_scores(path: Path) -> dict[str, object]:
    """The plain values of a scores file, or {} when it holds no FID, KID or FCN-score."""
    try:
        data = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError):
        raise DataError(f"{path}: not valid JSON", kind="corrupt", path=path) from None
    if not isinstance(data, dict) or not any(k in GAN_SCORE_KEYS or k.startswith("fcn") for k in data):
        return {}
    return {k: v for k, v in data.items() if v is None or isinstance(v, str | int | float | bool)}
