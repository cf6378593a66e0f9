"""Value types and output checks shared by the commands: ranges are checked before any work starts."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from segen.config import PRECISIONS, GanConfig, SegConfig, load_yaml, merge, to_yaml
from segen.errors import ConfigError
from segen.inference.tiling import DEFAULT_OVERLAP, DEFAULT_TILE_ABOVE, Tiling
from segen.inference.tta import TTA_MODES
from segen.runtime import process_info

#: Seeds go to Python, NumPy and torch generators; torch takes at most 64 bits.
MAX_SEED = 2**63 - 1


class FiniteFloatRange(click.FloatRange):
    """A FloatRange that also refuses nan and inf (which no range comparison catches)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


POSITIVE_INT = click.IntRange(min=1)
POSITIVE_FLOAT = FiniteFloatRange(min=0, min_open=True)
NON_NEGATIVE_FLOAT = FiniteFloatRange(min=0)
SEED = click.IntRange(0, MAX_SEED)
DEVICES = click.Choice(["auto", "cpu", "cuda", "mps"])


class LossSpecType(click.ParamType):
    """A loss spec: auto or a weighted sum of terms, checked by `segen.losses.check_loss_spec`."""

    name = "spec"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from segen.losses import check_loss_spec

        try:
            check_loss_spec(value)
        except ConfigError as err:
            self.fail(str(err), param, ctx)
        return value


LOSS_SPEC = LossSpecType()


def check_output_file(path: str | Path, flag: str) -> Path:
    """`path` as a file to write: refused (ConfigError naming it) when it is a folder or lies under a file."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: {flag} is a folder; give a file name", path=path)
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"{parent}: {flag} {path} lies under this file, which is not a folder", path=parent)
            break
    return path


def check_output_folder(path: str | Path, flag: str, names: list[str] | None = None) -> Path:
    """`path` as a folder to write `names` into: refused when it is a file, lies under a file, or already holds
    one of `names` (segen never replaces a file it did not write in this run)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{path}: {flag} is a file, not a folder", path=path)
    check_output_file(path / "_", flag)
    for name in names or []:
        if (path / name).exists():
            raise ConfigError(f"{path / name}: already exists; segen does not replace files in {flag}: choose a new "
                              f"or empty {flag} folder", kind="exists", path=path / name)
    return path


def base_config(config_file: str | None, out: str | None, resume: bool) -> tuple[dict[str, Any], str]:
    """The settings a run starts from, and the file they came from: the YAML file given, the run's own
    config.yaml when resuming without one, else none."""
    if config_file:
        return load_yaml(config_file), config_file
    if not resume:
        return {}, "config"
    if not out:
        raise ConfigError("--resume needs --out RUNDIR")
    saved = Path(out) / "config.yaml"
    if not saved.is_file():
        raise ConfigError(f"{saved}: nothing to resume (no config.yaml in {out})")
    return load_yaml(saved), str(saved)


