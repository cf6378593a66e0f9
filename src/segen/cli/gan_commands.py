"""`segen gan train|sample|evaluate`: thin commands over segen's GAN training, sampling and evaluation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from segen.cli.options import (
    DEVICES,
    NON_NEGATIVE_FLOAT,
    POSITIVE_FLOAT,
    POSITIVE_INT,
    SEED,
    check_output_folder,
    run_training,
    training_options,
)
from segen.cli.report_commands import no_report_option, report_after_training
from segen.config import GAN_LOSSES, GanConfig
from segen.errors import ConfigError
from segen.runtime import write_atomic

METRICS = ("fid", "kid", "fcn")
#: The most images one `gan sample` writes (its latent vectors are drawn at once).
MAX_SAMPLES = 1_000_000


@click.group("gan")
def gan() -> None:
    """Generation: train GANs (dcgan, cgan, pix2pix), sample from them, evaluate them."""


@gan.command("train")
@click.option("--model", help="Registered GAN: dcgan (default), cgan or pix2pix.")
@click.option("--data", "data_root", type=click.Path(), help="Images: a folder, class sub-folders, IDX files, or "
              "pairs (side-by-side A|B images or A/ and B/ folders).")
@click.option("--loss", type=click.Choice(GAN_LOSSES), help="Adversarial loss (default non-saturating).")
@click.option("--image-size", type=(click.IntRange(8, 1024), click.IntRange(8, 1024)), metavar="H W",
              help="Image size (default: the data's own).")
@click.option("--channels", type=click.Choice(["1", "3"]), help="Image channels (default: the data's).")
@click.option("--direction", type=click.Choice(["AtoB", "BtoA"]), help="pix2pix: which half is the input.")
@click.option("--ids", help="Paired data: train on these numeric file stems only, e.g. 1-350.")
@click.option("--val-ids", help="Paired data: fixed validation inputs (sample grid, val L1), e.g. 351-400.")
@click.option("--g-lr", type=POSITIVE_FLOAT, help="Generator learning rate (default 2e-4).")
@click.option("--d-lr", type=POSITIVE_FLOAT, help="Discriminator learning rate (default 2e-4).")
@click.option("--r1-gamma", type=NON_NEGATIVE_FLOAT, help="R1 penalty weight on real images (default 0).")
@click.option("--diffaugment", help="DiffAugment ops: color,translation,cutout | none | auto (default).")
@click.option("--sample-every", type=POSITIVE_INT, help="Write a sample grid every N steps (default 500).")
@no_report_option
@training_options
def gan_train(model: str | None, data_root: str | None, loss: str | None, image_size: tuple[int, int] | None,
              channels: str | None, direction: str | None, ids: str | None, val_ids: str | None,
              g_lr: float | None, d_lr: float | None, r1_gamma: float | None, diffaugment: str | None,
              sample_every: int | None, no_report: bool, **shared: Any) -> None:
    """Train a GAN: a generator and a discriminator against each other; write the run's report.html when it
    ends (unless --no-report)."""
    flags = {
        "model": {"name": model},
        "data": {"root": data_root, "image_size": list(image_size) if image_size else None,
                 "channels": int(channels) if channels else None, "direction": direction, "ids": ids,
                 "val_ids": val_ids, "diffaugment": diffaugment},
        "optim": {"g_lr": g_lr, "d_lr": d_lr, "r1_gamma": r1_gamma},
        "loss": loss,
        "sample_every": sample_every,
    }
    report_after_training(run_training(GanConfig, flags, shared), no_report, shared["device"], shared["quiet"])


@gan.command("sample")
@click.option("--checkpoint", required=True, type=click.Path(), help="A GAN checkpoint (.pt).")
@click.option("--out", required=True, type=click.Path(), help="Output folder (PNG files); existing files are not "
              "replaced unless --overwrite.")
@click.option("--overwrite", is_flag=True, help="Replace outputs of the same names in --out (an input never).")
@click.option("--num", type=click.IntRange(1, MAX_SAMPLES), default=64, show_default=True, help="Number of samples.")
@click.option("--seed", type=SEED, default=0, show_default=True)
@click.option("--grid", is_flag=True, help="Also write all samples as one grid.png.")
@click.option("--class", "class_id", type=click.IntRange(min=0), help="cgan: sample this class only.")
@click.option("--input", "source", type=click.Path(), help="pix2pix: an input image or a folder of them.")
@click.option("--device", type=DEVICES, default="auto", show_default=True)
def gan_sample(checkpoint: str, out: str, overwrite: bool, num: int, seed: int, grid: bool, class_id: int | None,
               source: str | None, device: str) -> None:
    """Generate images from a trained GAN (or translate inputs with pix2pix)."""
    from segen.inference.generator import Generator, save_grid, save_images
    from segen.inference.predict import check_outputs
    from segen.runtime import resolve_device

    extra = ["grid.png"] if grid else []
    inputs = check_outputs(source, out) if source is not None else None
    check_output_folder(out, "--out", [f"{p.stem}.png" for p in inputs] + extra if inputs and not overwrite else None)
    generator = Generator.from_checkpoint(checkpoint, resolve_device(device))
    if inputs is not None:
        written = _translate_inputs(generator, inputs, Path(out), grid)
        click.echo(f"wrote {written} image(s) to {out}")
        return
    if generator.info.conditioning == "image":
        raise ConfigError("a pix2pix checkpoint translates images: give --input FILE_OR_DIR")
    check_output_folder(out, "--out", None if overwrite else [f"{i:05d}.png" for i in range(num)] + extra)
    kept = []
    for start, images in generator.sample_batches(num, seed=seed, labels=class_id):
        save_images(images, out, start=start)
        kept += [images] if grid else []
    if grid:
        import torch

        save_grid(torch.cat(kept), Path(out) / "grid.png")
    click.echo(f"wrote {num} sample(s) to {out}")


def _translate_inputs(generator: Any, inputs: list[Path], out: Path, grid: bool) -> int:
    import torch

    from segen.inference.generator import as_hwc, save_grid
    from segen.reports.grid import save_png

    outputs = []
    for path in inputs:
        image = generator.translate_file(path)
        save_png(as_hwc(image), out / f"{path.stem}.png")
        outputs.append(image)
    if grid and len({tuple(o.shape) for o in outputs}) == 1:
        save_grid(torch.stack(outputs), out / "grid.png")
    return len(outputs)


@gan.command("evaluate")
@click.option("--checkpoint", type=click.Path(), help="A GAN checkpoint (.pt).")
@click.option("--samples", type=click.Path(), help="Score a folder of generated images instead of a checkpoint.")
@click.option("--data", "data_root", required=True, type=click.Path(), help="Reference images (for pix2pix: pairs).")
@click.option("--split", default="test", show_default=True, help="IDX data: the split used as reference.")
@click.option("--metrics", "metric_names", default="fid,kid", show_default=True,
              help="Comma-separated: fid, kid, fcn (FCN-score, pix2pix).")
@click.option("--num", type=POSITIVE_INT, default=10000, show_default=True, help="Generated images to score.")
@click.option("--features", type=click.Path(), help="TorchScript feature network for FID/KID (instead of "
              "Inception-v3). A TorchScript file is code that runs when loaded: only use feature networks you trust.")
@click.option("--inception-weights", type=click.Path(), help="Local Inception-v3 FID weights file "
              "(weights-inception-2015-12-05-6726825d.pth); its SHA-256 is checked and it is read as tensors only.")
@click.option("--allow-few-images", is_flag=True, help="Score FID/KID even with fewer real or generated images "
              "than they need (FID: more than the network's feature size, at least 2049 for Inception; KID: at least "
              "100); the figures are marked \"reliable\": false. Without it such runs are refused.")
@click.option("--segmenter", type=click.Path(), help="FCN-score: a segen segmentation checkpoint (photo -> labels).")
@click.option("--direction", type=click.Choice(["AtoB", "BtoA"]), help="pix2pix data: which half is the input.")
@click.option("--ids", help="Paired data: evaluate on these numeric file stems, e.g. 351-400.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--json", "json_out", type=click.Path(), help="Write the scores as JSON here; as RUNDIR/eval*.json "
              "(e.g. runs/g/eval.json) `segen report RUNDIR` shows them.")
@click.option("--device", type=DEVICES, default="auto", show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bar; print the scores as one JSON line.")
def gan_evaluate(checkpoint: str | None, samples: str | None, data_root: str, split: str, metric_names: str,
                 num: int, features: str | None, inception_weights: str | None, segmenter: str | None,
                 direction: str | None, ids: str | None, seed: int, json_out: str | None, device: str,
                 quiet: bool, allow_few_images: bool) -> None:
    """Score a generator: FID / KID against real images, FCN-score for label -> photo.

    FID needs more real and generated images than features (at least 2049 each for Inception-v3), KID 100 of
    each; fewer are refused unless --allow-few-images. Under torchrun the ranks share the images and rank 0
    reports the scores (the same as one process's).
    """
    from segen.inference.gan_eval import EvalRequest, evaluate_gan, format_gan_scores
    from segen.runtime import resolve_device, start_group

    names = [m.strip() for m in metric_names.split(",") if m.strip()]
    unknown = [m for m in names if m not in METRICS]
    if unknown or not names:
        raise ConfigError(f"--metrics: unknown {', '.join(unknown) or '(none given)'}; valid: {', '.join(METRICS)}")
    if (checkpoint is None) == (samples is None):
        raise ConfigError("give exactly one of --checkpoint CKPT or --samples DIR")
    request = EvalRequest(checkpoint=checkpoint, samples=samples, data=data_root, split=split, metrics=tuple(names),
                          num=num, features=features, inception_weights=inception_weights, segmenter=segmenter,
                          direction=direction, ids=ids, seed=seed, allow_few_images=allow_few_images)
    group = start_group(resolve_device(device))
    try:
        scores = evaluate_gan(request, group.device, progress=not quiet, group=group)
    finally:
        group.close()
    if not group.is_main:
        return
    click.echo(json.dumps(scores) if quiet else format_gan_scores(scores))
    if json_out:
        path = Path(json_out)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(scores, indent=2))
