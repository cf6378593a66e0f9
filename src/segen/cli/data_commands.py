"""`segen data ...`: formats, convert, check, stats, preview and download."""

from __future__ import annotations

from pathlib import Path

import click

from segen.cli.options import POSITIVE_FLOAT, SEED, check_output_file, check_output_folder
from segen.errors import DataError

#: The most rows `data preview` draws (each row is one augmented sample and its overlay).
MAX_PREVIEW_ROWS = 100


@click.group("data")
def data() -> None:
    """Datasets: list formats, convert, check, statistics, augmentation preview, download."""


@data.command("formats")
def formats() -> None:
    """List the dataset formats segen reads."""
    from segen.data.seg.formats import list_formats

    for name in list_formats():
        click.echo(name)


@data.command("convert")
@click.option("--from", "fmt", required=True, help="Source format (or auto).")
@click.argument("src", type=click.Path())
@click.option("--to", "dst", required=True, type=click.Path(), help="Destination folder (folder format).")
@click.option("--resize", type=(click.IntRange(min=8), click.IntRange(min=8)), metavar="H W",
              help="Resize images (bilinear) and masks (nearest) to H x W.")
@click.option("--ignore-index", type=click.IntRange(0, 255), default=255, show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def convert(fmt: str, src: str, dst: str, resize: tuple[int, int] | None, ignore_index: int, quiet: bool) -> None:
    """Convert a dataset to segen's folder format (optionally resized)."""
    from segen.data.seg.convert import convert_dataset

    out = convert_dataset(fmt, Path(src), Path(dst), resize, ignore_index, progress=not quiet)
    click.echo(f"wrote {out}")


@data.command("check")
@click.argument("root", type=click.Path())
@click.option("--format", "fmt", default="auto", show_default=True, help="Dataset format.")
@click.option("--ignore-index", type=click.IntRange(0, 255), default=255, show_default=True)
@click.option("--strict", is_flag=True, help="Exit 1 on warnings too.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def check(root: str, fmt: str, ignore_index: int, strict: bool, quiet: bool) -> None:
    """List every problem of a dataset with its file.

    Exit status: 0 when there is no error (warnings, such as mixed greyscale and colour images, are
    listed but do not count), 1 when there is at least one error; with --strict, warnings too give 1.
    """
    from segen.data.seg.check import check_dataset, format_problems

    report = check_dataset(Path(root), fmt, ignore_index, progress=not quiet)
    click.echo(format_problems(report))
    if report.errors or (strict and report):
        raise SystemExit(1)


@data.command("stats")
@click.argument("root", type=click.Path())
@click.option("--format", "fmt", default="auto", show_default=True, help="Dataset format.")
@click.option("--ignore-index", type=click.IntRange(0, 255), default=255, show_default=True)
@click.option("--max-images", type=click.IntRange(min=1), help="Images used for mean/std (default all).")
@click.option("--write-weights", type=click.Path(), help="Write suggested class weights (YAML) for --class-weights.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def stats(root: str, fmt: str, ignore_index: int, max_images: int | None, write_weights: str | None,
          quiet: bool) -> None:
    """Per-class pixel shares, image counts, mean/std and suggested class weights."""
    from segen.data.seg.stats import dataset_stats, format_stats, save_class_weights

    if write_weights:
        check_output_file(write_weights, "--write-weights")
    result = dataset_stats(Path(root), fmt, ignore_index, max_images, progress=not quiet)
    click.echo(format_stats(result))
    if write_weights:
        save_class_weights(result, Path(write_weights))
        click.echo(f"wrote {write_weights} (train with --class-weights {write_weights})")


@data.command("download")
@click.argument("name")
@click.option("--root", type=click.Path(), help="Folder to download and extract into (not needed for `list`).")
@click.option("--deadline", type=POSITIVE_FLOAT, metavar="SECONDS",
              help="Most seconds one file may take  [default: 10 min, or more for big files at 100 KiB/s].")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def download(name: str, root: str | None, deadline: float | None, quiet: bool) -> None:
    """Download a public dataset (checksummed, resumable) and extract it; NAME `list` lists the datasets."""
    from segen.data.seg.download import download_dataset, get_source, list_datasets, manual_instructions

    if name == "list":
        for known in list_datasets():
            click.echo(known)
        return
    get_source(name)  # an unknown name fails first, with the valid ones
    if root is None:
        raise click.UsageError(f"--root is required to download {name!r} (the folder to download into)")
    check_output_folder(root, "--root")
    try:
        path = download_dataset(name, Path(root), progress=not quiet, deadline=deadline)
    except DataError as exc:
        if exc.kind == "manual":  # the steps to follow, before the one-line error
            click.echo(manual_instructions(name, Path(root)), err=True)
        raise
    click.echo(f"ready: {path}")


@data.command("preview")
@click.argument("root", type=click.Path())
@click.option("--out", required=True, type=click.Path(), help="PNG file to write.")
@click.option("--format", "fmt", default="auto", show_default=True, help="Dataset format.")
@click.option("--config", "config_file", type=click.Path(), help="YAML config whose data section is used.")
@click.option("--samples", type=click.IntRange(1, MAX_PREVIEW_ROWS), default=6, show_default=True,
              help="Rows (images).")
@click.option("--seed", type=SEED, default=0, show_default=True)
def preview(root: str, out: str, fmt: str, config_file: str | None, samples: int, seed: int) -> None:
    """Write a grid of augmented training samples with their mask overlays."""
    from segen.config import DataConfig, from_dict, load_yaml, merge
    from segen.training.preview import preview_augmentations

    source = f"{config_file}.data" if config_file else "data"
    base = (load_yaml(config_file).get("data") or {}) if config_file else {}
    from_dict(DataConfig, base, source)  # the file's own keys and types, named after it
    cfg = from_dict(DataConfig, merge(base, {"root": root, "format": fmt}), source)
    check_output_file(out, "--out")
    cfg.validate()
    path = preview_augmentations(cfg, out, samples=samples, seed=seed)
    click.echo(f"wrote {path}")
