"""The segmentation task: U-Net training on a folder dataset, driven by the Trainer."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from segen.checkpoint import Checkpoint, ModelSpec, SegDataSpec
from segen.config import SegConfig
from segen.data import (
    SegmentationData,
    SegmentationDataset,
    SizeGroupedBatches,
    TrainTransform,
    load_segmentation_data,
)
from segen.data.seg.stats import load_class_weights
from segen.errors import ConfigError
from segen.losses import check_loss_spec, create_loss, resolve_loss_name
from segen.losses.segmentation import model_outputs
from segen.metrics import ConfusionMatrix, logits_to_labels
from segen.models import create_model
from segen.preprocess import normalise, to_unit, unit_to_uint8
from segen.reports import colorize, default_palette, image_grid, overlay
from segen.runtime import (
    Group,
    ProcessInfo,
    amp_dtype,
    autocast,
    compiled,
    cpu_state,
    cudnn_autotune,
    ignore_interrupts,
    make_grad_scaler,
    memory_format,
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
from segen.training.sampling import ResumableSampler, default_workers, training_loader, workers_released
from segen.training.schedule import lr_factor
from segen.training.start import RunStart, start_run
from segen.training.tensorboard import tensorboard_log
from segen.training.trainer import Callback, RunResult, StepCallback, Trainer, TrainerState
from segen.training.transfer import EncoderFreeze, input_normalisation, load_pretrained, parameter_groups


def class_weights(weights: list[float] | str | None, num_classes: int) -> list[float] | None:
    """The configured class weights as values, read from their file if given one, checked against the count."""
    if isinstance(weights, str):
        return load_class_weights(Path(weights), num_classes)
    if weights is not None and len(weights) != num_classes:
        raise ConfigError(f"class_weights: {len(weights)} values for the data's {num_classes} classes")
    return weights


def supervised_loss(loss: nn.Module, output: torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]],
                    target: torch.Tensor) -> torch.Tensor:
    """`loss` of a model's training output: one tensor, or (main, auxiliary outputs) from a deeply supervised
    model (UNet++), whose loss is the mean over all its heads: equal weights, as the UNet++ paper, at the scale of
    a single output's loss."""
    if isinstance(output, torch.Tensor):
        return loss(output, target)
    main, aux = output
    return torch.stack([loss(out, target) for out in (main, *aux)]).mean()