#: The options every `train` command shares: run folder, budget, machine, checkpoints, resume and config.
_TRAINING_OPTIONS = (
    click.option("--out", type=click.Path(), help="Run folder (config, metrics, checkpoints, samples)."),
    click.option("--epochs", type=POSITIVE_INT, help="Epochs (default 50; unbounded with --max-time alone)."),
    click.option("--max-time", type=POSITIVE_FLOAT, metavar="MINUTES", help="Wall-clock budget in minutes."),
    click.option("--batch-size", type=POSITIVE_INT, help="Batch size (default 4; 64 for dcgan and cgan)."),
    click.option("--device", type=DEVICES, help="Device (default auto)."),
    click.option("--precision", type=click.Choice(PRECISIONS), help="auto (default) = mixed bf16/fp16 on CUDA, "
                 "fp32 on CPU; bf16 on a CPU with AMX or AVX512-BF16 trains 2-3x faster."),
    click.option("--seed", type=SEED, help="Random seed."),
    click.option("--workers", type=click.IntRange(min=0), help="DataLoader worker processes."),
    click.option("--checkpoint-every", metavar="PERIOD", help="Also save last.pt every PERIOD of training: 10m "
                 "(the default), 90s, 1h, 500steps, or off."),
    click.option("--accumulate", type=POSITIVE_INT, help="Split each process's share of a batch into this many "
                 "micro-batches, gradients accumulated: the same update in less memory (default 1)."),
    click.option("--sync-bn", is_flag=True, default=None, help="Distributed runs on CUDA: BatchNorm statistics "
                 "over the global batch (SyncBatchNorm) instead of each process's share."),
    click.option("--compile", is_flag=True, default=None, help="Train through torch.compile: faster steps after "
                 "the first ones compile (needs a C++ compiler on CPUs; a GAN's discriminator stays eager under R1 "
                 "or WGAN-GP, whose double backward torch.compile lacks)."),
    click.option("--tensorboard", is_flag=True, default=None, help="Also log losses, learning rates, validation "
                 "metrics, images and the config to RUN/tensorboard/ (needs the tensorboard extra)."),
    click.option("--nproc", type=POSITIVE_INT, help="Run as this many torchrun processes on this machine (gloo on "
                 "CPUs, NCCL on GPUs; --batch-size stays the global batch). Several machines: launch with torchrun."),
    click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint, with the run's "
                 "own settings (only the budget and the machine may change)."),
    click.option("--config", "config_file", type=click.Path(), help="YAML config; flags override it."),
    click.option("--dry-run", is_flag=True, help="Print the resolved config and stop."),
    click.option("--quiet", is_flag=True, help="No progress bar."),
)
_TRAIN_KEYS = ("out", "epochs", "max_time", "batch_size", "device", "precision", "seed", "checkpoint_every",
               "accumulate", "sync_bn", "compile", "tensorboard")

CommandT = TypeVar("CommandT", bound=Callable[..., Any])


def training_options(command: CommandT) -> CommandT:
    """Add the options every `train` command shares; the command passes them on to `run_training`."""
    for option in reversed(_TRAINING_OPTIONS):
        command = option(command)
    return command


def resolve_config(kind: type[SegConfig] | type[GanConfig], config_file: str | None, flags: dict[str, Any],
                   resume: bool, family: str) -> SegConfig | GanConfig:
    """Defaults <- YAML file (or the run's own config.yaml when resuming) <- flags; then the model's options
    are checked by the registry. All before any data is read."""
    from segen.models import check_model_options

    base, source = base_config(config_file, flags["train"].get("out"), resume)
    kind.from_dict(base, source)  # the file's own keys and types, named after it
    cfg = kind.from_dict(merge(base, flags), config_file or "config").validate()
    check_model_options(cfg.model.name, family, cfg.model.overrides())
    if isinstance(cfg, SegConfig):
        from segen.losses import check_loss_spec

        check_loss_spec(cfg.loss)
    return cfg


def print_config(cfg: SegConfig | GanConfig) -> None:
    """`--dry-run`: the resolved config as YAML."""
    click.echo(to_yaml(cfg.to_dict()).rstrip())


def stop_if_interrupted(interrupted: bool, state: Any, command: str, out: str) -> None:
    """After Ctrl-C or SIGTERM: say where the run stands and how to continue it; exit 130."""
    if interrupted:
        click.echo(f"interrupted at step {state.step} (epoch {state.epoch + 1}, batch {state.epoch_step}); "
                   f"continue with: segen {command} --out {out} --resume", err=True)
        raise SystemExit(130)


