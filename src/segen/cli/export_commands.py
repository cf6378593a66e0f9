"""`segen export`: a checkpoint's model as ONNX or TorchScript, checked against PyTorch before it is written."""

from __future__ import annotations

from pathlib import Path

import click

from segen.cli.options import FiniteFloatRange
from segen.errors import ConfigError
from segen.export import DEFAULT_TOLERANCE, FORMATS, export_checkpoint


@click.command("export")
@click.option("--checkpoint", required=True, type=click.Path(), help="A segmentation or GAN checkpoint (.pt).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="onnx", show_default=True)
@click.option("--out", required=True, type=click.Path(), help="The file to write (.onnx, .ts).")
@click.option("--tolerance", type=FiniteFloatRange(0, None), default=DEFAULT_TOLERANCE, show_default=True,
              help="Largest absolute difference from PyTorch (logits, or images in [0, 1]) accepted on the "
              "parity inputs.")
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
def export(checkpoint: str, fmt: str, out: str, tolerance: float, overwrite: bool) -> None:
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
    report = export_checkpoint(checkpoint, target, fmt, tolerance)
    for check in report.checks:
        labels = "" if check.label_agreement is None else f", class ids equal on {check.label_agreement:.4%}"
        click.echo(f"parity {'x'.join(map(str, check.shape))}: max abs difference {check.max_abs_diff:.2e}{labels}")
    click.echo(f"wrote {target} ({fmt}, {target.stat().st_size / 2**20:.1f} MiB; max abs difference "
               f"{report.max_abs_diff:.2e} <= {tolerance:g})")
