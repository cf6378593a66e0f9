"""What a GAN run trains on: its data (and pix2pix validation pairs) and the DiffAugment ops it uses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch.utils.data import Dataset

from segen.config import GanConfig
from segen.data.gan import GanDataInfo, open_gan_dataset, parse_id_range
from segen.models import model_entry

DIFFAUGMENT_ALL = ("color", "translation", "cutout")
SMALL_DATASET = 5000


def resolve_diffaugment(ops: list[str], conditioning: str, num_images: int) -> tuple[str, ...]:
    """The DiffAugment ops to use: "auto" = all ops for noise-driven GANs (not image-to-image) on small datasets."""
    if not ops or ops == ["none"]:
        return ()
    if ops == ["auto"]:
        return DIFFAUGMENT_ALL if conditioning != "image" and num_images < SMALL_DATASET else ()
    return tuple(op for op in ops if op not in ("auto", "none"))


@dataclass
class GanData:
    """The training set, optional validation inputs (pix2pix) and what the model needs to know."""

    train: Dataset[Any]
    info: GanDataInfo
    val: Dataset[Any] | None


def load_gan_data(cfg: GanConfig) -> GanData:
    """Open the training data (and pix2pix validation ids) as configured."""
    kind = str(model_entry(cfg.model.name, "gan").conditioning)
    d = cfg.data
    ids = parse_id_range(d.ids) if d.ids else None
    train, info = open_gan_dataset(d.root, kind, d.image_size, d.channels, split="train", direction=d.direction,
                                   jitter=d.jitter and kind == "image", ids=ids)
    val = None
    if kind == "image" and d.val_ids:
        val, _ = open_gan_dataset(d.root, kind, info.image_size, info.channels, split="train",
                                  direction=d.direction, jitter=False, ids=parse_id_range(d.val_ids))
    return GanData(train, info, val)
