"""GAN training as phases: a discriminator step, a generator step and a regulariser at its own interval.

Each network has its own Adam optimiser; an exponential moving average of the generator is what
samples, checkpoints and evaluation use. Images are scaled to [-1, 1]. `metrics.jsonl` gets both
losses and the mean D(x) and D(G(z)) per epoch; a sample grid from fixed latents (or fixed
validation inputs for pix2pix) is written every `sample_every` steps.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from segen.checkpoint import Checkpoint, GanDataSpec, ModelSpec
from segen.config import GanConfig
from segen.data.diffaugment import diff_augment
from segen.data.gan import GanDataInfo, open_gan_dataset, parse_id_range
from segen.errors import ConfigError
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
from segen.runtime import amp_dtype, autocast, cpu_state, make_grad_scaler
from segen.training.ema import ModelEma
from segen.training.sampling import ResumableSampler, training_loader
from segen.training.start import start_run
from segen.training.trainer import Callback, RunResult, StepCallback, Trainer, TrainerState

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


class GanTask:
    """Adversarial training of a registered GAN (`dcgan`, `cgan`, `pix2pix`) for the shared Trainer."""

    kind = "gan"
    nonfinite_hint = "try a lower learning rate, --loss hinge or an R1 penalty"

    def __init__(self, cfg: GanConfig, data: GanData, device: torch.device) -> None:
        self.cfg, self.data, self.device = cfg, data, device
        self.conditioning = str(model_entry(cfg.model.name, "gan").conditioning)
        self.model_kwargs = self._model_kwargs(data.info)
        self.gan = cast(GANPair, create_model(cfg.model.name, **self.model_kwargs).to(device))
        self.generator: nn.Module = self.gan.generator
        self.discriminator: nn.Module = self.gan.discriminator
        o = cfg.optim
        self.g_opt = torch.optim.Adam(self.generator.parameters(), lr=o.g_lr, betas=o.betas)
        self.d_opt = torch.optim.Adam(self.discriminator.parameters(), lr=o.d_lr, betas=o.betas)
        self.loss = create_adversarial_loss(cfg.loss)
        self.ema = ModelEma(self.generator, o.ema_decay) if o.ema_decay else None
        self.amp = amp_dtype(device, cfg.train.precision)
        self.g_scaler = make_grad_scaler(self.amp)
        self.d_scaler = make_grad_scaler(self.amp)
        self.augment_ops = resolve_diffaugment(cfg.data.diffaugment_ops(), self.conditioning, data.info.num_images)
        self.monitor = "val/l1" if data.val is not None else "none"
        self.monitor_mode = "min"
        self._fixed = self._fixed_inputs()
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
        workers = self.cfg.data.num_workers if self.cfg.data.num_workers is not None else 0
        size = len(self.data.train)  # type: ignore[arg-type]
        batch = self.cfg.train.batch_size
        self.sampler = ResumableSampler(size, batch, self.cfg.train.seed, drop_last=size >= batch)
        return training_loader(self.data.train, self.sampler, workers, self.device)

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

    def train_batches(self, epoch: int, start_step: int) -> Iterable[Any]:
        self.sampler.set_epoch(epoch, start_step)
        return self.loader

    def before_step(self, state: TrainerState) -> None:
        """Nothing to prepare: a GAN's phases are set within its step."""

    def train_step(self, batch: Any, step: int, progress: float) -> dict[str, torch.Tensor]:
        self.generator.train()
        self.discriminator.train()
        paired = self.conditioning == "image"
        logs = self._pix2pix_step(batch) if paired else self._adversarial_step(batch, step)
        if self.ema is not None:
            self.ema.update(self.generator, step)
        return logs

    def _augment(self, x: torch.Tensor) -> torch.Tensor:
        return diff_augment(x, self.augment_ops) if self.augment_ops else x

    def _discriminate(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        x = self._augment(x)
        return self.discriminator(x) if y is None else self.discriminator(x, y)

    def _generate(self, n: int, y: torch.Tensor | None) -> torch.Tensor:
        z = torch.randn(n, self.gan.latent_dim, device=self.device)
        return self.generator(z) if y is None else self.generator(z, y)

    def _unpack(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.conditioning == "class":
            images, labels = batch
            return to_signed(images.to(self.device)), labels.to(self.device).long()
        images = batch[0] if isinstance(batch, list | tuple) else batch
        return to_signed(images.to(self.device)), None

    def _adversarial_step(self, batch: Any, step: int) -> dict[str, torch.Tensor]:
        real, labels = self._unpack(batch)
        n = real.shape[0]
        with autocast(self.device, self.amp):
            fake = self._generate(n, labels).detach()
            real_logits = self._discriminate(real, labels)
            fake_logits = self._discriminate(fake, labels)
            d_loss = self.loss.discriminator_loss(real_logits.float(), fake_logits.float())
        logs = {"d_loss": d_loss.detach(), "d_real": mean_probability(real_logits),
                "d_fake": mean_probability(fake_logits)}
        d_total = d_loss + self._penalties(real, fake, labels, step, logs)
        self._step(self.d_opt, self.d_scaler, d_total)
        with autocast(self.device, self.amp):
            fake_logits = self._discriminate(self._generate(n, labels), labels)
            g_loss = self.loss.generator_loss(fake_logits.float())
        self._step(self.g_opt, self.g_scaler, g_loss)
        logs["g_loss"] = g_loss.detach()
        return logs

    def _penalties(self, real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor | None, step: int,
                   logs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Gradient penalty (wgan-gp) every step; R1 every `r1_interval` steps, scaled by the interval."""
        total = torch.zeros((), device=self.device)
        weight = self.loss.gradient_penalty_weight
        if weight > 0:
            def critic(x: torch.Tensor) -> torch.Tensor:
                return self._discriminate(x, labels).float()
            gp = gradient_penalty(critic, real, fake)
            logs["gp"] = gp.detach()
            total = total + weight * gp
        o = self.cfg.optim
        if o.r1_gamma > 0 and step % o.r1_interval == 0:
            x = self._augment(real).detach().requires_grad_(True)
            logits = self.discriminator(x) if labels is None else self.discriminator(x, labels)
            r1 = r1_penalty(logits.float(), x)
            logs["r1"] = r1.detach()
            total = total + 0.5 * o.r1_gamma * o.r1_interval * r1
        return total

    def _pix2pix_step(self, batch: Any) -> dict[str, torch.Tensor]:
        a, b = (to_signed(t.to(self.device)) for t in batch)
        with autocast(self.device, self.amp):
            fake = self.generator(a)
            real_logits = self.discriminator(a, b)
            fake_logits = self.discriminator(a, fake.detach())
            d_loss = 0.5 * self.loss.discriminator_loss(real_logits.float(), fake_logits.float())
        self._step(self.d_opt, self.d_scaler, d_loss)
        with autocast(self.device, self.amp):
            adv = self.loss.generator_loss(self.discriminator(a, fake).float())
            l1 = reconstruction_l1(fake.float(), b)
            g_loss = adv + self.cfg.optim.l1_weight * l1
        self._step(self.g_opt, self.g_scaler, g_loss)
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach(), "g_adv": adv.detach(), "l1": l1.detach(),
                "d_real": mean_probability(real_logits), "d_fake": mean_probability(fake_logits)}

    @staticmethod
    def _step(optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler, loss: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
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
        if self.data.val is None:
            return {}
        g = self.sampler_model.eval()
        total, count = 0.0, 0
        loader = DataLoader(self.data.val, batch_size=self.cfg.train.batch_size)
        for a, b in loader:
            with autocast(self.device, self.amp):
                fake = g(to_signed(a.to(self.device))).float()
            total += float((fake - to_signed(b.to(self.device))).abs().mean()) * a.shape[0]
            count += a.shape[0]
        return {"val/l1": total / max(count, 1)}

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
                                  direction=self.cfg.data.direction, layout=info.layout)


def _hwc(images: torch.Tensor) -> list[np.ndarray]:
    return [im.permute(1, 2, 0).cpu().numpy() for im in images]


def train_gan(cfg: GanConfig, resume: bool = False, progress: bool = True,
              callbacks: Iterable[Callback] = (), step_callbacks: Iterable[StepCallback] = ()) -> RunResult:
    """Train a GAN as configured; the run folder is `cfg.train.out`. The arguments are those of
    `segen.training.train_segmentation`."""
    start = start_run(cfg, "gan", GanTask.kind, resume)
    try:
        if start.group.distributed:
            raise ConfigError("gan train runs in one process for now: launch it without torchrun")
        task = GanTask(cfg, load_gan_data(cfg), start.device)
        if task.augment_ops:
            print(f"note: DiffAugment ({', '.join(task.augment_ops)}) on real and generated images", file=sys.stderr)
        grids = SampleGrids(task, cfg.sample_every)
        trainer = Trainer(task, cfg, progress, [*callbacks, grids.at_epoch_end], [*step_callbacks, grids.at_step],
                          start.group)
        trainer.prepare(start.resume_from, start.resume)
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
        if step % self.every == 0:
            self.task.write_samples(trainer.out / "samples" / f"step-{step:07d}.png")

    def at_epoch_end(self, trainer: Trainer, record: dict[str, Any]) -> None:
        self.task.write_samples(trainer.out / "samples.png")
