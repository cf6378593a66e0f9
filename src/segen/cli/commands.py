"""The command tree: `segen seg train|predict|evaluate` and `segen demo`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from segen.cli.options import (
    DEVICES,
    LOSS_SPEC,
    NON_NEGATIVE_FLOAT,
    POSITIVE_FLOAT,
    POSITIVE_INT,
    SEED,
    check_output_file,
    check_output_folder,
    prediction_options,
    run_training,
    training_options,
)
from segen.cli.report_commands import no_report_option, report_after_training
from segen.config import SegConfig
from segen.data.io import DEFAULT_MAX_PIXELS
from segen.inference.tiling import Tiling
from segen.runtime import write_atomic


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="segen")
def cli() -> None:
    """segen: image segmentation (U-Net) and generation (GANs) with PyTorch."""


@cli.group()
def seg() -> None:
    """Segmentation: train, predict, evaluate."""


@seg.command("train")
@click.option("--data", "data_root", type=click.Path(), help="Dataset root.")
@click.option("--format", "data_format", help="Dataset format (default auto: detected; see `segen data formats`).")
@click.option("--model", help="Registered model name (default unet-small; see `segen models`).")
@click.option("--encoder", help="Encoder: double (default), residual, or a timm model such as resnet34 or "
              "tf_efficientnet_lite0 (see `segen models --encoders`).")
@click.option("--encoder-weights", metavar="FILE|imagenet", help="Pretrained encoder weights: a safetensors or "
              "weights-only .pt file, or imagenet (timm's, from the local Hugging Face cache; downloaded when online).")
@click.option("--freeze-encoder", metavar="PERIOD", help="Keep a pretrained encoder fixed at first: 2epochs, "
              "500steps, 5m, or off (the default).")
@click.option("--deep-supervision/--no-deep-supervision", default=None, help="UNet++: train a head on every "
              "top-row node (the mean of their losses; on by default) or only the last.")
@click.option("--image-size", type=(POSITIVE_INT, POSITIVE_INT), metavar="H W", help="Training crop size.")
@click.option("--lr", type=POSITIVE_FLOAT, help="Peak learning rate (AdamW).")
@click.option("--loss", type=LOSS_SPEC, help="Loss: auto (bce+dice for binary data, ce+dice otherwise) or a "
              "weighted sum of terms such as ce+0.5*lovasz; terms: ce, bce, dice, jaccard, focal, tversky, lovasz, "
              "lovasz-hinge.")
@click.option("--class-weights", type=click.Path(), help="Class weights for the loss terms (all but lovasz-hinge; "
              "YAML from `segen data stats --write-weights`).")
@no_report_option
@training_options
def seg_train(data_root: str | None, data_format: str | None, model: str | None, encoder: str | None,
              encoder_weights: str | None, freeze_encoder: str | None, deep_supervision: bool | None,
              image_size: tuple[int, int] | None, lr: float | None, loss: str | None, class_weights: str | None,
              no_report: bool, **shared: Any) -> None:
    """Train a segmentation model; write the run's report.html when it ends (unless --no-report)."""
    flags = {
        "model": {"name": model, "encoder": encoder, "encoder_weights": encoder_weights,
                  "deep_supervision": deep_supervision},
        "data": {"root": data_root, "format": data_format, "image_size": list(image_size) if image_size else None},
        "optim": {"lr": lr, "freeze_encoder": freeze_encoder},
        "loss": loss,
        "class_weights": class_weights,
    }
    report_after_training(run_training(SegConfig, flags, shared), no_report, shared["device"], shared["quiet"])


@seg.command("predict")
@click.option("--checkpoint", "checkpoints", required=True, multiple=True, type=click.Path(),
              help="A segmentation checkpoint (.pt) or a model from `segen export` (.onnx, run by onnxruntime); "
              "given several times, an ensemble: their mean probabilities.")
@click.option("--input", "source", required=True, type=click.Path(), help="An image file or a folder of images.")
@click.option("--out", required=True, type=click.Path(), help="Output folder; existing files are not replaced "
              "unless --overwrite.")
@click.option("--overwrite", is_flag=True, help="Replace outputs of the same names in --out (an input never).")
@click.option("--overlay", is_flag=True, help="Also write colour overlays (<stem>_overlay.png).")
@click.option("--probabilities", is_flag=True, help="Also write class probabilities (<stem>_prob.npy).")
@click.option("--prune", type=POSITIVE_INT, metavar="K", help="UNet++ with deep supervision: use head K (1 = the "
              "shallowest, fastest) instead of the last.")
@click.option("--max-pixels", type=POSITIVE_INT, default=DEFAULT_MAX_PIXELS, show_default=True,
              help="Refuse input images with more pixels than this (read from the file header).")
