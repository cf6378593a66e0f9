"""Evaluation of a segmentation checkpoint on a labelled split: overlap and boundary scores, per class and image."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from segen.data import SegmentationDataset, load_split_dataset
from segen.inference.segmenter import Segmenter
from segen.inference.tiling import AUTO_TILING, Tiling
from segen.metrics import SURFACE_SCORES, ConfusionMatrix, SurfaceMetrics


def evaluate_segmentation(segmenter: Segmenter, root: str | Path, split: str = "test", batch_size: int = 4,
                          progress: bool = True, format: str = "auto", spacing: Sequence[float] | None = None,
                          boundary_tolerance: float = 2.0, tiling: Tiling | None = AUTO_TILING) -> dict[str, Any]:
    """Scores of `segmenter` on a labelled split, for the whole split and for each image.

    Args:
        segmenter: the model; images (and masks) above its `max_pixels` are refused from their headers before
            any is decoded.
        root: dataset root.
        split: split to score.
        batch_size: images per forward pass (images of one size are batched together).
        progress: show a progress bar.
        format: dataset format (auto: detected).
        spacing: pixel size (sy, sx): HD95 and ASSD in its units instead of pixels.
        boundary_tolerance: boundary F1 matching distance, in pixels.
        tiling: which images run window by window, and how (see segen.inference.tiling); None: all whole.

    Returns:
        The confusion-matrix scores (mean_iou, mean_dice, pixel_accuracy, mean_class_accuracy, per_class) with
        the boundary scores of `SurfaceMetrics.compute` merged in (per_class hd95, assd, boundary_f1,
        both_present, one_sided; mean_hd95, mean_assd, mean_boundary_f1); `surface` (units, spacing,
        boundary_tolerance_px, the scored classes); `confusion`, the pixel counts as a list of rows (true class)
        of columns (predicted class); split, images, data; and per_image, one entry per image in
        dataset order: {image (its path under `root`), mean_iou, mean_dice, mean_hd95, mean_assd,
        mean_boundary_f1, per_class {name: {iou, dice, hd95, assd, boundary_f1}}}. A class absent from both
        prediction and truth has None; see segen.metrics.surface for the boundary conventions.
    """
    info = segmenter.info
    dataset = load_split_dataset(root, split, len(info.class_names), info.ignore_index, info.channels,
                                 info.binary_255, format, segmenter.max_pixels)
    return evaluate_dataset(segmenter, dataset, root, split, batch_size, progress, spacing, boundary_tolerance,
                            tiling)


def evaluate_dataset(segmenter: Segmenter, dataset: SegmentationDataset, root: str | Path, split: str,
                     batch_size: int = 4, progress: bool = True, spacing: Sequence[float] | None = None,
                     boundary_tolerance: float = 2.0, tiling: Tiling | None = AUTO_TILING) -> dict[str, Any]:
    """`evaluate_segmentation` on a split already loaded, e.g. the validation share a run held out of its
    training images; `root` names the images in `per_image`, `split` is recorded as given."""
    names, ignore = segmenter.info.class_names, segmenter.info.ignore_index
    metric = ConfusionMatrix(len(names), ignore, names)
    image_metric = ConfusionMatrix(len(names), ignore, names)
    surface = SurfaceMetrics(len(names), ignore, names, spacing, boundary_tolerance)
    per_image: list[dict[str, Any]] = [{} for _ in range(len(dataset))]
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, size in enumerate(dataset.sizes):
        groups.setdefault(size, []).append(i)
    batches = [ids[k:k + batch_size] for ids in groups.values() for k in range(0, len(ids), batch_size)]
    for ids in tqdm(batches, desc=f"evaluate {split}", unit="batch", disable=not progress):
        images = torch.stack([dataset.image(i) for i in ids])
        segmenter.check_depth(images, dataset.samples[ids[0]].image)
        masks = torch.stack([dataset.mask(i) for i in ids]).long()
        size = (int(images.shape[-2]), int(images.shape[-1]))
        labels = segmenter.labels(images, segmenter.tile_for(size, tiling))
        surface.update(labels, masks)
        for j, (i, boundary) in enumerate(zip(ids, surface.per_image[-len(ids):], strict=True)):
            image_metric.reset()
            image_metric.update(labels[j], masks[j])
            metric.matrix += image_metric.matrix
            per_image[i] = _image_entry(_relative_name(dataset.samples[i].image, Path(root)),
                                        image_metric.compute(), boundary)
    scores = metric.compute()
    boundary_scores = surface.compute()
    for name, values in boundary_scores["per_class"].items():
        scores["per_class"][name].update(values)
    scores.update({f"mean_{key}": boundary_scores[f"mean_{key}"] for key in SURFACE_SCORES})
    scores["surface"] = {"units": "pixels" if surface.spacing is None else "spacing",
                         "spacing": list(surface.spacing) if surface.spacing else None,
                         "boundary_tolerance_px": surface.tolerance,
                         "classes": [names[k] for k in surface.classes]}
    scores.update(confusion=metric.matrix.tolist(), split=split, images=len(dataset), data=str(root),
                  per_image=per_image)
    return scores


def _image_entry(image: str, overlap: dict[str, Any], boundary: dict[str, Any]) -> dict[str, Any]:
    """One image's row of `per_image`: overlap scores from its confusion matrix, boundary scores beside them."""
    per_class = {name: {"iou": scores["iou"], "dice": scores["dice"], **boundary["per_class"][name]}
                 for name, scores in overlap["per_class"].items()}
    means = {f"mean_{key}": boundary[f"mean_{key}"] for key in SURFACE_SCORES}
    return {"image": image, "mean_iou": overlap["mean_iou"], "mean_dice": overlap["mean_dice"], **means,
            "per_class": per_class}