def run_training(kind: type[SegConfig] | type[GanConfig], flags: dict[str, Any], shared: dict[str, Any]) -> Any:
    """Resolve the config from the command's own `flags` and the `training_options` values `shared`, and train
    (or print it, with --dry-run); then say how the run ended. An interrupted run ends here with exit code 130.

    Returns:
        The finished run's `RunResult` (on rank 0); None when this process did not train (--dry-run, or the
        launcher of --nproc).
    """
    family, command = ("segmentation", "seg train") if kind is SegConfig else ("gan", "gan train")
    config_file, resume, quiet = shared["config_file"], shared["resume"], shared["quiet"]
    flags = merge(flags, {"train": {key: shared[key] for key in _TRAIN_KEYS},
                          "data": {"num_workers": shared["workers"]}})
    cfg = resolve_config(kind, config_file, flags, resume, family)
    if cfg.train.tensorboard:
        from segen.training.tensorboard import require_tensorboard

        require_tensorboard()
    if shared["dry_run"]:
        return print_config(cfg)
    if shared["nproc"] and shared["nproc"] > 1 and not process_info().launched:
        from segen.training.launch import launch_local, without_nproc

        return launch_local(shared["nproc"], without_nproc(click.get_current_context().obj["argv"]))
    if isinstance(cfg, SegConfig):
        from segen.training import train_segmentation

        result: Any = train_segmentation(cfg, resume=resume, progress=not quiet)
    else:
        from segen.training.gan import train_gan

        result = train_gan(cfg, resume=resume, progress=not quiet)
    state = result.state
    if not process_info().is_main:
        raise SystemExit(130 if result.interrupted else 0)  # rank 0 says how the run ended
    stop_if_interrupted(result.interrupted, state, command, cfg.train.out)
    if isinstance(cfg, SegConfig):
        best = f"{state.best:.4f}" if state.best is not None else "n/a"
        click.echo(f"done: {state.epoch} epochs, best val mean IoU {best} (epoch {state.best_epoch}); "
                   f"checkpoints in {cfg.train.out}")
    else:
        click.echo(f"done: {state.epoch} epochs, {state.step} steps in {state.elapsed / 60:.1f} min; samples and "
                   f"checkpoints in {cfg.train.out}")
    return result


#: How `predict` and `evaluate` run a model: TTA, and how large images are cut into windows
#: (`prediction_options` folds the tiling options into one Tiling).
_PREDICTION_OPTIONS = (
    click.option("--tta", type=click.Choice(TTA_MODES), default="none", show_default=True, help="Test-time "
                 "augmentation: average the probabilities over the left-right mirror (hflip: 2 passes, for scenes "
                 "with an up, such as streets), all flips (flip: 4 passes) or flips and 90-degree rotations (d4: 8 "
                 "passes, for images without an up, such as microscopy)."),
    click.option("--tile", type=(POSITIVE_INT, POSITIVE_INT), metavar="H W", help="Predict every image window by "
                 "window, H x W pixels each (default: only images above --tile-above, in windows of the training "
                 "crop)."),
    click.option("--tile-above", type=click.IntRange(min=0), default=DEFAULT_TILE_ABOVE, show_default=True,
                 metavar="PIXELS", help="Images with more pixels than this are predicted in windows."),
    click.option("--whole", is_flag=True, help="Never tile: predict every image whole (memory grows with its area)."),
    click.option("--overlap", type=FiniteFloatRange(0, 1, max_open=True), default=DEFAULT_OVERLAP,
                 show_default=True, help="Fraction of a window that neighbouring windows share."),
    click.option("--blend", type=click.Choice(["gaussian", "flat"]), default="gaussian", show_default=True,
                 help="Weigh overlapping windows by a Gaussian centred on each (seamless) or equally."),
    click.option("--tile-batch", type=POSITIVE_INT, default=4, show_default=True, help="Windows per forward pass."),
    click.option("--precision", "precision", type=click.Choice(["fp32", "bf16", "auto"]), default="fp32",
                 show_default=True, help="bf16: autocast (GPUs, and CPUs with AMX or AVX512-BF16); auto: mixed "
                 "precision on CUDA, fp32 elsewhere."),
    click.option("--compile", "compile_model", is_flag=True, help="Run the model through torch.compile (the "
                 "first images take longer while it compiles; needs a C++ compiler on CPUs)."),
)


def prediction_options(command: CommandT) -> CommandT:
    """Add --tta and the tiling options; the command receives `tta` and the tiling options as one `tiling`
    argument (a Tiling, or None for --whole)."""

    @functools.wraps(command)
    def wrapper(*args: Any, tile: tuple[int, int] | None, tile_above: int, whole: bool, overlap: float,
                blend: str, tile_batch: int, **kwargs: Any) -> Any:
        if whole and tile is not None:
            raise ConfigError("--whole and --tile contradict each other: choose one")
        tiling = None if whole else Tiling(tile, overlap, tile_batch, blend == "gaussian",
                                           0 if tile is not None else tile_above)
        return command(*args, tiling=tiling, **kwargs)

    for option in reversed(_PREDICTION_OPTIONS):
        wrapper = option(wrapper)
    return wrapper  # type: ignore[return-value]
