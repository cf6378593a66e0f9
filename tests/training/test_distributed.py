"""Distributed training on CPUs with gloo, through torchrun and the real command: exact against one process,
validation counted once, resume across world sizes, a killed rank, a restarted group and Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from conftest import run_segen
from segen.checkpoint import load_checkpoint
from segen.config import SegConfig
from segen.data import load_segmentation_data
from segen.data.diffaugment import diff_augment
from segen.data.seg.dataset import SizeGroupedBatches
from segen.data.synthetic import SyntheticSpec, write_folder_dataset, write_paired_dataset
from segen.runtime import BatchDraws, shares
from segen.training.distributed import RankBatches, StepBatch, step_batches
from segen.training.launch import without_nproc
from segen.training.sampling import ResumableSampler
from segen.training.seg import SegmentationTask, supervised_loss

pytestmark = pytest.mark.skipif(not torch.distributed.is_available() or not Path("/proc").is_dir(),
                                reason="needs torch.distributed with gloo and Linux /proc")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 training images and an odd number (5) of validation images."""
    root = tmp_path_factory.mktemp("ddp-data")
    return write_folder_dataset(root, SyntheticSpec(64, 64, num_classes=4), seed=3, splits={"train": 12, "val": 5})


@pytest.fixture(scope="module")
def config(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny U-Net with GroupNorm (BatchNorm would see each rank's share of the batch) and cross-entropy (a mean
    over samples, so the ranks' shares add up to the global batch's loss); 3 steps per epoch."""
    path = tmp_path_factory.mktemp("ddp-config") / "config.yaml"
    path.write_text(yaml.safe_dump({
        "model": {"name": "unet-small", "depth": 3, "base_width": 8, "norm": "group"},
        "data": {"root": str(data), "image_size": [48, 48], "min_epoch_samples": 0, "num_workers": 0},
        "train": {"batch_size": 4, "seed": 0}, "loss": "ce"}))
    return path


def torchrun(*args: str, nproc: int = 2, restarts: int = 0, wait: bool = True, timeout: float = 240
             ) -> subprocess.CompletedProcess[str] | subprocess.Popen[str]:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
               f"--max-restarts={restarts}", "-m", "segen", "--", *args]  # --: torchrun would take e.g. --num
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if wait:
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def train(config: Path, out: Path, *flags: str, nproc: int = 1) -> None:
    args = ("seg", "train", "--config", str(config), "--out", str(out), "--quiet", *flags)
    result = torchrun(*args, nproc=nproc) if nproc > 1 else run_segen(*args)
    assert isinstance(result, subprocess.CompletedProcess) and result.returncode == 0, result.stderr[-2000:]


def weights(run: Path, name: str = "last.pt") -> dict[str, torch.Tensor]:
    return load_checkpoint(run / name).model.weights


def max_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a)


def records(run: Path) -> list[dict[str, float]]:
    return [yaml.safe_load(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def scores(record: dict[str, float]) -> dict[str, float]:
    """The confusion-matrix scores of a metrics record (the loss is a float sum, so close rather than equal)."""
    return {k: v for k, v in record.items() if k.startswith("val/") and k != "val/loss"}


def workers(launcher: int) -> list[int]:
    """The process ids whose parent is `launcher` (torchrun's workers)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == launcher:
            found.append(int(stat.parent.name))
    return sorted(found)


def wait_for(condition: object, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def single(config: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-epoch run in one plain process: what the distributed runs must reproduce."""
    out = tmp_path_factory.mktemp("ddp-single") / "run"
    train(config, out, "--epochs", "2")
    return out


@pytest.fixture(scope="module")
def halves(config: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same run in one process accumulating two micro-batches of 2: the shapes each of 2 ranks computes. The
    weights of runs whose batches are cut differently agree to rounding only, and in the first steps AdamW turns
    rounding into updates of up to the learning rate: one machine gave 3e-4 between `single` and the 2-rank
    run, and 1.4e-6 between `halves` and it. That the cut pieces add up to the whole batch's gradient is tested
    on the gradients themselves (`test_micro_batch_gradients_add_up_to_the_global_batchs`)."""
    out = tmp_path_factory.mktemp("ddp-halves") / "run"
    train(config, out, "--epochs", "2", "--accumulate", "2")
    return out


@pytest.fixture(scope="module")
def two_ranks(config: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same run on 2 torchrun processes."""
    out = tmp_path_factory.mktemp("ddp-two") / "run"
    train(config, out, "--epochs", "2", nproc=2)
    return out


def test_micro_batch_gradients_add_up_to_the_global_batchs(config: Path) -> None:
    """A global batch of 4 as one piece, as two micro-batches (accumulation) and as two ranks' shares (the weights
    DDP's mean applies): the same gradient of every parameter."""
    cfg = SegConfig.from_dict(yaml.safe_load(config.read_text()))
    task = SegmentationTask(cfg, load_segmentation_data(cfg.data, cfg.train.seed), torch.device("cpu"),
                            pretrained=False)
    images, masks = torch.rand(4, 3, 48, 48, generator=torch.Generator().manual_seed(0)), torch.arange(4 * 48 * 48)
    masks = (masks.reshape(4, 48, 48) * 7 % 4).long()

    def cut(*pieces: slice) -> StepBatch:
        return StepBatch([(images[p], masks[p]) for p in pieces], [p.stop - p.start for p in pieces], 4)

    def gradients(ranks: list[StepBatch]) -> dict[str, torch.Tensor]:
        """What DDP applies: each rank's micro-batches accumulated with their weights, then the mean over ranks."""
        total: dict[str, torch.Tensor] = {}
        for batch in ranks:
            task.model.zero_grad()
            for i, (x, y) in enumerate(batch.micro):
                (supervised_loss(task.loss, task.model(x), y) * batch.weight(i, len(ranks))).backward()
            for name, p in task.net.named_parameters():
                total[name] = total.get(name, 0) + p.grad / len(ranks)  # type: ignore[operator]
        return total

    whole = gradients([cut(slice(0, 4))])
    for cutting in ([cut(slice(0, 2), slice(2, 4))], [cut(slice(0, 2)), cut(slice(2, 4))]):
        pieces = gradients(cutting)
        for name, gradient in whole.items():
            scale = float(gradient.abs().max()) + 1e-12
            assert float((gradient - pieces[name]).abs().max()) / scale < 1e-4, (len(cutting), name)


def test_two_ranks_train_the_same_weights_and_scores_as_one_process(halves: Path, two_ranks: Path) -> None:
    assert max_difference(weights(halves), weights(two_ranks)) < 1e-5
    for alone, shared in zip(records(halves), records(two_ranks), strict=True):
        assert scores(alone) == scores(shared)  # 5 validation images over 2 ranks: each counted once
        assert alone["val/loss"] == pytest.approx(shared["val/loss"], abs=1e-6)
        assert alone["train/loss"] == pytest.approx(shared["train/loss"], abs=1e-5)


def test_one_torchrun_process_is_a_group_of_one_with_the_plain_weights(config: Path, single: Path,
                                                                      tmp_path: Path) -> None:
    """torchrun with one process goes through the process group and DDP (the NCCL path of a single GPU): the
    same weights as a plain run."""
    launched = torchrun("seg", "train", "--config", str(config), "--out", str(tmp_path / "one"), "--epochs", "2",
                        "--quiet", nproc=1)
    assert isinstance(launched, subprocess.CompletedProcess) and launched.returncode == 0, launched.stderr[-2000:]
    assert max_difference(weights(single), weights(tmp_path / "one")) < 1e-5  # threads differ


def test_two_rank_validation_equals_a_single_process_evaluation(two_ranks: Path, tmp_path: Path) -> None:
    checkpoint = load_checkpoint(two_ranks / "best.pt")
    cfg = SegConfig.from_dict(checkpoint.config)
    task = SegmentationTask(cfg, load_segmentation_data(cfg.data, cfg.train.seed), torch.device("cpu"),
                            pretrained=False)
    (task.ema.module if task.ema is not None else task.net).load_state_dict(checkpoint.model.weights)
    assert scores(task.validate()) == scores(records(two_ranks)[-1])  # type: ignore[arg-type]


STOPPING_RUN = """
import sys
import yaml
from segen.config import SegConfig
from segen.training import train_segmentation

settings = yaml.safe_load(open(sys.argv[1]))
settings["train"].update(out=sys.argv[2], epochs=2)
stop_at = int(sys.argv[3])

def stop(trainer):
    if trainer.state.step == stop_at:
        trainer.request_stop()

train_segmentation(SegConfig.from_dict(settings), resume=stop_at == 0, progress=False, step_callbacks=[stop])
"""


def run_script(script: Path, nproc: int, *args: str) -> None:
    command = [sys.executable, str(script), *args] if nproc == 1 else [
        sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", str(script), *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=240,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.parametrize(("first", "then"), [(2, 1), (1, 2)])
def test_a_checkpoint_resumes_on_another_number_of_processes(config: Path, single: Path, halves: Path,
                                                             tmp_path: Path, first: int, then: int) -> None:
    """Stopped mid-epoch (step 4 of 6) on `first` processes, resumed on `then`: the weights of an uninterrupted
    single-process run."""
    script = tmp_path / "run.py"
    script.write_text(STOPPING_RUN)
    run_script(script, first, str(config), str(tmp_path / "split"), "4")
    assert load_checkpoint(tmp_path / "split" / "last.pt").training.trainer["step"] == 4  # type: ignore[union-attr]
    run_script(script, then, str(config), str(tmp_path / "split"), "0")
    reference = halves if first == 2 else single  # the first steps, cut as they were (see `halves`)
    assert max_difference(weights(reference), weights(tmp_path / "split")) < 1e-5
    assert [r["step"] for r in records(tmp_path / "split")] == [3, 6]


def _start_long_run(config: Path, out: Path, restarts: int = 0, epochs: int = 30) -> subprocess.Popen[str]:
    """A 2-rank run, returned once it has finished its first epoch (30 epochs take a few seconds: a test that
    needs no uninterrupted twin runs longer, so its signal cannot arrive after the end)."""
    launcher = torchrun("seg", "train", "--config", str(config), "--out", str(out), "--epochs", str(epochs),
                        "--checkpoint-every", "4steps", "--quiet", restarts=restarts, wait=False)
    assert isinstance(launcher, subprocess.Popen)
    wait_for(lambda: ((out / "metrics.jsonl").is_file() and len(records(out)) >= 1) or launcher.poll() is not None)
    assert launcher.poll() is None, launcher.communicate()[1][-2000:]
    return launcher


def test_a_killed_rank_stops_the_other_with_one_line(config: Path, tmp_path: Path) -> None:
    launcher = _start_long_run(config, tmp_path / "run", epochs=1000)
    ranks = workers(launcher.pid)
    assert len(ranks) == 2
    os.kill(ranks[1], signal.SIGKILL)
    killed = time.monotonic()
    _, stderr = launcher.communicate(timeout=90)
    assert time.monotonic() - killed < 60 and launcher.returncode != 0
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "another process of the run stopped" in errors[0], stderr[-2000:]
    assert load_checkpoint(tmp_path / "run" / "last.pt").training is not None


@pytest.fixture(scope="module")
def uninterrupted(config: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 30-epoch 2-rank run that the interrupted ones must reach."""
    out = tmp_path_factory.mktemp("ddp-uninterrupted") / "run"
    train(config, out, "--epochs", "30", nproc=2)
    return out


def test_torchrun_restarts_the_group_and_reaches_the_uninterrupted_weights(config: Path, uninterrupted: Path,
                                                                          tmp_path: Path) -> None:
    launcher = _start_long_run(config, tmp_path / "restarted", restarts=1)
    os.kill(workers(launcher.pid)[1], signal.SIGKILL)
    _, stderr = launcher.communicate(timeout=240)
    assert launcher.returncode == 0, stderr[-2000:]
    assert max_difference(weights(tmp_path / "restarted"), weights(uninterrupted)) < 1e-6
    assert records(tmp_path / "restarted")[-1]["step"] == 90


def test_ctrl_c_on_the_launcher_leaves_a_resumable_checkpoint(config: Path, uninterrupted: Path,
                                                              tmp_path: Path) -> None:
    out = tmp_path / "run"
    launcher = _start_long_run(config, out)
    launcher.send_signal(signal.SIGINT)
    _, stderr = launcher.communicate(timeout=90)
    assert launcher.returncode != 0
    stopped = load_checkpoint(out / "last.pt")
    assert stopped.training is not None and 0 < stopped.training.trainer["step"] < 90, stderr[-2000:]
    train(config, out, "--epochs", "30", "--resume", nproc=2)
    assert max_difference(weights(out), weights(uninterrupted)) < 1e-6


POISONED_RUN = """
import os
import sys
import torch
import yaml
from segen.config import SegConfig
from segen.errors import TrainingStopped
from segen.training import train_segmentation
from segen.training.seg import SegmentationTask, supervised_loss

step = SegmentationTask.train_step

def poisoned(self, batch, index, progress):
    logs = step(self, batch, index, progress)
    if index == 4 and self.group.rank == 1:
        logs["loss"] = torch.tensor(float("nan"))
    return logs

SegmentationTask.train_step = poisoned
settings = yaml.safe_load(open(sys.argv[1]))
settings["train"].update(out=sys.argv[2], epochs=5)
try:
    train_segmentation(SegConfig.from_dict(settings), progress=False)
except TrainingStopped as exc:
    print(f"rank {os.environ['RANK']}: {exc}")
"""


def test_a_nan_on_one_rank_stops_every_rank_at_that_step(config: Path, tmp_path: Path) -> None:
    script = tmp_path / "run.py"
    script.write_text(POISONED_RUN)
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                             str(script), str(config), str(tmp_path / "run")], capture_output=True, text=True,
                            timeout=240, env={**os.environ, "OMP_NUM_THREADS": "1"})
    stops = sorted(re.findall(r"(rank \d): loss became non-finite at step 5;", result.stdout))
    assert stops == ["rank 0", "rank 1"], result.stdout + result.stderr[-2000:]


def test_sigterm_on_one_rank_stops_every_rank_at_the_same_step(config: Path, tmp_path: Path) -> None:
    """A scheduler's SIGTERM reaching only rank 1: both ranks stop after the same step, rank 0 saves it and
    says how to continue."""
    out = tmp_path / "run"
    launcher = _start_long_run(config, out, epochs=1000)
    os.kill(workers(launcher.pid)[1], signal.SIGTERM)
    _, stderr = launcher.communicate(timeout=90)
    stopped = load_checkpoint(out / "last.pt")
    assert stopped.training is not None and 0 < stopped.training.trainer["step"] < 3000, stderr[-2000:]
    assert stderr.count("interrupted: resumable checkpoint") == 1 and "--resume" in stderr
    assert "another process of the run stopped" not in stderr


def test_nproc_runs_torchrun_itself_and_reports_once(config: Path, tmp_path: Path) -> None:
    result = run_segen("seg", "train", "--config", str(config), "--out", str(tmp_path / "run"), "--epochs", "1",
                       "--nproc", "2", "--quiet")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("done: 1 epochs") == 1 and result.stderr.count("epoch 1 ") == 1
    assert result.stdout.count("report: ") == 1 and (tmp_path / "run" / "report.html").is_file()  # rank 0's
    assert load_checkpoint(tmp_path / "run" / "last.pt").config["train"]["batch_size"] == 4


def test_sync_bn_is_refused_on_cpus_with_one_line(config: Path, tmp_path: Path) -> None:
    result = run_segen("seg", "train", "--config", str(config), "--out", str(tmp_path / "run"), "--epochs", "1",
                       "--sync-bn", "--device", "cpu")
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and "--sync-bn needs CUDA" in result.stderr


# -- the parts ---------------------------------------------------------------------------------------------


def test_shares_split_evenly_and_keep_order() -> None:
    assert shares(5, 2) == [3, 2] and shares(4, 4) == [1, 1, 1, 1] and sum(shares(17, 3)) == 17


def test_rank_batches_cover_each_global_batch_once() -> None:
    sampler = ResumableSampler(10, 5, seed=1)
    sampler.set_epoch(0)
    order = list(sampler)
    seen = []
    for rank in range(2):
        for micro in RankBatches(sampler, 5, rank, world=2, accumulate=2):
            seen.append(micro)
    assert sorted(item for micro in seen for item in micro) == sorted(order)
    first_step = RankBatches(sampler, 5, 0, 2, 2).split(order[:5])
    assert first_step == (5, [order[0:2], order[2:3]])
    assert RankBatches(sampler, 5, 1, 2, 2).split(order[:5]) == (5, [order[3:4], order[4:5]])


def test_step_weights_add_up_to_the_global_mean() -> None:
    batch = StepBatch(micro=[None, None], sizes=[2, 1], global_size=5)
    assert sum(batch.weight(i, world=2) for i in range(2)) / 2 == pytest.approx(3 / 5)


def test_a_batch_too_small_to_split_is_one_clear_error() -> None:
    from segen.errors import ConfigError

    with pytest.raises(ConfigError, match="at least 4"):
        RankBatches(ResumableSampler(10, 3, 0), 3, 0, 2, 2).split([1, 2, 3])


def test_size_grouped_batches_of_a_share() -> None:
    sizes = [(4, 4), (8, 8), (4, 4), (8, 8), (4, 4)]
    assert list(SizeGroupedBatches(sizes, 2, indices=[0, 2, 4, 3])) == [[0, 2], [4], [3]]


def test_nproc_is_removed_from_what_each_process_runs() -> None:
    assert without_nproc(["seg", "train", "--nproc", "2", "--out", "r"]) == ["seg", "train", "--out", "r"]
    assert without_nproc(["seg", "train", "--nproc=2"]) == ["seg", "train"]


# -- GANs -------------------------------------------------------------------------------------------------------

GAN_RUNS = """
import json
import sys
from segen.config import GanConfig
from segen.training.gan import train_gan

for settings in json.loads(open(sys.argv[1]).read()):
    train_gan(GanConfig.from_dict(settings), progress=False)
"""


@pytest.fixture(scope="module")
def gan_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """12 images, 2 classes of 6 images, 11 image pairs (8 to train on, 3 to validate)."""
    root = tmp_path_factory.mktemp("ddp-gan-data")
    images = write_folder_dataset(root / "images", SyntheticSpec(16, 16, num_classes=3), seed=5, splits={"train": 12})
    rng = np.random.default_rng(0)
    for k, level in enumerate((40, 200)):
        (root / "classes" / f"class{k}").mkdir(parents=True)
        for i in range(6):
            pixels = np.clip(rng.normal(level, 10, (16, 16)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / "classes" / f"class{k}" / f"{i}.png")
    pairs = write_paired_dataset(root / "pairs", SyntheticSpec(32, 32, num_classes=3), seed=6, count=11)
    return {"images": images / "train" / "images", "classes": root / "classes", "pairs": pairs}


def gan_runs(data: dict[str, Path], out: Path, accumulate: int) -> list[dict[str, object]]:
    """dcgan with R1 (every step) and all DiffAugment ops, cgan with WGAN-GP, pix2pix with validation; GroupNorm
    or no norm (BatchNorm would see each rank's share), 3 global batches of 4 per epoch."""
    train = {"epochs": 2, "batch_size": 4, "accumulate": accumulate, "seed": 1, "checkpoint_every": "off"}
    small = {"width": 8, "d_width": 8}
    return [
        {"model": {"name": "dcgan", **small, "g_norm": "group", "d_norm": "none"}, "loss": "non-saturating",
         "data": {"root": str(data["images"]), "diffaugment": "color,translation,cutout"},
         "optim": {"r1_gamma": 1.0, "r1_interval": 1}, "train": {**train, "out": str(out / "dcgan")}},
        {"model": {"name": "cgan", **small, "g_norm": "group", "d_norm": "none"}, "loss": "wgan-gp",
         "data": {"root": str(data["classes"]), "diffaugment": "translation"},
         "train": {**train, "out": str(out / "cgan")}},
        {"model": {"name": "pix2pix", **small, "depth": 3, "norm": "none", "dropout": 0.0},
         "data": {"root": str(data["pairs"]), "ids": "1-8", "val_ids": "9-11", "jitter": False},
         "train": {**train, "out": str(out / "pix2pix")}},
    ]


def test_gan_ranks_train_the_same_networks_as_one_process(gan_data: dict[str, Path], tmp_path: Path) -> None:
    """2 ranks x 2 accumulated micro-batches against one process: the same generator, discriminator and weight
    average (R1 and WGAN-GP through DDP, noise and DiffAugment drawn per sample of the global batch), the same
    logged losses and pix2pix validation (3 pairs over 2 ranks), one set of files from rank 0."""
    script = tmp_path / "runs.py"
    script.write_text(GAN_RUNS)
    for name, accumulate in (("one", 1), ("two", 2)):
        (tmp_path / f"{name}.json").write_text(json.dumps(gan_runs(gan_data, tmp_path / name, accumulate)))
    run_script(script, 1, str(tmp_path / "one.json"))
    run_script(script, 2, str(tmp_path / "two.json"))
    for model in ("dcgan", "cgan", "pix2pix"):
        single, double = (load_checkpoint(tmp_path / run / model / "last.pt") for run in ("one", "two"))
        assert single.training is not None and double.training is not None
        assert max_difference(single.model.weights, double.model.weights) < 1e-5
        for network in ("generator", "discriminator"):
            assert max_difference(single.training.task[network], double.training.task[network]) < 1e-5
        lines = zip(records(tmp_path / "one" / model), records(tmp_path / "two" / model), strict=True)
        for first, second in lines:
            assert first.keys() == second.keys()
            assert all(first[k] == pytest.approx(second[k], abs=1e-5) for k in first if k != "time_s")
    assert (tmp_path / "two" / "dcgan" / "samples.png").is_file()
    assert "val/l1" in records(tmp_path / "two" / "pix2pix")[-1]


def test_batch_draws_of_the_shares_make_up_the_whole_batch() -> None:
    whole = BatchDraws(7, 0, 5, 5)
    parts = [BatchDraws(7, 0, 2, 5), BatchDraws(7, 2, 5, 5)]
    for draw in (lambda d, n: d.randn((n, 3)), lambda d, n: d.rand((n, 1, 1)), lambda d, n: d.randint(0, 9, (n,))):
        assert torch.equal(draw(whole, 5), torch.cat([draw(part, part.rows) for part in parts]))
    images = torch.rand(5, 3, 8, 8)
    augmented = diff_augment(images, generator=BatchDraws(3, 0, 5, 5))
    halves = [diff_augment(images[a:b], generator=BatchDraws(3, a, b, 5)) for a, b in ((0, 2), (2, 5))]
    assert torch.equal(augmented, torch.cat(halves))
    with pytest.raises(ValueError, match="for 3 samples"):
        BatchDraws(7, 0, 2, 5).rand((3, 1))


def test_a_step_batch_knows_where_its_micro_batches_lie() -> None:
    sampler = ResumableSampler(10, 5, seed=1)
    sampler.set_epoch(0)
    batches = RankBatches(sampler, 5, rank=1, world=2, accumulate=2)
    (step, *_) = step_batches([[3], [4]] * 2, batches)
    assert step.first_row == 3 and [step.rows(i) for i in range(2)] == [(3, 4), (4, 5)]


class ChannelStats(torch.nn.Module):
    """A 6-feature network (per-channel means and standard deviations), so FID needs few images."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], dim=1)


def test_gan_evaluate_shares_the_images_over_ranks_and_scores_as_one_process(tmp_path: Path) -> None:
    """250 generated and 130 real images, in batches of 100 over 2 ranks: FID and KID of one process, printed once."""
    from segen.config import GanConfig
    from segen.training.gan import train_gan

    images = write_folder_dataset(tmp_path / "data", SyntheticSpec(16, 16, num_classes=2), seed=1,
                                  splits={"train": 130}) / "train" / "images"
    train_gan(GanConfig.from_dict({"model": {"name": "dcgan", "width": 8, "d_width": 8},
                                   "data": {"root": str(images)},
                                   "train": {"out": str(tmp_path / "run"), "epochs": 1, "batch_size": 32}}),
              progress=False)
    features = tmp_path / "features.pt"
    torch.jit.script(ChannelStats()).save(str(features))
    args = ("gan", "evaluate", "--checkpoint", str(tmp_path / "run" / "last.pt"), "--data", str(images),
            "--features", str(features), "--num", "250", "--device", "cpu", "--quiet")
    single = run_segen(*args)
    double = torchrun(*args)
    assert single.returncode == 0 and double.returncode == 0, single.stderr + double.stderr
    lines = [line for line in double.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1  # rank 0 reports
    one, two = json.loads(single.stdout.strip().splitlines()[-1]), json.loads(lines[0])
    assert one == two and one["generated_images"] == 250 and one["real_images"] == 130 and one["reliable"]