def _relative_name(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name


def format_scores(scores: dict[str, Any]) -> str:
    """The per-class tables as text: overlap (IoU, Dice, precision, recall, pixel share) and, when scored,
    boundary (HD95, ASSD, boundary F1, image counts); each followed by its means."""
    columns = ("iou", "dice", "precision", "recall", "pixel_share")
    labels = [*scores["per_class"], "pixel_accuracy", *(f"mean_{key}" for key in SURFACE_SCORES if "surface" in scores)]
    width = max(len(label) + 2 for label in labels)
    lines = [f"{'class':<{width}}" + "".join(f"{c:>12}" for c in columns)]
    for name, per in scores["per_class"].items():
        lines.append(f"{name:<{width}}" + "".join(f"{_fmt(per[c]):>12}" for c in columns))
    lines.append("")
    for key in ("mean_iou", "mean_dice", "pixel_accuracy"):
        lines.append(f"{key:<{width}}{_fmt(scores[key]):>12}")
    if "surface" in scores:
        lines += ["", *_boundary_table(scores, width)]
    return "\n".join(lines)


def _boundary_table(scores: dict[str, Any], width: int) -> list[str]:
    surface = scores["surface"]
    counts = ("both_present", "one_sided")
    lines = [f"{'class':<{width}}" + "".join(f"{c:>14}" for c in (*SURFACE_SCORES, *counts))]
    for name in surface["classes"]:
        per = scores["per_class"][name]
        lines.append(f"{name:<{width}}" + "".join(f"{_fmt(per[c]):>14}" for c in SURFACE_SCORES)
                     + "".join(f"{per[c]:>14}" for c in counts))
    lines.append("")
    for key in SURFACE_SCORES:
        lines.append(f"{'mean_' + key:<{width}}{_fmt(scores[f'mean_{key}']):>14}")
    spacing = surface["spacing"]
    units = "pixels" if spacing is None else f"units of the spacing (sy {spacing[0]:g}, sx {spacing[1]:g})"
    tolerance = surface["boundary_tolerance_px"]
    return [*lines, f"hd95, assd: in {units}; boundary_f1: boundary pixels matched within {tolerance:g} px",
            "both_present / one_sided: images with the class in prediction and truth / in one only (no hd95, assd)"]


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"
