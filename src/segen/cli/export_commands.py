"""`segen export`: a checkpoint's model as ONNX or TorchScript, checked against PyTorch before it is written."""

from __future__ import annotations

from pathlib import Path

import click

from segen.cli.options import POSITIVE_INT, FiniteFloatRange
from segen.errors import ConfigError
from segen.export import (
    DEFAULT_CALIBRATION_IMAGES,
    DEFAULT_MAX_DROP,
    DEFAULT_TOLERANCE,
    FORMATS,
    Int8Settings,
    ParityCheck,
    QuantizationReport,
    export_checkpoint,
)


@click.command("export")
@click.option("--checkpoint", required=True, type=click.Path(), help="A segmentation or GAN checkpoint (.pt).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="onnx", show_default=True)
@click.option("--out", required=True, type=click.Path(), help="The file to write (.onnx, .ts).")
@click.option("--tolerance", type=FiniteFloatRange(0, None), default=DEFAULT_TOLERANCE, show_default=True,
              help="Largest absolute difference from PyTorch (logits, or images in [0, 1]) accepted on the "
              "parity inputs.")
@click.option("--quantize", type=click.Choice(["int8"]), help="Write an int8 ONNX model (onnxruntime static "
              "quantisation, QDQ, per-channel weights) calibrated on --calibration images.")
@click.option("--calibration", type=click.Path(), help="Folder of calibration images (e.g. the training images).")
@click.option("--calibration-images", type=POSITIVE_INT, default=DEFAULT_CALIBRATION_IMAGES, show_default=True,
              help="How many of them to use (spread over the folder).")
@click.option("--validate", type=click.Path(), help="Labelled dataset root: mean IoU of the fp32 and int8 models "
              "on --split, and a warning when int8 loses more than --max-drop.")
@click.option("--split", default="val", show_default=True, help="Split of --validate to score.")
@click.option("--max-drop", type=FiniteFloatRange(0, 1), default=DEFAULT_MAX_DROP, show_default=True,
              help="Largest mean IoU loss of int8 accepted without a warning.")
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
def export(checkpoint: str, fmt: str, out: str, tolerance: float, quantize: str | None, calibration: str | None,
           calibration_images: int, validate: str | None, split: str, max_drop: float, overwrite: bool) -> None:
    """Export a model; the written file takes pixel values (uint8) and any batch, height and width.

    Segmentation graphs return logits and class ids, generators images in [0, 1]; class names, palette,
    input spec and segen version are in the file's metadata. Parity with PyTorch is checked on odd sizes
    first (the largest difference is printed), and nothing is written when it exceeds --tolerance.
    """
    target = Path(out)
    if target.resolve() == Path(checkpoint).resolve():
        raise ConfigError(f"{out}: --out is the checkpoint itself; choose another file")
    if target.exists() and not overwrite:
        raise ConfigError(f"{out}: already exists (--overwrite to replace it)", kind="exists")
    if quantize and not calibration:
        raise ConfigError("--quantize int8 needs --calibration DIR (images like the training data)")
    int8 = None if not quantize else Int8Settings(Path(str(calibration)), calibration_images,
                                                  Path(validate) if validate else None, split, max_drop)
    report = export_checkpoint(checkpoint, target, fmt, tolerance, int8)
    _print_checks("parity", report.checks)
    if report.quantization is not None:
        _print_checks("int8", report.int8_checks)
        _print_quantization(report.quantization, max_drop)
    click.echo(f"wrote {target} ({fmt}, {target.stat().st_size / 2**20:.1f} MiB; max abs difference "
               f"{report.max_abs_diff:.2e} <= {tolerance:g})")


def _print_checks(label: str, checks: list[ParityCheck]) -> None:
    for check in checks:
        ids = "" if check.label_agreement is None else f", class ids equal on {check.label_agreement:.4%}"
        click.echo(f"{label} {'x'.join(map(str, check.shape))}: max abs difference {check.max_abs_diff:.2e}{ids}")


def _print_quantization(q: QuantizationReport, max_drop: float) -> None:
    click.echo(f"int8: calibrated on {q.calibration_images} images")
    if q.fp32_mean_iou is None or q.int8_mean_iou is None or q.drop is None:
        return
    click.echo(f"int8: mean IoU on {q.split} {q.int8_mean_iou:.4f} (fp32 {q.fp32_mean_iou:.4f}, drop {q.drop:+.4f})")
    if q.drop > max_drop:
        click.echo(f"warning: int8 loses {q.drop:.4f} mean IoU on {q.split}, more than --max-drop {max_drop:g}",
                   err=True)
