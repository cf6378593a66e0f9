#!/usr/bin/env python3
"""Fault injection: training killed with SIGKILL at random moments ends with an uninterrupted run's weights.

A segmentation run (5 kills) and a pix2pix GAN run (3 kills) on synthetic data are each trained once
without interruption (the reference) and once under fire: the run is started, killed with SIGKILL at a
chosen moment, resumed with `--resume`-equivalent settings, killed again, ..., and finally left to
finish. Moments: at a random time during training, during validation, and in the middle of writing a
checkpoint (the child writes half the file, then waits to be killed). For each kill the table gives the
steps done before the kill, the step of the checkpoint the next start resumed from (work lost, which
must not exceed `checkpoint_every`), and at the end the largest absolute difference between the final
weights and the reference's, plus whether the metric logs agree (time stamps aside).

    python benchmarks/fault_injection.py --out benchmarks/out/fault_injection.json
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from segen.checkpoint import load_checkpoint

EVERY_STEPS = 3
SEG_KILLS = ("train", "validation", "checkpoint", "train", "train")
GAN_KILLS = ("train", "checkpoint", "validation")


# -- the child: one training process that reports where it is on stdout ----------------------------------

def _say(line: str) -> None:
    print(line, flush=True)


def child(task: str, data: Path, out: Path, resume: bool, pause_at: str | None) -> None:
    """Train (or resume) the benchmark run; print `step N`; pause at `pause_at` so the parent can kill there."""
    import segen.checkpoint as checkpoint
    from segen.training.trainer import Trainer

    if pause_at == "checkpoint":
        real_save = torch.save

        def half_then_wait(obj: Any, handle: Any, *args: Any, **kwargs: Any) -> None:
            import io

            buffer = io.BytesIO()
            real_save(obj, buffer, *args, **kwargs)
            blob = buffer.getvalue()
            handle.write(blob[: len(blob) // 2])
            handle.flush()
            _say("pause checkpoint")
            time.sleep(60)
            handle.write(blob[len(blob) // 2:])

        checkpoint.torch.save = half_then_wait  # type: ignore[attr-defined]
    if pause_at == "validation":
        real_end = Trainer._end_epoch

        def announce(self: Trainer, complete: bool) -> None:
            _say("pause validation")
            time.sleep(60)
            real_end(self, complete)

        Trainer._end_epoch = announce  # type: ignore[method-assign]

    def report(trainer: Trainer) -> None:
        _say(f"step {trainer.state.step}")

    if task == "seg":
        from segen.training import train_segmentation

        train_segmentation(seg_config(data, out), resume=resume, progress=False, step_callbacks=[report])
    else:
        from segen.training.gan import train_gan

        train_gan(gan_config(data, out), resume=resume, progress=False, step_callbacks=[report])
    _say("done")


def seg_config(data: Path, out: Path) -> Any:
    from segen.config import DataConfig, ModelConfig, SegConfig, TrainConfig

    return SegConfig(model=ModelConfig(name="unet-small", depth=3, base_width=8),
                     data=DataConfig(root=str(data), image_size=(48, 48), min_epoch_samples=48, num_workers=0),
                     train=TrainConfig(out=str(out), epochs=4, batch_size=4, seed=3,
                                       checkpoint_every=f"{EVERY_STEPS}steps"))


def gan_config(data: Path, out: Path) -> Any:
    from segen.config import GanConfig

    return GanConfig.from_dict({
        "model": {"name": "pix2pix", "width": 8, "d_width": 8, "depth": 5},
        "data": {"root": str(data), "ids": "1-24", "val_ids": "25-28"},
        "train": {"out": str(out), "epochs": 3, "batch_size": 4, "seed": 3,
                  "checkpoint_every": f"{EVERY_STEPS}steps"},
        "sample_every": 5})


# -- the parent: runs, kills, resumes, compares ------------------------------------------------------------

def _start(task: str, data: Path, out: Path, resume: bool, pause_at: str | None) -> subprocess.Popen[str]:
    cmd = [sys.executable, __file__, "--child", task, "--data", str(data), "--run", str(out)]
    cmd += ["--resume"] if resume else []
    cmd += ["--pause-at", pause_at] if pause_at else []
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def _checkpoint_step(out: Path) -> int:
    path = out / "last.pt"
    if not path.is_file():
        return 0
    training = load_checkpoint(path).training
    assert training is not None
    return int(training.trainer["step"])


def run_with_kills(task: str, data: Path, out: Path, moments: tuple[str, ...], rng: random.Random,
                   total_steps: int) -> list[dict[str, Any]]:
    """Train under fire; one row per kill."""
    rows: list[dict[str, Any]] = []
    resume = False
    for moment in moments:
        before = _checkpoint_step(out)
        proc = _start(task, data, out, resume, None if moment == "train" else moment)
        kill_after = rng.randint(before + 1, min(before + 2 * EVERY_STEPS + 2, total_steps - 1))
        steps = _watch(proc, moment, kill_after)
        proc.kill()
        steps = max(before, steps, _drain(proc))
        resume = True  # from here on: --resume (from the last checkpoint, or from the start if none was written)
        resumed_from = _checkpoint_step(out)
        rows.append({"moment": moment, "steps_done": steps, "resumes_from": resumed_from,
                     "steps_lost": steps - resumed_from, "temp_files_after_kill": len(list(out.glob(".*.tmp")))})
    proc = _start(task, data, out, resume, None)
    _watch(proc, "end", None)
    proc.wait()
    return rows


def _drain(proc: subprocess.Popen[str]) -> int:
    """The last step the killed child reported (lines still in the pipe)."""
    assert proc.stdout is not None
    steps = [int(line.split()[1]) for line in proc.stdout if line.startswith("step ")]
    proc.wait()
    return steps[-1] if steps else 0


def _watch(proc: subprocess.Popen[str], moment: str, kill_after: int | None) -> int:
    """Read the child's reports until the kill moment; returns the last finished step."""
    steps = 0
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("step "):
            steps = int(line.split()[1])
            if moment == "train" and kill_after is not None and steps >= kill_after:
                time.sleep(random.uniform(0.0, 0.2))  # somewhere inside the next step
                return steps
        elif line.startswith("pause "):
            return steps
        elif line.startswith("done"):
            break
    return steps