class SegmentationTask:
    """Model, data, loss and optimiser of a segmentation run, stepped by the Trainer."""

    kind = "segmentation"
    monitor = "val/mean_iou"
    monitor_mode = "max"
    nonfinite_hint = "try a lower --lr; class weights must all be > 0"

    def __init__(self, cfg: SegConfig, data: SegmentationData, device: torch.device, pretrained: bool = True,
                 group: Group | None = None) -> None:
        """`pretrained`: load `cfg.model.encoder_weights` (a resumed run takes every weight from its checkpoint);
        `group`: the run's process group (default: this process alone)."""
        self.cfg = cfg
        self.data = data
        self.device = device
        self.group = group or Group(ProcessInfo(), device)
        num_classes = data.classes.num_classes
        self.loss_name = resolve_loss_name(cfg.loss, num_classes)
        self.model_kwargs = {**cfg.model.overrides(), "in_channels": data.channels,
                             "num_classes": model_outputs(self.loss_name, num_classes)}
        model = create_model(cfg.model.name, **self.model_kwargs)
        self.weights_file = load_pretrained(model, cfg) if pretrained else None
        self.net = model.to(device).to(memory_format=memory_format(device))
        self.model = compiled(wrap_model(self.net, self.group, cfg.train.sync_bn), cfg.train.compile)
        self.freeze = EncoderFreeze(self.net, cfg)
        weights = class_weights(cfg.class_weights, num_classes)
        self.loss = create_loss(self.loss_name, num_classes, cfg.data.ignore_index, weights).to(device)
        self.optimizer = torch.optim.AdamW(parameter_groups(self.net, cfg), lr=cfg.optim.lr, betas=cfg.optim.betas)
        self.ema = ModelEma(self.net, cfg.optim.ema_decay) if cfg.optim.ema_decay else None
        self.amp = amp_dtype(device, cfg.train.precision)
        self.scaler = make_grad_scaler(self.amp)
        self.norm_mean, self.norm_std = input_normalisation(cfg, data.channels, data.mean, data.std)
        self.mean = torch.tensor(self.norm_mean, device=device).view(1, -1, 1, 1)
        self.std = torch.tensor(self.norm_std, device=device).view(1, -1, 1, 1)
        self.metric = ConfusionMatrix(num_classes, cfg.data.ignore_index, data.classes.names, device)
        self._build_loaders()

    @property
    def crop_size(self) -> tuple[int, int]:
        """The training crop: `data.image_size` cut down to the largest training image; smaller images are padded
        (mask padding is ignored)."""
        return self.data.crop

    def _build_loaders(self) -> None:
        cfg, data = self.cfg, self.data
        workers = cfg.data.num_workers if cfg.data.num_workers is not None else default_workers(self.device)
        transform = TrainTransform(self.crop_size, cfg.data.augment, cfg.data.ignore_index, data.channels,
                                   max_value=data.max_value)
        train = data.train.with_transform(transform)
        self.sampler = ResumableSampler(len(train), cfg.train.batch_size, cfg.train.seed, cfg.data.min_epoch_samples)
        self.rank_batches = RankBatches(self.sampler, cfg.train.batch_size, self.group.rank, self.group.world,
                                        cfg.train.accumulate)
        self.train_loader = training_loader(train, self.sampler, workers, self.device, self.rank_batches)
        common: dict[str, Any] = {"num_workers": workers, "pin_memory": self.device.type == "cuda",
                                  "persistent_workers": workers > 0, "worker_init_fn": ignore_interrupts}
        self.val_loader = evaluation_loader(data.val, cfg.train.batch_size, common,
                                            rank_indices(len(data.val), self.group))

    def steps_per_epoch(self) -> int:
        return self.sampler.batches_per_epoch

    def train_batches(self, epoch: int, start_step: int) -> Iterable[StepBatch]:
        self.sampler.set_epoch(epoch, start_step)
        return step_batches(self.train_loader, self.rank_batches)

    def _inputs(self, images: torch.Tensor) -> torch.Tensor:
        images = images.to(self.device, non_blocking=True)
        x = normalise(images, self.mean, self.std, self.data.max_value)
        return x.contiguous(memory_format=memory_format(self.device))

    def before_step(self, state: TrainerState) -> None:
        self.freeze.update(state.epoch, state.step, state.elapsed)

    def train_step(self, batch: StepBatch, step: int, progress: float) -> dict[str, torch.Tensor]:
        """One optimiser step on this rank's part of a global batch; returns this rank's share of the batch's
        mean loss (the Trainer sums the shares over ranks)."""
        o = self.cfg.optim
        lr = o.lr * lr_factor(step, progress, o.warmup_steps, o.schedule, o.min_lr_ratio)
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group["lr_mult"]
        self.model.train()
        self.freeze.hold_statistics()
        self.optimizer.zero_grad(set_to_none=True)
        share = torch.zeros((), device=self.device)
        for i, (images, masks) in enumerate(batch.micro):
            x, y = self._inputs(images), masks.to(self.device, non_blocking=True).long()
            last = i == len(batch.micro) - 1
            with gradient_sync(self.model, last):
                with autocast(self.device, self.amp):
                    loss = supervised_loss(self.loss, self.model(x), y) * batch.weight(i, self.group.world)
                self.scaler.scale(loss).backward()
            share += loss.detach() / self.group.world
        if o.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.net.parameters(), o.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.ema is not None:
            self.ema.update(self.net, step)
        return {"loss": share}

    @property
    def eval_model(self) -> nn.Module:
        """The model that is validated and saved for inference: the weight average when enabled."""
        return self.ema.module if self.ema is not None else self.net

    @torch.inference_mode()
    def validate(self) -> dict[str, float | None]:
        """Scores of the validation split, each image counted once whatever the number of ranks: each rank
        takes its share of the images, and the confusion matrices and loss sums are summed over ranks."""
        model = self.eval_model.eval()
        self.group.share_buffers(model)
        self.metric.reset()
        loss_sum, images_seen = 0.0, 0
        with cudnn_autotune(len(set(self.data.val.sizes)) == 1):
            for images, masks in self.val_loader:
                x, y = self._inputs(images), masks.to(self.device).long()
                with autocast(self.device, self.amp):
                    logits = model(x)
                loss_sum += sum(float(self.loss(logits[i:i + 1], y[i:i + 1])) for i in range(len(y)))
                images_seen += len(y)
                self.metric.update(logits_to_labels(logits), y)
        self.metric.reduce(self.group.sum_tensor)
        loss_total, image_total = self.group.sum([loss_sum, images_seen])
        scores = self.metric.compute()
        logs: dict[str, float | None] = {"val/loss": loss_total / max(image_total, 1)}
        for key in ("mean_iou", "mean_dice", "pixel_accuracy"):
            logs[f"val/{key}"] = scores[key]
        for name, per in scores["per_class"].items():
            logs[f"val/iou/{name}"] = per["iou"]
        return logs

    @torch.inference_mode()
    def overlay_grid(self, count: int = 4) -> np.ndarray | None:
        """The first `count` validation images (the same ones every time), a row each: image | truth | prediction
        over the image, in the dataset's colours; None without validation images."""
        val, classes, ignore = self.data.val, self.data.classes, self.cfg.data.ignore_index
        palette = classes.colors or default_palette(classes.num_classes)
        model = self.eval_model.eval()
        rows = []
        for i in range(min(count, len(val))):
            image = val.image(i)
            with autocast(self.device, self.amp):
                prediction = logits_to_labels(model(self._inputs(image[None])))[0].cpu().numpy()
            pixels = unit_to_uint8(to_unit(image, self.data.max_value)).permute(1, 2, 0).numpy()
            rows.append([pixels if pixels.shape[2] == 3 else pixels[:, :, 0],
                         colorize(val.mask(i).numpy(), palette, ignore),
                         overlay(pixels, prediction, palette, ignore_index=ignore)])
        return image_grid(rows) if rows else None

    def state_dict(self) -> dict[str, Any]:
        state = {"optimizer": self.optimizer.state_dict(), "scaler": self.scaler.state_dict()}
        if self.ema is not None:
            state["raw_model"] = cpu_state(self.net)
        return state

    def load_state_dict(self, checkpoint: Checkpoint) -> None:
        assert checkpoint.training is not None
        task = checkpoint.training.task
        if self.ema is not None:
            self.ema.load_state_dict(checkpoint.model.weights)
            self.net.load_state_dict(task["raw_model"])
        else:
            self.net.load_state_dict(checkpoint.model.weights)
        self.optimizer.load_state_dict(task["optimizer"])
        self.scaler.load_state_dict(task["scaler"])

    def checkpoint_info(self) -> tuple[ModelSpec, SegDataSpec]:
        """What inference needs: the model spec and weights, classes and normalisation."""
        classes, data = self.data.classes, self.data
        model = ModelSpec(self.cfg.model.name, self.model_kwargs, cpu_state(self.eval_model))
        return model, SegDataSpec(
            class_names=list(classes.names), colors=[list(c) for c in classes.colors], mean=list(self.norm_mean),
            std=list(self.norm_std), channels=data.channels, ignore_index=self.cfg.data.ignore_index,
            binary_255=data.binary_255, format=data.format, loss=self.loss_name, max_value=float(data.max_value))