@click.option("--device", type=DEVICES, default="auto", show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@prediction_options
def seg_predict(checkpoints: tuple[str, ...], source: str, out: str, overwrite: bool, overlay: bool,
                probabilities: bool, prune: int | None, max_pixels: int, device: str, quiet: bool, tta: str,
                precision: str, compile_model: bool, tiling: Tiling | None) -> None:
    """Predict masks (paletted PNG at each input's size) for images; never replaces an input."""
    from segen.inference import Ensemble, predict_files
    from segen.inference.predict import plan_outputs
    from segen.runtime import resolve_device

    _, _, names = plan_outputs(source, out, overlay, probabilities, max_pixels, tiling)
    check_output_folder(out, "--out", None if overwrite else names)
    segmenter = Ensemble.from_checkpoints(checkpoints, resolve_device(device), max_pixels, prune, tta,
                                          precision=precision, compile=compile_model)
    written = predict_files(segmenter, source, out, overlay, probabilities, progress=not quiet, tiling=tiling)
    click.echo(f"wrote {len(written)} mask(s) to {out}")


@seg.command("evaluate")
@click.option("--checkpoint", "checkpoints", required=True, multiple=True, type=click.Path(),
              help="A segmentation checkpoint (.pt) or a model from `segen export` (.onnx, run by onnxruntime); "
              "given several times, an ensemble: their mean probabilities.")
@click.option("--data", "data_root", required=True, type=click.Path(), help="Dataset root.")
@click.option("--format", "data_format", default="auto", show_default=True, help="Dataset format.")
@click.option("--split", default="test", show_default=True, help="Split to evaluate (train, val, test).")
@click.option("--json", "json_out", type=click.Path(), help="Write the scores as JSON here, with each image's "
              "scores (per_image) to find the worst images.")
@click.option("--spacing", type=(POSITIVE_FLOAT, POSITIVE_FLOAT), metavar="SY SX", help="Pixel size (rows, "
              "columns), e.g. in mm: HD95 and ASSD in these units instead of pixels.")
@click.option("--boundary-tolerance", type=NON_NEGATIVE_FLOAT, default=2.0, show_default=True,
              metavar="PIXELS", help="Boundary F1 counts a boundary pixel as matched within this distance of the "
              "other mask's boundary.")
@click.option("--prune", type=POSITIVE_INT, metavar="K", help="UNet++ with deep supervision: use head K (1 = the "
              "shallowest, fastest) instead of the last.")
@click.option("--batch-size", type=POSITIVE_INT, default=4, show_default=True)
@click.option("--max-pixels", type=POSITIVE_INT, default=DEFAULT_MAX_PIXELS, show_default=True,
              help="Refuse images with more pixels than this (read from the file headers).")
@click.option("--device", type=DEVICES, default="auto", show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@prediction_options
def seg_evaluate(checkpoints: tuple[str, ...], data_root: str, data_format: str, split: str, json_out: str | None,
                 spacing: tuple[float, float] | None, boundary_tolerance: float, prune: int | None, batch_size: int,
                 max_pixels: int, device: str, quiet: bool, tta: str, precision: str, compile_model: bool,
                 tiling: Tiling | None) -> None:
    """Score a checkpoint on a labelled split: per-class IoU, Dice, precision, recall, HD95, ASSD, boundary F1."""
    from segen.inference import Ensemble, evaluate_segmentation, format_scores
    from segen.runtime import resolve_device

    if json_out:
        check_output_file(json_out, "--json")
    segmenter = Ensemble.from_checkpoints(checkpoints, resolve_device(device), max_pixels, prune, tta,
                                          precision=precision, compile=compile_model)
    scores = evaluate_segmentation(segmenter, data_root, split, batch_size, progress=not quiet, format=data_format,
                                   spacing=spacing, boundary_tolerance=boundary_tolerance, tiling=tiling)
    click.echo(format_scores(scores))
    if json_out:
        path = Path(json_out)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(scores, indent=2))
        click.echo(f"wrote {path}")


@cli.command("models")
@click.option("--encoders", is_flag=True, help="List the encoders a segmentation model can take instead.")
def models(encoders: bool) -> None:
    """List the registered models (segmentation and GAN) or, with --encoders, the encoders."""
    from segen.models import describe_encoders, describe_models

    click.echo(describe_encoders() if encoders else describe_models())


@cli.command("demo")
@click.option("--out", default="segen-demo", show_default=True, type=click.Path(), help="Demo folder.")
@click.option("--minutes", type=POSITIVE_FLOAT, default=3.5, show_default=True,
              help="Upper bound on the U-Net training time (the GAN gets a quarter of it).")
@click.option("--seed", type=SEED, default=0, show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bars.")
def demo(out: str, minutes: float, seed: int, quiet: bool) -> None:
    """Train, evaluate and predict on built-in synthetic data; write an HTML report. No network needed."""
    from segen.demo import run_demo

    report = run_demo(out, minutes=minutes, seed=seed, progress=not quiet)
    click.echo(f"report: {report.resolve()}")


def _register_subgroups() -> None:
    from segen.cli.data_commands import data
    from segen.cli.export_commands import export
    from segen.cli.gan_commands import gan
    from segen.cli.report_commands import report
    from segen.cli.serve_commands import serve

    cli.add_command(serve)
    cli.add_command(data)
    cli.add_command(gan)
    cli.add_command(export)
    cli.add_command(report)


_register_subgroups()