def compare(reference: Path, tested: Path) -> dict[str, Any]:
    """Final step, largest weight difference (the generator's, for GANs) and metric logs of two runs."""
    a, b = load_checkpoint(reference / "last.pt"), load_checkpoint(tested / "last.pt")
    diff = max(float((a.model.weights[k].float() - b.model.weights[k].float()).abs().max()) for k in a.model.weights)
    steps = [_checkpoint_step(reference), _checkpoint_step(tested)]
    logs = [[{k: v for k, v in json.loads(line).items() if k != "time_s"}
             for line in (run / "metrics.jsonl").read_text().splitlines()] for run in (reference, tested)]
    return {"final_step": steps, "max_abs_weight_diff": diff,
            "metrics_identical": logs[0] == logs[1],
            "metrics_lines": [len(logs[0]), len(logs[1])], "temp_files_at_end": len(list(tested.glob(".*.tmp")))}


def scenario(task: str, data: Path, work: Path, moments: tuple[str, ...], rng: random.Random) -> dict[str, Any]:
    reference = work / f"{task}-reference"
    start = time.perf_counter()
    proc = _start(task, data, reference, False, None)
    total = _watch(proc, "end", None)
    proc.wait()
    seconds = time.perf_counter() - start
    rows = run_with_kills(task, data, work / f"{task}-killed", moments, rng, total)
    result = compare(reference, work / f"{task}-killed")
    return {"task": task, "steps": total, "reference_seconds": round(seconds, 1), "checkpoint_every_steps": EVERY_STEPS,
            "kills": rows, **result}


def make_data(work: Path) -> tuple[Path, Path]:
    from segen.data import SyntheticSpec, write_folder_dataset
    from segen.data.synthetic import write_paired_dataset

    seg = write_folder_dataset(work / "seg-data", SyntheticSpec(64, 64, num_classes=3), seed=1,
                               splits={"train": 16, "val": 4})
    pairs = write_paired_dataset(work / "gan-data", SyntheticSpec(32, 32, num_classes=3), seed=2, count=28)
    return seg, pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", choices=("seg", "gan"))
    parser.add_argument("--data", type=Path)
    parser.add_argument("--run", type=Path)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--pause-at", choices=("checkpoint", "validation"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="Write the results as JSON here.")
    args = parser.parse_args()
    if args.child:
        torch.set_num_threads(1)
        child(args.child, args.data, args.run, args.resume, args.pause_at)
        return
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="segen-faults-") as tmp:
        work = Path(tmp)
        seg_data, gan_data = make_data(work)
        results = [scenario("seg", seg_data, work, SEG_KILLS, rng), scenario("gan", gan_data, work, GAN_KILLS, rng)]
    for result in results:
        print(f"\n{result['task']}: {result['steps']} steps, checkpoint every {EVERY_STEPS} steps; final step "
              f"{result['final_step']}, max |weight diff| {result['max_abs_weight_diff']:.3g}, metrics identical: "
              f"{result['metrics_identical']}")
        print("| kill moment | steps done | resumed from | steps lost | temp files after the kill |")
        print("|---|---|---|---|---|")
        for row in result["kills"]:
            print(f"| {row['moment']} | {row['steps_done']} | {row['resumes_from']} | {row['steps_lost']} | "
                  f"{row['temp_files_after_kill']} |")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