def evaluation_loader(dataset: SegmentationDataset, batch_size: int, common: dict[str, Any],
                      indices: list[int] | None = None) -> DataLoader:
    """Full-size images (all, or those of `indices`), batched by equal size, in dataset order."""
    return DataLoader(dataset, batch_sampler=SizeGroupedBatches(dataset.sizes, batch_size, indices), **common)


def train_segmentation(cfg: SegConfig, resume: bool = False, progress: bool = True,
                       callbacks: Iterable[Callback] = (), step_callbacks: Iterable[StepCallback] = ()
                       ) -> RunResult:
    """Train a segmentation model as configured; the run folder is `cfg.train.out`.

    Args:
        cfg: the run configuration (validated here).
        resume: continue the run in `cfg.train.out` from its `last.pt`.
        progress: show a progress bar.
        callbacks, step_callbacks: see `Trainer`.
    """
    start = start_run(cfg, "segmentation", SegmentationTask.kind, resume)
    try:
        return _train(cfg, start, progress, callbacks, step_callbacks)
    finally:
        start.group.close()


def _train(cfg: SegConfig, start: RunStart, progress: bool, callbacks: Iterable[Callback],
           step_callbacks: Iterable[StepCallback]) -> RunResult:
    check_loss_spec(cfg.loss)
    if isinstance(cfg.class_weights, str):
        load_class_weights(Path(cfg.class_weights), None)  # a missing or malformed file fails before the data loads
    data = load_segmentation_data(cfg.data, cfg.train.seed)
    cfg = replace(cfg, class_weights=class_weights(cfg.class_weights, data.classes.num_classes))
    main = start.group.is_main
    for note in data.notes if main else ():
        print(f"note: {note}", file=sys.stderr)
    task = SegmentationTask(cfg, data, start.device, pretrained=start.resume_from is None, group=start.group)
    if task.weights_file is not None and main:
        print(f"note: encoder {cfg.model.encoder} starts from {task.weights_file}", file=sys.stderr)
    trainer = Trainer(task, cfg, progress, callbacks, step_callbacks, start.group)
    trainer.prepare(start.resume_from, start.resume)
    with (workers_released(task.train_loader, task.val_loader),
          tensorboard_log(trainer, {"": task.optimizer}, task.overlay_grid, "val/overlays")):
        state = trainer.fit()
    return RunResult(cfg.train.out, state, trainer.interrupted, data.notes)
