"""GAN training as phases: a discriminator step, a generator step and a regulariser at its own interval.

Each network has its own Adam optimiser; an exponential moving average of the generator is what
samples, checkpoints and evaluation use. Images are scaled to [-1, 1]. `metrics.jsonl` gets both
losses and the mean D(x) and D(G(z)) per epoch; a sample grid from fixed latents (or fixed
validation inputs for pix2pix) is written every `sample_every` steps.
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from segen.checkpoint import Checkpoint, GanDataSpec, ModelSpec
from segen.config import GanConfig
from segen.data.diffaugment import diff_augment
from segen.data.gan import GanDataInfo
from segen.losses.adversarial import (
    create_adversarial_loss,
    gradient_penalty,
    mean_probability,
    r1_penalty,
    reconstruction_l1,
)
from segen.models import GANPair, create_model, model_defaults, model_entry
from segen.preprocess import signed_to_uint8, to_signed
from segen.reports.grid import image_grid, save_png
from segen.reports.palette import label_map_colors
from segen.runtime import (
    BatchDraws,
    Group,
    ProcessInfo,
    amp_dtype,
    autocast,
    compiled,
    cpu_state,
    make_grad_scaler,
    memory_format,
    mix_seed,
)
from segen.training.distributed import (
    RankBatches,
    StepBatch,
    gradient_sync,
    rank_indices,
    step_batches,
    wrap_model,
)
from segen.training.ema import ModelEma
from segen.training.gan_data import GanData, load_gan_data, resolve_diffaugment
from segen.training.sampling import ResumableSampler, default_workers, training_loader, workers_released
from segen.training.start import start_run
from segen.training.tensorboard import tensorboard_log
from segen.training.trainer import Callback, RunResult, StepCallback, Trainer, TrainerState


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Within it, `module`'s parameters get no gradients (the discriminator during the generator's step)."""
    trainable = [p for p in module.parameters() if p.requires_grad]
    for p in trainable:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in trainable:
            p.requires_grad_(True)


class GanTask:
    """Adversarial training of a registered GAN (`dcgan`, `cgan`, `pix2pix`) for the shared Trainer."""

    kind = "gan"
    nonfinite_hint = "try a lower learning rate, --loss hinge or an R1 penalty"

    def __init__(self, cfg: GanConfig, data: GanData, device: torch.device, group: Group | None = None) -> None:
        """`group`: the run's process group (default: this process alone); under DDP both networks are wrapped,
        and the weight average is kept on every rank (each updates it from the same synchronised weights)."""
        self.cfg, self.data, self.device = cfg, data, device
        self.group = group or Group(ProcessInfo(), device)
        self.conditioning = str(model_entry(cfg.model.name, "gan").conditioning)
        self.model_kwargs = self._model_kwargs(data.info)
        self.layout = memory_format(device)
        gan = create_model(cfg.model.name, **self.model_kwargs).to(device).to(memory_format=self.layout)
        self.gan = cast(GANPair, gan)
        self.generator: nn.Module = self.gan.generator
        self.discriminator: nn.Module = self.gan.discriminator
        o, t = cfg.optim, cfg.train
        self.g_model = compiled(wrap_model(self.generator, self.group, t.sync_bn), t.compile)
        self.loss = create_adversarial_loss(cfg.loss)
        self.eager_discriminator = t.compile and (o.r1_gamma > 0 or self.loss.gradient_penalty_weight > 0)
        self.d_model = compiled(wrap_model(self.discriminator, self.group, t.sync_bn),
                                t.compile and not self.eager_discriminator)
        self.g_opt = torch.optim.Adam(self.generator.parameters(), lr=o.g_lr, betas=o.betas)
        self.d_opt = torch.optim.Adam(self.discriminator.parameters(), lr=o.d_lr, betas=o.betas)
        self.ema = ModelEma(self.generator, o.ema_decay) if o.ema_decay else None
        self.amp = amp_dtype(device, cfg.train.precision)
        self.g_scaler = make_grad_scaler(self.amp)
        self.d_scaler = make_grad_scaler(self.amp)
        self.augment_ops = resolve_diffaugment(cfg.data.diffaugment_ops(), self.conditioning, data.info.num_images)
        self.monitor = "val/l1" if data.val is not None else "none"
        self.monitor_mode = "min"
        self._fixed = self._fixed_inputs()
        self._palette: list[tuple[int, int, int]] | None = None
        self.loader = self._loader()

    def _model_kwargs(self, info: GanDataInfo) -> dict[str, Any]:
        kwargs: dict[str, Any] = {**self.cfg.model.overrides(), "image_size": tuple(info.image_size),
                                  "channels": info.channels}
        if self.conditioning == "class":
            kwargs["num_classes"] = info.num_classes
        if self.conditioning == "image":
            kwargs["in_channels"] = info.in_channels
        preset = model_defaults(self.cfg.model.name, family="gan")
        if "generator" in preset:  # stored, so a later change of the default cannot misread the checkpoint
            kwargs.setdefault("generator", preset["generator"])
        return kwargs

    def _loader(self) -> DataLoader:
        workers = self.cfg.data.num_workers if self.cfg.data.num_workers is not None else default_workers(self.device)
        size = len(self.data.train)  # type: ignore[arg-type]
        t = self.cfg.train
        self.sampler = ResumableSampler(size, t.batch_size, t.seed, drop_last=size >= t.batch_size)
        self.rank_batches = RankBatches(self.sampler, t.batch_size, self.group.rank, self.group.world, t.accumulate)
        return training_loader(self.data.train, self.sampler, workers, self.device, self.rank_batches)

    def _fixed_inputs(self) -> dict[str, torch.Tensor]:
        """Latents and labels (or validation inputs) that every sample grid reuses."""
        n = self.cfg.sample_count
        gen = torch.Generator().manual_seed(self.cfg.train.seed + 12345)
        if self.conditioning == "image":
            source = self.data.val if self.data.val is not None else self.data.train
            count = min(n, 8, len(source))  # type: ignore[arg-type]
            pairs = [source[i] for i in range(count)]
            return {"a": torch.stack([p[0] for p in pairs]), "b": torch.stack([p[1] for p in pairs])}
        fixed = {"z": torch.randn(n, self.gan.latent_dim, generator=gen)}
        if self.conditioning == "class":
            fixed["y"] = torch.arange(n) % self.gan.num_classes
        return fixed

    # -- the Trainer protocol -------------------------------------------------------------------------

    def steps_per_epoch(self) -> int:
        return self.sampler.batches_per_epoch

    def train_batches(self, epoch: int, start_step: int) -> Iterable[StepBatch]:
        self.sampler.set_epoch(epoch, start_step)
        return step_batches(self.loader, self.rank_batches)

    def before_step(self, state: TrainerState) -> None:
        """Nothing to prepare: a GAN's phases are set within its step."""

    def train_step(self, batch: StepBatch, step: int, progress: float) -> dict[str, torch.Tensor]:
        """A discriminator step, then a generator step, each over this rank's micro-batches of the global batch;
        returns this rank's shares of the global batch's mean losses (the Trainer sums them over ranks)."""
        self.g_model.train()
        self.d_model.train()
        paired = self.conditioning == "image"
        if paired:
            logs = self._pix2pix_step(batch, [tuple(self._images(t) for t in micro) for micro in batch.micro])
        else:
            logs = self._adversarial_step(batch, [self._unpack(micro) for micro in batch.micro], step)
        if self.ema is not None:
            self.ema.update(self.generator, step)
        return logs

    def _draws(self, batch: StepBatch, index: int, step: int, phase: int) -> BatchDraws:
        """The noise, DiffAugment and penalty draws of micro-batch `index` in `phase` (0: D, 1: G) of `step`:
        those of its rows of the global batch, so any number of ranks trains on the same random numbers."""
        start, stop = batch.rows(index)
        return BatchDraws(mix_seed(self.cfg.train.seed, step, phase), start, stop, batch.global_size)

    def _augment(self, x: torch.Tensor, draws: BatchDraws) -> torch.Tensor:
        return diff_augment(x, self.augment_ops, generator=draws) if self.augment_ops else x

    def _discriminate(self, x: torch.Tensor, y: torch.Tensor | None, draws: BatchDraws) -> torch.Tensor:
        x = self._augment(x, draws)
        return self.d_model(x) if y is None else self.d_model(x, y)

    def _generate(self, n: int, y: torch.Tensor | None, draws: BatchDraws) -> torch.Tensor:
        z = draws.randn((n, self.gan.latent_dim), self.device)
        return self.g_model(z) if y is None else self.g_model(z, y)

    def _images(self, images: torch.Tensor) -> torch.Tensor:
        return to_signed(images.to(self.device, non_blocking=True)).contiguous(memory_format=self.layout)

    def _unpack(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.conditioning == "class":
            images, labels = batch
            return self._images(images), labels.to(self.device).long()
        images = batch[0] if isinstance(batch, list | tuple) else batch
        return self._images(images), None

    def _adversarial_step(self, batch: StepBatch, inputs: list[tuple[torch.Tensor, torch.Tensor | None]],
                          step: int) -> dict[str, torch.Tensor]:
        """`inputs`: each micro-batch's real images and labels, on the device (both steps use them)."""
        logs: dict[str, torch.Tensor] = {}
        self.d_opt.zero_grad(set_to_none=True)
        for i, (real, labels) in enumerate(inputs):
            draws = self._draws(batch, i, step, 0)
            with gradient_sync(self.d_model, i == len(batch.micro) - 1):
                with autocast(self.device, self.amp):
                    with torch.no_grad():
                        fake = self._generate(real.shape[0], labels, draws)
                    real_logits = self._discriminate(real, labels, draws)
                    fake_logits = self._discriminate(fake, labels, draws)
                    d_loss = self.loss.discriminator_loss(real_logits.float(), fake_logits.float())
                parts = {"d_loss": d_loss.detach(), "d_real": mean_probability(real_logits),
                         "d_fake": mean_probability(fake_logits)}
                d_total = d_loss + self._penalties(real, fake, labels, step, parts, draws)
                self.d_scaler.scale(d_total * batch.weight(i, self.group.world)).backward()
            self._log(logs, parts, batch, i)
        self._apply(self.d_opt, self.d_scaler)
        self.g_opt.zero_grad(set_to_none=True)
        with frozen(self.discriminator):
            for i, (real, labels) in enumerate(inputs):
                draws = self._draws(batch, i, step, 1)
                with gradient_sync(self.g_model, i == len(batch.micro) - 1), gradient_sync(self.d_model, False):
                    with autocast(self.device, self.amp):
                        fake_logits = self._discriminate(self._generate(real.shape[0], labels, draws), labels, draws)
                        g_loss = self.loss.generator_loss(fake_logits.float())
                    self.g_scaler.scale(g_loss * batch.weight(i, self.group.world)).backward()
                self._log(logs, {"g_loss": g_loss.detach()}, batch, i)
        self._apply(self.g_opt, self.g_scaler)
        return logs

    def _penalties(self, real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor | None, step: int,
                   logs: dict[str, torch.Tensor], draws: BatchDraws) -> torch.Tensor:
        """Gradient penalty (wgan-gp) every step; R1 every `r1_interval` steps, scaled by the interval."""
        total = torch.zeros((), device=self.device)
        weight = self.loss.gradient_penalty_weight
        if weight > 0:
            def critic(x: torch.Tensor) -> torch.Tensor:
                return self._discriminate(x, labels, draws).float()
            gp = gradient_penalty(critic, real, fake, generator=draws)
            logs["gp"] = gp.detach()
            total = total + weight * gp
        o = self.cfg.optim
        if o.r1_gamma > 0 and step % o.r1_interval == 0:
            x = self._augment(real, draws).detach().requires_grad_(True)
            logits = self.d_model(x) if labels is None else self.d_model(x, labels)
            r1 = r1_penalty(logits.float(), x)
            logs["r1"] = r1.detach()
            total = total + 0.5 * o.r1_gamma * o.r1_interval * r1
        return total

    def _pix2pix_step(self, batch: StepBatch, pairs: list[tuple[torch.Tensor, ...]]) -> dict[str, torch.Tensor]:
        """`pairs`: each micro-batch's (input, target) on the device. With one micro-batch its generated images
        serve both steps (as in pix2pix); when accumulating, the D step generates without a graph and the G
        step generates again."""
        logs: dict[str, torch.Tensor] = {}
        keep = len(batch.micro) == 1
        fakes: list[torch.Tensor] = []
        self.d_opt.zero_grad(set_to_none=True)
        for i, (a, b) in enumerate(pairs):
            with gradient_sync(self.d_model, i == len(batch.micro) - 1):
                with autocast(self.device, self.amp):
                    with torch.set_grad_enabled(keep):
                        fake = self.g_model(a)
                    real_logits = self.d_model(a, b)
                    fake_logits = self.d_model(a, fake.detach())
                    d_loss = 0.5 * self.loss.discriminator_loss(real_logits.float(), fake_logits.float())
                self.d_scaler.scale(d_loss * batch.weight(i, self.group.world)).backward()
            fakes.extend([fake] if keep else [])
            self._log(logs, {"d_loss": d_loss.detach(), "d_real": mean_probability(real_logits),
                             "d_fake": mean_probability(fake_logits)}, batch, i)
        self._apply(self.d_opt, self.d_scaler)
        self.g_opt.zero_grad(set_to_none=True)
        with frozen(self.discriminator):
            for i, (a, b) in enumerate(pairs):
                with gradient_sync(self.g_model, i == len(batch.micro) - 1), gradient_sync(self.d_model, False):
                    with autocast(self.device, self.amp):
                        fake = fakes[i] if keep else self.g_model(a)
                        adv = self.loss.generator_loss(self.d_model(a, fake).float())
                        l1 = reconstruction_l1(fake.float(), b)
                        g_loss = adv + self.cfg.optim.l1_weight * l1
                    self.g_scaler.scale(g_loss * batch.weight(i, self.group.world)).backward()
                self._log(logs, {"g_loss": g_loss.detach(), "g_adv": adv.detach(), "l1": l1.detach()}, batch, i)
        self._apply(self.g_opt, self.g_scaler)
        return logs

    def _log(self, logs: dict[str, torch.Tensor], values: dict[str, torch.Tensor], batch: StepBatch,
             index: int) -> None:
        """Add micro-batch `index`'s share of the global batch's mean of each value."""
        share = batch.sizes[index] / batch.global_size
        for key, value in values.items():
            logs[key] = logs.get(key, 0.0) + value * share

    @staticmethod
    def _apply(optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler) -> None:
        scaler.step(optimizer)
        scaler.update()

    @property
    def sampler_model(self) -> nn.Module:
        """The generator that samples and is saved: the weight average when enabled."""
        return self.ema.module if self.ema is not None else self.generator

    @torch.inference_mode()
    def sample_grid(self) -> np.ndarray:
        """The fixed-input sample grid as an HxWx3 uint8 array."""
        g = self.sampler_model.eval()
        f = {k: v.to(self.device) for k, v in self._fixed.items()}
        with autocast(self.device, self.amp):
            if self.conditioning == "image":
                out = g(to_signed(f["a"]))
            else:
                out = g(f["z"]) if "y" not in f else g(f["z"], f["y"])
        images = _hwc(signed_to_uint8(out))
        if self.conditioning == "image":
            rows = [[a, o, b] for a, o, b in zip(_hwc(f["a"]), images, _hwc(f["b"]), strict=True)]
            return image_grid(rows)
        cols = self._grid_columns(len(images))
        return image_grid([images[i:i + cols] for i in range(0, len(images), cols)])

    def _grid_columns(self, count: int) -> int:
        """A square-ish grid; for class GANs one column per class (the fixed labels cycle through them)."""
        if self.conditioning == "class" and count >= self.gan.num_classes:
            return self.gan.num_classes
        return max(1, math.ceil(math.sqrt(count)))

    def write_samples(self, path: Path) -> None:
        save_png(self.sample_grid(), path)

    @torch.inference_mode()
    def validate(self) -> dict[str, float | None]:
        """The mean L1 of the validation pairs (pix2pix), each image counted once: each rank takes its share
        and the per-image sums are summed over ranks."""
        if self.data.val is None:
            return {}
        g = self.sampler_model.eval()
        self.group.share_buffers(g)
        total, count = 0.0, 0
        share = Subset(self.data.val, rank_indices(len(self.data.val), self.group))  # type: ignore[arg-type]
        for a, b in DataLoader(share, batch_size=self.cfg.train.batch_size):
            with autocast(self.device, self.amp):
                fake = g(self._images(a)).float()
            total += float((fake - self._images(b)).abs().flatten(1).mean(1).double().sum())
            count += a.shape[0]
        total, images = self.group.sum([total, count])
        return {"val/l1": total / max(images, 1)}

    def state_dict(self) -> dict[str, Any]:
        return {"generator": cpu_state(self.generator), "discriminator": cpu_state(self.discriminator),
                "g_opt": self.g_opt.state_dict(), "d_opt": self.d_opt.state_dict(),
                "g_scaler": self.g_scaler.state_dict(), "d_scaler": self.d_scaler.state_dict()}

    def load_state_dict(self, checkpoint: Checkpoint) -> None:
        assert checkpoint.training is not None
        task = checkpoint.training.task
        self.generator.load_state_dict(task["generator"])
        self.discriminator.load_state_dict(task["discriminator"])
        if self.ema is not None:
            self.ema.load_state_dict(checkpoint.model.weights)
        self.g_opt.load_state_dict(task["g_opt"])
        self.d_opt.load_state_dict(task["d_opt"])
        self.g_scaler.load_state_dict(task["g_scaler"])
        self.d_scaler.load_state_dict(task["d_scaler"])

    def checkpoint_info(self) -> tuple[ModelSpec, GanDataSpec]:
        """What sampling needs: the model spec, the (averaged) generator's weights and the data description."""
        info = self.data.info
        model = ModelSpec(self.cfg.model.name, self.model_kwargs, cpu_state(self.sampler_model))
        return model, GanDataSpec(image_size=list(info.image_size), channels=info.channels,
                                  in_channels=info.in_channels, class_names=list(info.class_names),
                                  direction=self.cfg.data.direction, layout=info.layout,
                                  palette=[list(c) for c in self._input_palette()])

    def _input_palette(self) -> list[tuple[int, int, int]]:
        """pix2pix: the colours of its inputs when they are colour-coded label maps (for drawing new ones)."""
        if self._palette is None:
            source = self.data.val if self.data.val is not None else self.data.train
            inputs = [source[i][0] for i in range(min(32, len(source)))] if self.conditioning == "image" else []  # type: ignore[arg-type]
            rgb = [signed_to_uint8(a).permute(1, 2, 0).numpy() for a in inputs if a.shape[0] == 3]
            self._palette = label_map_colors(np.stack(rgb)) if rgb else []
        return self._palette

def _hwc(images: torch.Tensor) -> list[np.ndarray]:
    return [im.permute(1, 2, 0).cpu().numpy() for im in images]


def train_gan(cfg: GanConfig, resume: bool = False, progress: bool = True,
              callbacks: Iterable[Callback] = (), step_callbacks: Iterable[StepCallback] = ()) -> RunResult:
    """Train a GAN as configured; the run folder is `cfg.train.out`. The arguments are those of
    `segen.training.train_segmentation`."""
    start = start_run(cfg, "gan", GanTask.kind, resume)
    try:
        task = GanTask(cfg, load_gan_data(cfg), start.device, start.group)
        if task.augment_ops and start.group.is_main:
            print(f"note: DiffAugment ({', '.join(task.augment_ops)}) on real and generated images", file=sys.stderr)
        if task.eager_discriminator and start.group.is_main:
            print("note: --compile compiles the generator only: the discriminator's R1 or WGAN-GP penalty needs a "
                  "double backward, which torch.compile lacks", file=sys.stderr)
        grids = SampleGrids(task, cfg.sample_every)
        trainer = Trainer(task, cfg, progress, [*callbacks, grids.at_epoch_end], [*step_callbacks, grids.at_step],
                          start.group)
        trainer.prepare(start.resume_from, start.resume)
        with (workers_released(task.loader),
              tensorboard_log(trainer, {"g": task.g_opt, "d": task.d_opt}, task.sample_grid, "samples")):
            state = trainer.fit()
    finally:
        start.group.close()
    return RunResult(cfg.train.out, state, trainer.interrupted)


class SampleGrids:
    """Trainer callbacks writing the fixed-input sample grid: `samples/step-N.png` every `every` steps and
    `samples.png` after every epoch."""

    def __init__(self, task: GanTask, every: int) -> None:
        self.task, self.every = task, every

    def at_step(self, trainer: Trainer) -> None:
        step = trainer.state.step
        if step % self.every == 0 and trainer.group.is_main:
            self.task.write_samples(trainer.out / "samples" / f"step-{step:07d}.png")

    def at_epoch_end(self, trainer: Trainer, record: dict[str, Any]) -> None:
        self.task.write_samples(trainer.out / "samples.png")
