#!/usr/bin/env python3
"""Bad inputs: every bad input to the `segen` command ends in one clear line, and nothing is lost.

The promise: a bad input (data, configs, checkpoints, command-line values, images of every odd
kind) ends in one `error: ...` line on stderr naming the file or argument at fault, a non-zero exit,
no traceback, and no file that existed before the command is changed.

This script builds small fixtures in a temporary folder (a synthetic dataset, one tiny segmentation
run, one tiny dcgan run and one tiny pix2pix run, all trained through the real command), then runs
the real `segen` command on each bad input and checks, per case:

- the exit code is non-zero (and the process was not killed);
- stderr ends in exactly one `error: ...` line (progress or note lines may come before it), holds
  no `Traceback`, and is not segen's catch-all `error: unexpected ...` line (an unforeseen exception);
- that line names the culprit (the file, folder or argument at fault);
- every file that existed before (the command's inputs, the fixtures, folders it was pointed at)
  has the same bytes afterwards, and no file appeared in a pre-existing folder.

Some cases are odd but valid inputs (a 16-bit, paletted, CMYK or 1-bit image given to predict):
those pass when the command succeeds, or when it fails by the rules above. Each command runs under
an 8 GiB address-space limit, so that a huge value fails instead of exhausting the machine's memory.

    python benchmarks/bad_inputs.py --out benchmarks/out/bad_inputs.json
    python benchmarks/bad_inputs.py --only checkpoint --keep /tmp/bad   # a subset; keep the fixtures
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import re
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from PIL import Image

MEMORY_LIMIT = 8 << 30
CASE_TIMEOUT = 240.0
TINY_SEG = {"model": {"name": "unet-small", "depth": 3, "base_width": 8},
            "data": {"image_size": [48, 48], "min_epoch_samples": 0, "num_workers": 0},
            "train": {"epochs": 1, "batch_size": 4}}
TINY_GAN = {"model": {"width": 8, "d_width": 8}, "data": {"num_workers": 0}}
TINY_P2P = {"model": {"name": "pix2pix", "width": 8, "d_width": 8, "depth": 5}, "data": {"num_workers": 0}}


# -- running the real command -------------------------------------------------------------------------

def segen_command() -> list[str]:
    """The installed `segen` console script beside this Python (or the module, if there is none)."""
    script = Path(sys.executable).parent / "segen"
    return [str(script)] if script.exists() else [sys.executable, "-m", "segen.cli.main"]


def run_segen(args: list[str], timeout: float = CASE_TIMEOUT) -> tuple[int | None, str, str, float]:
    """Run `segen ARGS`; returns (exit code or None on timeout, stdout, stderr, seconds)."""
    start = time.perf_counter()
    try:
        done = subprocess.run([*segen_command(), *args], capture_output=True, text=True, timeout=timeout,
                              errors="backslashreplace", stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout or ""
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr or ""
        return None, out, err, time.perf_counter() - start
    return done.returncode, done.stdout, done.stderr, time.perf_counter() - start


# -- snapshots: bytes of everything that existed before ------------------------------------------------

def snapshot(paths: list[Path]) -> dict[str, str]:
    """Path -> SHA-256 of every file under `paths` (folders recursively; a folder itself as 'dir')."""
    found: dict[str, str] = {}
    for root in paths:
        if root.is_symlink() or root.is_file():
            found[str(root)] = _digest(root)
        elif root.is_dir():
            found[str(root)] = "dir"
            for path in sorted(root.rglob("*")):
                found[str(path)] = "dir" if path.is_dir() and not path.is_symlink() else _digest(path)
    return found


def _digest(path: Path) -> str:
    if path.is_symlink() and not path.exists():
        return "symlink:" + os.readlink(path)
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        return f"unreadable:{exc.errno}"


def changes(before: dict[str, str], after: dict[str, str], allow_new: bool) -> list[str]:
    """What differs: files changed or removed, and (unless `allow_new`) files added."""
    out = [f"changed {p}" if p in after else f"removed {p}" for p, h in before.items() if after.get(p) != h]
    if not allow_new:
        out += [f"added {p}" for p in after if p not in before]
    return out


# -- odd and broken files ------------------------------------------------------------------------------

def rgb_array(h: int = 40, w: int = 40, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def save(image: Image.Image, path: Path, **kw: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **kw)
    return path


def truncated(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data[: len(data) // 2])
    return path


def encoded(image: Image.Image, fmt: str) -> bytes:
    import io

    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def png_bomb(path: Path, width: int = 100_000, height: int = 100_000) -> Path:
    """A valid PNG header claiming width x height (RGB), with a tiny body: it must be refused from the header."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    body = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    body += chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path


def odd_image(kind: str, path: Path) -> Path:
    """An unusual but valid image of `kind`."""
    rgb = Image.fromarray(rgb_array())
    if kind == "16-bit":
        return save(Image.fromarray(np.asarray(rgb.convert("L")).astype(np.uint16) * 257), path)
    if kind == "palette":
        return save(rgb.convert("P"), path)
    if kind == "rgba":
        return save(rgb.convert("RGBA"), path)
    if kind == "cmyk":
        return save(rgb.convert("CMYK"), path, format="JPEG")
    if kind == "1-bit":
        return save(rgb.convert("1"), path)
    if kind == "float-tiff":
        return save(Image.fromarray(np.asarray(rgb.convert("L")).astype(np.float32) / 255), path, format="TIFF")
    if kind == "1x1":
        return save(Image.fromarray(rgb_array(1, 1)), path)
    if kind == "grey-alpha":
        return save(rgb.convert("LA"), path)
    raise ValueError(kind)


# -- fixtures: built once, shared by the cases (read-only for them) -------------------------------------

@dataclass
class Fixtures:
    """The shared inputs: a dataset, configs and three trained runs."""

    root: Path
    data: Path = field(init=False)
    seg_yaml: Path = field(init=False)
    seg_run: Path = field(init=False)
    gan_yaml: Path = field(init=False)
    gan_run: Path = field(init=False)
    pairs: Path = field(init=False)
    p2p_yaml: Path = field(init=False)
    p2p_run: Path = field(init=False)

    def __post_init__(self) -> None:
        shared = self.root / "shared"
        self.data = shared / "data"
        self.seg_yaml, self.gan_yaml, self.p2p_yaml = shared / "seg.yaml", shared / "gan.yaml", shared / "p2p.yaml"
        self.seg_run, self.gan_run, self.p2p_run = shared / "seg-run", shared / "gan-run", shared / "p2p-run"
        self.pairs = shared / "pairs"

    @property
    def shared(self) -> Path:
        return self.root / "shared"

    def build(self, log: Callable[[str], None]) -> None:
        from segen.data import SyntheticSpec, write_folder_dataset

        if (self.shared / "ready").is_file():
            log(f"reusing fixtures in {self.shared}")
            return
        if self.shared.exists():
            shutil.rmtree(self.shared)
        self.shared.mkdir(parents=True)
        write_folder_dataset(self.data, SyntheticSpec(64, 64, num_classes=3), seed=0,
                             splits={"train": 8, "val": 2, "test": 2})
        self._write_pairs()
        self.seg_yaml.write_text(yaml.safe_dump(TINY_SEG))
        self.gan_yaml.write_text(yaml.safe_dump(TINY_GAN))
        self.p2p_yaml.write_text(yaml.safe_dump(TINY_P2P))
        runs = [
            ["seg", "train", "--data", str(self.data), "--out", str(self.seg_run), "--config", str(self.seg_yaml),
             "--quiet"],
            ["gan", "train", "--model", "dcgan", "--data", str(self.data / "train" / "images"), "--image-size", "32",
             "32", "--out", str(self.gan_run), "--epochs", "1", "--batch-size", "4", "--config", str(self.gan_yaml),
             "--quiet"],
            ["gan", "train", "--data", str(self.pairs), "--out", str(self.p2p_run), "--epochs", "1",
             "--batch-size", "4", "--config", str(self.p2p_yaml), "--quiet"],
        ]
        for args in runs:
            log("fixture: segen " + " ".join(args[:2]) + " ...")
            code, _, err, seconds = run_segen(args, timeout=900)
            if code != 0:
                raise SystemExit(f"fixture run failed ({code}): segen {' '.join(args)}\n{err}")
            log(f"  {seconds:.0f} s")
        (self.shared / "ready").write_text("ok\n")

    def _write_pairs(self) -> None:
        """pix2pix pairs from the dataset: A = colour label maps, B = the images, named 1..N."""
        colours = np.array([[0, 0, 0], [230, 25, 75], [60, 180, 75]], dtype=np.uint8)
        for folder in ("A", "B"):
            (self.pairs / folder).mkdir(parents=True)
        images = sorted((self.data / "train" / "images").iterdir())
        for i, image in enumerate(images, start=1):
            mask = np.asarray(Image.open(self.data / "train" / "masks" / image.name))
            Image.fromarray(colours[np.clip(mask, 0, 2)]).resize((32, 32), Image.Resampling.NEAREST).save(
                self.pairs / "A" / f"{i}.png")
            photo = Image.open(image).convert("RGB").resize((32, 32), Image.Resampling.BILINEAR)
            photo.save(self.pairs / "B" / f"{i}.png")

    # helpers the cases use ----------------------------------------------------------------------------
    def data_copy(self, where: Path) -> Path:
        return Path(shutil.copytree(self.data, where / "data"))

    def run_copy(self, run: Path, where: Path) -> Path:
        return Path(shutil.copytree(run, where / run.name))

    def checkpoint_variant(self, where: Path, name: str, edit: Callable[[dict[str, Any]], Any],
                           source: Path | None = None) -> Path:
        """A copy of the segmentation best.pt (or `source`) with its payload edited by `edit`."""
        import torch

        state = torch.load(source or self.seg_run / "best.pt", weights_only=True)
        result = edit(state)
        path = where / name
        torch.save(state if result is None else result, path)
        return path


# -- the cases -----------------------------------------------------------------------------------------

@dataclass
class Spec:
    """One bad input: the arguments, what the error line must name (any one of), how to judge it."""

    args: list[str]
    culprit: tuple[str, ...]
    expect: str = "error"  # "error": a clean failure; "ok-or-error": success, or a clean failure; "report"
    watch: tuple[Path, ...] = ()
    refused: tuple[Path, ...] = ()  # values checked before any work: nothing may appear at these paths
    skip: str | None = None


@dataclass
class Case:
    command: str
    name: str
    make: Callable[[Fixtures, Path], Spec]


CASES: list[Case] = []


def case(command: str, name: str) -> Callable[[Callable[[Fixtures, Path], Spec]], Callable[[Fixtures, Path], Spec]]:
    def register(make: Callable[[Fixtures, Path], Spec]) -> Callable[[Fixtures, Path], Spec]:
        CASES.append(Case(command, name, make))
        return make
    return register


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def yaml_file(path: Path, data: Any) -> Path:
    return write(path, yaml.safe_dump(data))


# seg train -------------------------------------------------------------------------------------------

def train(fx: Fixtures, tmp: Path, data: Path | str, *extra: str, config: Path | None = None) -> list[str]:
    return ["seg", "train", "--data", str(data), "--out", str(tmp / "run"), "--config", str(config or fx.seg_yaml),
            "--quiet", *extra]


def damaged(fx: Fixtures, tmp: Path, damage: Callable[[Path], object]) -> list[str]:
    data = fx.data_copy(tmp)
    damage(data)
    return train(fx, tmp, data)


@case("seg train", "missing --data folder")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(train(fx, tmp, tmp / "nowhere"), ("nowhere",))


@case("seg train", "--data is a file")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(train(fx, tmp, write(tmp / "notes.txt", "hello\n")), ("notes.txt",))


@case("seg train", "empty --data folder")
def _(fx: Fixtures, tmp: Path) -> Spec:
    (tmp / "empty").mkdir()
    return Spec(train(fx, tmp, tmp / "empty"), ("empty",))


@case("seg train", "text file named .png in train/images")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(damaged(fx, tmp, lambda d: write(d / "train/images/train_0001.png", "not a picture")),
                ("train_0001.png",))


@case("seg train", "zero-byte image")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(damaged(fx, tmp, lambda d: write(d / "train/images/train_0002.png", b"")), ("train_0002.png",))


def _replace_image(data: Path, stem: str, suffix: str, blob: bytes) -> None:
    (data / "train/images" / f"{stem}.png").unlink()
    write(data / "train/images" / f"{stem}{suffix}", blob)


@case("seg train", "truncated JPEG image")
def _(fx: Fixtures, tmp: Path) -> Spec:
    blob = encoded(Image.fromarray(rgb_array(64, 64)), "JPEG")
    return Spec(damaged(fx, tmp, lambda d: _replace_image(d, "train_0004", ".jpg", blob[: len(blob) // 2])),
                ("train_0004.jpg",))


@case("seg train", "mask of the wrong size")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(damaged(fx, tmp, lambda d: save(Image.fromarray(np.zeros((30, 64), np.uint8)),
                                                d / "train/masks/train_0002.png")), ("train_0002.png",))


@case("seg train", "mask with class id 9 (3 classes)")
def _(fx: Fixtures, tmp: Path) -> Spec:
    def damage(d: Path) -> None:
        path = d / "train/masks/train_0006.png"
        mask = np.asarray(Image.open(path)).copy()
        mask[5:9, 5:9] = 9
        Image.fromarray(mask).save(path)
    return Spec(damaged(fx, tmp, damage), ("train_0006.png",))


@case("seg train", "colour (RGB) mask")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(damaged(fx, tmp, lambda d: save(Image.fromarray(rgb_array(64, 64)), d / "train/masks/train_0007.png")),
                ("train_0007.png",))


@case("seg train", "16-bit mask with value 300")
def _(fx: Fixtures, tmp: Path) -> Spec:
    mask = np.zeros((64, 64), np.uint16)
    mask[:8, :8] = 300
    return Spec(damaged(fx, tmp, lambda d: save(Image.fromarray(mask), d / "train/masks/train_0000.png")),
                ("train_0000.png",))


@case("seg train", "a folder named like an image")
def _(fx: Fixtures, tmp: Path) -> Spec:
    def damage(d: Path) -> None:
        (d / "train/images/train_0006.png").unlink()
        (d / "train/images/train_0006.png").mkdir()
    return Spec(damaged(fx, tmp, damage), ("train_0006.png",))


@case("seg train", "malformed classes.yaml")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(damaged(fx, tmp, lambda d: write(d / "classes.yaml", "names: [background, a\n")), ("classes.yaml",))


@case("seg train", "classes.yaml of the wrong shape (names: a string)")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(damaged(fx, tmp, lambda d: yaml_file(d / "classes.yaml", {"names": "background"})), ("classes.yaml",))


@case("seg train", "every mask pixel is the ignore value 255")
def _(fx: Fixtures, tmp: Path) -> Spec:
    def damage(d: Path) -> None:
        for split in ("train", "val"):
            for mask in (d / split / "masks").iterdir():
                Image.fromarray(np.full((64, 64), 255, np.uint8)).save(mask)
    return Spec(damaged(fx, tmp, damage), ("masks", "255", "ignore"))


# configs

def config_case(fx: Fixtures, tmp: Path, content: str | bytes | Any, name: str = "bad.yaml") -> list[str]:
    path = write(tmp / name, content) if isinstance(content, str | bytes) else yaml_file(tmp / name, content)
    return train(fx, tmp, fx.data, config=path)


@case("seg train", "--config file missing")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(train(fx, tmp, fx.data, config=tmp / "nope.yaml"), ("nope.yaml",))


@case("seg train", "--config malformed YAML")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(config_case(fx, tmp, "train: {epochs: 1\n  batch_size: [\n"), ("bad.yaml",))


@case("seg train", "--config is a folder")
def _(fx: Fixtures, tmp: Path) -> Spec:
    (tmp / "conf.d").mkdir()
    return Spec(train(fx, tmp, fx.data, config=tmp / "conf.d"), ("conf.d",))


@case("seg train", "--config with an unknown key")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(config_case(fx, tmp, {**TINY_SEG, "model": {"name": "unet-small", "widht": 8}}), ("widht",))


@case("seg train", "--config with a wrong type (epochs: ten)")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(config_case(fx, tmp, {**TINY_SEG, "train": {"epochs": "ten"}}), ("epochs",))


@case("seg train", "--config with a section that is a list")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(config_case(fx, tmp, {**TINY_SEG, "optim": [1, 2]}), ("optim",))


@case("seg train", "--config with model.depth: 20")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(config_case(fx, tmp, {**TINY_SEG, "model": {"name": "unet-small", "depth": 20}}), ("depth",))


@case("seg train", "--config with optim.lr: .inf")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(config_case(fx, tmp, "optim: {lr: .inf}\n" + yaml.safe_dump(TINY_SEG)), ("lr",), refused=(tmp / "run",))


# command-line values

@case("seg train", "--epochs 0")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(train(fx, tmp, fx.data, "--epochs", "0"), ("--epochs",), refused=(tmp / "run",))


@case("seg train", "--image-size 0 0")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(train(fx, tmp, fx.data, "--image-size", "0", "0"), ("--image-size",), refused=(tmp / "run",))


@case("seg train", "--image-size 100000 100000")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(train(fx, tmp, fx.data, "--image-size", "100000", "100000"), ("image-size", "image_size"),
                refused=(tmp / "run",))


@case("seg train", "--batch-size -4")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(train(fx, tmp, fx.data, "--batch-size", "-4"), ("--batch-size",), refused=(tmp / "run",))


@case("seg train", "--lr inf")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(train(fx, tmp, fx.data, "--lr", "inf"), ("--lr",), refused=(tmp / "run",))


@case("seg train", "--max-time nan")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(train(fx, tmp, fx.data, "--max-time", "nan"), ("--max-time",), refused=(tmp / "run",))


@case("seg train", "--format nosuch")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(train(fx, tmp, fx.data, "--format", "nosuch"), ("nosuch",))


@case("seg train", "--checkpoint-every soon")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(train(fx, tmp, fx.data, "--checkpoint-every", "soon"), ("checkpoint", "soon"), refused=(tmp / "run",))


@case("seg train", "--seed 2**70")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(train(fx, tmp, fx.data, "--seed", str(2**70)), ("--seed",), refused=(tmp / "run",))


@case("seg train", "--data path with a newline in its name")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(train(fx, tmp, tmp / "two\nlines"), ("two",))


# class weights

@case("seg train", "--class-weights file missing")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(train(fx, tmp, fx.data, "--loss", "ce", "--class-weights", str(tmp / "w.yaml")), ("w.yaml",))


@case("seg train", "--class-weights with a zero")
def _(fx: Fixtures, tmp: Path) -> Spec:
    weights = yaml_file(tmp / "w.yaml", {"class_weights": [0.0, 1.0, 1.0]})
    return Spec(train(fx, tmp, fx.data, "--loss", "ce", "--class-weights", str(weights)), ("w.yaml",))


@case("seg train", "--class-weights with 2 weights for 3 classes")
def _(fx: Fixtures, tmp: Path) -> Spec:
    weights = yaml_file(tmp / "w.yaml", {"class_weights": [1.0, 2.0]})
    return Spec(train(fx, tmp, fx.data, "--loss", "ce", "--class-weights", str(weights)), ("w.yaml",))


# pretrained encoders, losses and the U-Net family

def timm_config(tmp: Path) -> Path:
    """The tiny settings with a small timm encoder instead of the native one (base_width is native only)."""
    return yaml_file(tmp / "timm.yaml", {**TINY_SEG, "model": {"name": "unet-small", "encoder": "resnet18"}})


def encoder_weights(fx: Fixtures, tmp: Path, weights: Path) -> Spec:
    return Spec(train(fx, tmp, fx.data, "--encoder-weights", str(weights), config=timm_config(tmp)),
                (weights.name,), refused=(tmp / "run",))


@case("seg train", "--encoder nosuch_net")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(train(fx, tmp, fx.data, "--encoder", "nosuch_net"), ("nosuch_net",), refused=(tmp / "run",))


@case("seg train", "--encoder-weights file missing")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return encoder_weights(fx, tmp, tmp / "resnet18.safetensors")


@case("seg train", "--encoder-weights a text file")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return encoder_weights(fx, tmp, write(tmp / "resnet18.safetensors", "not weights\n"))


@case("seg train", "--encoder-weights of another architecture")
def _(fx: Fixtures, tmp: Path) -> Spec:
    weights = tmp / "other.pt"
    torch.save({"conv1.weight": torch.zeros(8, 3, 3, 3), "fc.bias": torch.zeros(10)}, weights)
    return encoder_weights(fx, tmp, weights)


@case("seg train", "--encoder-weights a pickled object (not weights-only)")
def _(fx: Fixtures, tmp: Path) -> Spec:
    weights = tmp / "pickled.pt"
    torch.save({"conv1.weight": Fixtures}, weights)
    return encoder_weights(fx, tmp, weights)


@case("seg train", "--encoder-weights without a timm --encoder")
def _(fx: Fixtures, tmp: Path) -> Spec:
    weights = write(tmp / "w.safetensors", "x")
    return Spec(train(fx, tmp, fx.data, "--encoder-weights", str(weights)), ("encoder",), refused=(tmp / "run",))


@case("seg train", "--freeze-encoder soon")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(train(fx, tmp, fx.data, "--freeze-encoder", "soon", config=timm_config(tmp)), ("freeze",),
                refused=(tmp / "run",))


@case("seg train", "--loss ce+0.5*nosuch")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(train(fx, tmp, fx.data, "--loss", "ce+0.5*nosuch"), ("nosuch",), refused=(tmp / "run",))


@case("seg train", "--loss ce+-1*dice (a negative weight)")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(train(fx, tmp, fx.data, "--loss", "ce+-1*dice"), ("--loss", "-1"), refused=(tmp / "run",))


@case("seg train", "--loss lovasz-hinge on 3 classes")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(train(fx, tmp, fx.data, "--loss", "lovasz-hinge"), ("lovasz-hinge",), refused=(tmp / "run",))


@case("seg train", "--deep-supervision for a U-Net")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(train(fx, tmp, fx.data, "--deep-supervision"), ("deep_supervision",), refused=(tmp / "run",))


# outputs and resuming

@case("seg train", "--out is a file")
def _(fx: Fixtures, tmp: Path) -> Spec:
    out = write(tmp / "results.txt", "my results\n")
    return Spec(["seg", "train", "--data", str(fx.data), "--out", str(out), "--config", str(fx.seg_yaml), "--quiet"],
                ("results.txt",))


@case("seg train", "--out is a foreign non-empty folder")
def _(fx: Fixtures, tmp: Path) -> Spec:
    write(tmp / "thesis/chapter1.tex", "precious\n")
    return Spec(["seg", "train", "--data", str(fx.data), "--out", str(tmp / "thesis"), "--config", str(fx.seg_yaml),
                 "--quiet"], ("thesis",))


@case("seg train", "--resume with a changed --seed")
def _(fx: Fixtures, tmp: Path) -> Spec:
    run = fx.run_copy(fx.seg_run, tmp)
    return Spec(["seg", "train", "--out", str(run), "--resume", "--seed", "7", "--epochs", "2", "--quiet"],
                ("seed",))


@case("seg train", "--resume with a truncated last.pt")
def _(fx: Fixtures, tmp: Path) -> Spec:
    run = fx.run_copy(fx.seg_run, tmp)
    truncated(run / "last.pt", (run / "last.pt").read_bytes())
    return Spec(["seg", "train", "--out", str(run), "--resume", "--epochs", "2", "--quiet"], ("last.pt",))


@case("seg train", "--resume with a malformed config.yaml")
def _(fx: Fixtures, tmp: Path) -> Spec:
    run = fx.run_copy(fx.seg_run, tmp)
    write(run / "config.yaml", "model: {name: [\n")
    return Spec(["seg", "train", "--out", str(run), "--resume", "--epochs", "2", "--quiet"], ("config.yaml",))


@case("seg train", "read-only --out folder")
def _(fx: Fixtures, tmp: Path) -> Spec:
    out = tmp / "locked"
    out.mkdir()
    out.chmod(0o555)
    args = ["seg", "train", "--data", str(fx.data), "--out", str(out / "run"), "--config", str(fx.seg_yaml), "--quiet"]
    skip = None
    if os.access(out, os.W_OK):
        skip = "the folder stays writable (running as root, which permissions do not bind)"
    return Spec(args, ("locked",), skip=skip)


# seg predict -----------------------------------------------------------------------------------------

def predict(fx: Fixtures, tmp: Path, checkpoint: Path | None = None, source: Path | None = None,
            *extra: str) -> list[str]:
    return ["seg", "predict", "--checkpoint", str(checkpoint or fx.seg_run / "best.pt"), "--input",
            str(source or fx.data / "test" / "images"), "--out", str(tmp / "pred"), "--quiet", *extra]


CHECKPOINT_FILES: dict[str, Callable[[Fixtures, Path], Path]] = {
    "missing": lambda fx, tmp: tmp / "gone.pt",
    "a folder": lambda fx, tmp: _folder(tmp / "dir.pt"),
    "a text file": lambda fx, tmp: write(tmp / "notes.pt", "these are my notes\n"),
    "random bytes": lambda fx, tmp: write(tmp / "random.pt", np.random.default_rng(0).bytes(4096)),
    "truncated": lambda fx, tmp: truncated(tmp / "half.pt", (fx.seg_run / "best.pt").read_bytes()),
    "pickled code": lambda fx, tmp: _torch_save(Fixtures(tmp), tmp / "code.pt"),
    "from a newer version": lambda fx, tmp: fx.checkpoint_variant(tmp, "v99.pt", lambda s: s.update(version=99)),
    "without its model": lambda fx, tmp: fx.checkpoint_variant(tmp, "nomodel.pt", lambda s: s.pop("model")),
    "with weights of the wrong shape": lambda fx, tmp: fx.checkpoint_variant(
        tmp, "shape.pt", lambda s: s["model"]["kwargs"].update(base_width=16)),
    "of an unknown model": lambda fx, tmp: fx.checkpoint_variant(
        tmp, "unknown.pt", lambda s: s["model"].update(name="unet-huge")),
}


def _folder(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


def _torch_save(obj: Any, path: Path) -> Path:
    import torch

    torch.save(obj, path)
    return path


def _culprit(path: Path) -> tuple[str, ...]:
    return (path.name,)


for _what in CHECKPOINT_FILES:
    def _make(fx: Fixtures, tmp: Path, what: str = _what) -> Spec:
        path = CHECKPOINT_FILES[what](fx, tmp)
        return Spec(predict(fx, tmp, path), _culprit(path))
    case("seg predict", f"--checkpoint {_what}")(_make)


@case("seg predict", "--checkpoint of a GAN")
def _(fx: Fixtures, tmp: Path) -> Spec:
    path = Path(shutil.copy(fx.gan_run / "last.pt", tmp / "gan.pt"))
    return Spec(predict(fx, tmp, path), ("gan.pt",))


def predict_inputs(fx: Fixtures, tmp: Path, name: str, blob: bytes) -> Spec:
    source = Path(shutil.copytree(fx.data / "test" / "images", tmp / "in"))
    write(source / name, blob)
    return Spec(predict(fx, tmp, None, source), (name,))


@case("seg predict", "--prune 1 with a U-Net checkpoint")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(predict(fx, tmp, None, None, "--prune", "1"), ("best.pt",), refused=(tmp / "pred",))


@case("seg predict", "--input missing")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(predict(fx, tmp, None, tmp / "photos"), ("photos",))


@case("seg predict", "--input empty folder")
def _(fx: Fixtures, tmp: Path) -> Spec:
    (tmp / "photos").mkdir()
    return Spec(predict(fx, tmp, None, tmp / "photos"), ("photos",))


@case("seg predict", "text file named .png")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return predict_inputs(fx, tmp, "zz_text.png", b"just text")


@case("seg predict", "truncated JPEG")
def _(fx: Fixtures, tmp: Path) -> Spec:
    blob = encoded(Image.fromarray(rgb_array(64, 64)), "JPEG")
    return predict_inputs(fx, tmp, "zz_cut.jpg", blob[: len(blob) // 2])


@case("seg predict", "truncated TIFF")
def _(fx: Fixtures, tmp: Path) -> Spec:
    blob = encoded(Image.fromarray(rgb_array(64, 64)), "TIFF")
    return predict_inputs(fx, tmp, "zz_cut.tif", blob[: len(blob) // 2])


@case("seg predict", "PNG header claiming 100000x100000")
def _(fx: Fixtures, tmp: Path) -> Spec:
    source = tmp / "in"
    source.mkdir()
    png_bomb(source / "bomb.png")
    return Spec(predict(fx, tmp, None, source), ("bomb.png",))


@case("seg predict", "a folder named like an image")
def _(fx: Fixtures, tmp: Path) -> Spec:
    source = Path(shutil.copytree(fx.data / "test" / "images", tmp / "in"))
    (source / "zz_folder.png").mkdir()
    return Spec(predict(fx, tmp, None, source), ("zz_folder.png",), expect="ok-or-error")


@case("seg predict", "a dangling symlink named .png")
def _(fx: Fixtures, tmp: Path) -> Spec:
    source = Path(shutil.copytree(fx.data / "test" / "images", tmp / "in"))
    (source / "zz_link.png").symlink_to(tmp / "gone.png")
    return Spec(predict(fx, tmp, None, source), ("zz_link.png",), expect="ok-or-error")


@case("seg predict", "--out is a file")
def _(fx: Fixtures, tmp: Path) -> Spec:
    out = write(tmp / "masks.txt", "mine\n")
    args = predict(fx, tmp)
    args[args.index("--out") + 1] = str(out)
    return Spec(args, ("masks.txt",))


@case("seg predict", "--out holds a file of the same name as an output")
def _(fx: Fixtures, tmp: Path) -> Spec:
    save(Image.fromarray(rgb_array()), tmp / "pred" / "test_0001.png")
    return Spec(predict(fx, tmp), ("test_0001.png",))


@case("seg predict", "--out is the input folder")
def _(fx: Fixtures, tmp: Path) -> Spec:
    source = Path(shutil.copytree(fx.data / "test" / "images", tmp / "in"))
    args = predict(fx, tmp, None, source)
    args[args.index("--out") + 1] = str(source)
    return Spec(args, ("--out",))


for _kind in ("16-bit", "palette", "rgba", "cmyk", "1-bit", "float-tiff", "1x1"):
    def _make_odd(fx: Fixtures, tmp: Path, kind: str = _kind) -> Spec:
        suffix = {"cmyk": ".jpg", "float-tiff": ".tif"}.get(kind, ".png")
        path = odd_image(kind, tmp / "in" / f"odd{suffix}")
        return Spec(predict(fx, tmp, None, path), (path.name,), expect="ok-or-error")
    case("seg predict", f"{_kind} image")(_make_odd)


@case("seg predict", "file name that is not UTF-8")
def _(fx: Fixtures, tmp: Path) -> Spec:
    source = tmp / "in"
    source.mkdir()
    name = os.fsdecode(b"caf\xe9.png")
    save(Image.fromarray(rgb_array()), source / name)
    return Spec(predict(fx, tmp, None, source), ("caf",), expect="ok-or-error")


# seg evaluate ----------------------------------------------------------------------------------------

def evaluate(fx: Fixtures, data: Path, *extra: str, checkpoint: Path | None = None) -> list[str]:
    return ["seg", "evaluate", "--checkpoint", str(checkpoint or fx.seg_run / "best.pt"), "--data", str(data),
            "--quiet", *extra]


@case("seg evaluate", "--split nosuch")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(evaluate(fx, fx.data, "--split", "nosuch"), ("nosuch",))


@case("seg evaluate", "--checkpoint of a GAN")
def _(fx: Fixtures, tmp: Path) -> Spec:
    path = Path(shutil.copy(fx.gan_run / "last.pt", tmp / "gan.pt"))
    return Spec(evaluate(fx, fx.data, checkpoint=path), ("gan.pt",))


@case("seg evaluate", "test mask with a class id the model lacks")
def _(fx: Fixtures, tmp: Path) -> Spec:
    data = fx.data_copy(tmp)
    path = data / "test/masks/test_0001.png"
    mask = np.asarray(Image.open(path)).copy()
    mask[0, 0] = 5
    Image.fromarray(mask).save(path)
    return Spec(evaluate(fx, data), ("test_0001.png",))


@case("seg evaluate", "test split without masks")
def _(fx: Fixtures, tmp: Path) -> Spec:
    data = fx.data_copy(tmp)
    shutil.rmtree(data / "test/masks")
    return Spec(evaluate(fx, data), ("test",))


@case("seg evaluate", "--json is a folder")
def _(fx: Fixtures, tmp: Path) -> Spec:
    write(tmp / "scores/keep.txt", "mine\n")
    return Spec(evaluate(fx, fx.data, "--json", str(tmp / "scores")), ("scores",))


@case("seg evaluate", "--json under a file")
def _(fx: Fixtures, tmp: Path) -> Spec:
    write(tmp / "notes.txt", "mine\n")
    return Spec(evaluate(fx, fx.data, "--json", str(tmp / "notes.txt" / "scores.json")), ("notes.txt",))


@case("seg evaluate", "--format nosuch")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(evaluate(fx, fx.data, "--format", "nosuch"), ("nosuch",))


# gan train -------------------------------------------------------------------------------------------

def gan_train(fx: Fixtures, tmp: Path, data: Path | str, *extra: str, config: Path | None = None) -> list[str]:
    return ["gan", "train", "--data", str(data), "--out", str(tmp / "run"), "--epochs", "1", "--batch-size", "4",
            "--image-size", "32", "32", "--config", str(config or fx.gan_yaml), "--quiet", *extra]


@case("gan train", "missing --data")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(gan_train(fx, tmp, tmp / "nowhere"), ("nowhere",))


@case("gan train", "truncated JPEG among the images")
def _(fx: Fixtures, tmp: Path) -> Spec:
    images = Path(shutil.copytree(fx.data / "train/images", tmp / "images"))
    blob = encoded(Image.fromarray(rgb_array(64, 64)), "JPEG")
    write(images / "zz_cut.jpg", blob[: len(blob) // 2])
    return Spec(gan_train(fx, tmp, images), ("zz_cut.jpg",))


@case("gan train", "cgan on a folder without class sub-folders")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(gan_train(fx, tmp, fx.data / "train/images", "--model", "cgan"), ("images",))


@case("gan train", "pix2pix side-by-side pair of odd width")
def _(fx: Fixtures, tmp: Path) -> Spec:
    save(Image.fromarray(rgb_array(32, 65)), tmp / "pairs/1.png")
    save(Image.fromarray(rgb_array(32, 64)), tmp / "pairs/2.png")
    return Spec(gan_train(fx, tmp, tmp / "pairs", "--model", "pix2pix", config=fx.p2p_yaml), ("1.png",))


@case("gan train", "pix2pix A/ file without a partner in B/")
def _(fx: Fixtures, tmp: Path) -> Spec:
    pairs = Path(shutil.copytree(fx.pairs, tmp / "pairs"))
    (pairs / "B" / "3.png").unlink()
    return Spec(gan_train(fx, tmp, pairs, config=fx.p2p_yaml), ("3.png",))


@case("gan train", "IDX file with a bad magic number")
def _(fx: Fixtures, tmp: Path) -> Spec:
    write(tmp / "idx/train-images-idx3-ubyte", b"\x12\x34\x56\x78" + bytes(100))
    return Spec(gan_train(fx, tmp, tmp / "idx"), ("train-images-idx3-ubyte",))


@case("gan train", "truncated gzipped IDX file")
def _(fx: Fixtures, tmp: Path) -> Spec:
    blob = gzip.compress(struct.pack(">IIII", 0x00000803, 10, 28, 28) + bytes(10 * 28 * 28))
    write(tmp / "idx/train-images-idx3-ubyte.gz", blob[: len(blob) // 2])
    return Spec(gan_train(fx, tmp, tmp / "idx"), ("train-images-idx3-ubyte.gz",))


@case("gan train", "--image-size 2000 2000")
def _(fx: Fixtures, tmp: Path) -> Spec:
    args = gan_train(fx, tmp, fx.data / "train/images")
    args[args.index("--image-size") + 1: args.index("--image-size") + 3] = ["2000", "2000"]
    return Spec(args, ("--image-size",), refused=(tmp / "run",))


@case("gan train", "--g-lr inf")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(gan_train(fx, tmp, fx.data / "train/images", "--g-lr", "inf"), ("--g-lr",), refused=(tmp / "run",))


@case("gan train", "--config of a segmentation run")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(gan_train(fx, tmp, fx.data / "train/images", config=fx.seg_yaml), ("unet-small", "seg.yaml"))


@case("gan train", "--out is a foreign non-empty folder")
def _(fx: Fixtures, tmp: Path) -> Spec:
    write(tmp / "run/holiday.jpg", b"\xff\xd8 my photo")
    return Spec(gan_train(fx, tmp, fx.data / "train/images"), ("run",))


@case("gan train", "--resume with a changed --seed")
def _(fx: Fixtures, tmp: Path) -> Spec:
    run = fx.run_copy(fx.gan_run, tmp)
    return Spec(["gan", "train", "--out", str(run), "--resume", "--seed", "7", "--epochs", "2", "--quiet"], ("seed",))


# gan sample ------------------------------------------------------------------------------------------

def sample(checkpoint: Path, out: Path, *extra: str) -> list[str]:
    return ["gan", "sample", "--checkpoint", str(checkpoint), "--out", str(out), *extra]


@case("gan sample", "--checkpoint of a segmentation run")
def _(fx: Fixtures, tmp: Path) -> Spec:
    path = Path(shutil.copy(fx.seg_run / "best.pt", tmp / "seg.pt"))
    return Spec(sample(path, tmp / "s"), ("seg.pt",))


@case("gan sample", "--checkpoint from a newer version")
def _(fx: Fixtures, tmp: Path) -> Spec:
    path = fx.checkpoint_variant(tmp, "v99.pt", lambda s: s.update(version=99), fx.gan_run / "last.pt")
    return Spec(sample(path, tmp / "s"), ("v99.pt",))


@case("gan sample", "--num 1000000000000")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(sample(fx.gan_run / "last.pt", tmp / "s", "--num", "1000000000000"), ("--num",))


@case("gan sample", "--seed 2**70")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(sample(fx.gan_run / "last.pt", tmp / "s", "--seed", str(2**70)), ("--seed",), refused=(tmp / "s",))


@case("gan sample", "--class 5 for a dcgan")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(sample(fx.gan_run / "last.pt", tmp / "s", "--class", "5"), ("--class",))


@case("gan sample", "--out is a file")
def _(fx: Fixtures, tmp: Path) -> Spec:
    out = write(tmp / "samples.png", b"my picture")
    return Spec(sample(fx.gan_run / "last.pt", out, "--num", "2"), ("samples.png",))


@case("gan sample", "--out holds files of the same names")
def _(fx: Fixtures, tmp: Path) -> Spec:
    out = tmp / "album"
    save(Image.fromarray(rgb_array()), out / "00000.png")
    return Spec(sample(fx.gan_run / "last.pt", out, "--num", "2"), ("00000.png",))


@case("gan sample", "pix2pix without --input")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(sample(fx.p2p_run / "last.pt", tmp / "s"), ("--input",))


@case("gan sample", "pix2pix --input missing")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(sample(fx.p2p_run / "last.pt", tmp / "s", "--input", str(tmp / "maps")), ("maps",))


@case("gan sample", "pix2pix --input truncated PNG")
def _(fx: Fixtures, tmp: Path) -> Spec:
    source = Path(shutil.copytree(fx.pairs / "A", tmp / "maps"))
    truncated(source / "zz_cut.png", (source / "1.png").read_bytes())
    return Spec(sample(fx.p2p_run / "last.pt", tmp / "s", "--input", str(source)), ("zz_cut.png",))


@case("gan sample", "pix2pix --out is the --input folder")
def _(fx: Fixtures, tmp: Path) -> Spec:
    source = Path(shutil.copytree(fx.pairs / "A", tmp / "maps"))
    return Spec(sample(fx.p2p_run / "last.pt", source, "--input", str(source)), ("maps", "--out"))


@case("gan sample", "pix2pix --input 16-bit image")
def _(fx: Fixtures, tmp: Path) -> Spec:
    path = odd_image("16-bit", tmp / "maps/deep.png")
    return Spec(sample(fx.p2p_run / "last.pt", tmp / "s", "--input", str(path)), ("deep.png",), expect="ok-or-error")


@case("gan sample", "dcgan given --input")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(sample(fx.gan_run / "last.pt", tmp / "s", "--input", str(fx.pairs / "A")), ("--input",))


# gan evaluate ----------------------------------------------------------------------------------------

def gan_eval(fx: Fixtures, *extra: str) -> list[str]:
    return ["gan", "evaluate", "--data", str(fx.data / "train/images"), "--num", "16", "--quiet", *extra]


@case("gan evaluate", "both --checkpoint and --samples")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(gan_eval(fx, "--checkpoint", str(fx.gan_run / "last.pt"), "--samples", str(fx.data / "test/images")),
                ("--checkpoint", "--samples"))


@case("gan evaluate", "--features is a text file")
def _(fx: Fixtures, tmp: Path) -> Spec:
    features = write(tmp / "net.pt", "not a network\n")
    return Spec(gan_eval(fx, "--checkpoint", str(fx.gan_run / "last.pt"), "--features", str(features),
                         "--allow-few-images"), ("net.pt",))


@case("gan evaluate", "--inception-weights of random bytes")
def _(fx: Fixtures, tmp: Path) -> Spec:
    weights = write(tmp / "inception.pth", np.random.default_rng(1).bytes(2048))
    return Spec(gan_eval(fx, "--checkpoint", str(fx.gan_run / "last.pt"), "--inception-weights", str(weights),
                         "--allow-few-images"), ("inception.pth",))


@case("gan evaluate", "--segmenter is a GAN checkpoint")
def _(fx: Fixtures, tmp: Path) -> Spec:
    segmenter = Path(shutil.copy(fx.gan_run / "last.pt", tmp / "gan.pt"))
    return Spec(["gan", "evaluate", "--checkpoint", str(fx.p2p_run / "last.pt"), "--data", str(fx.pairs),
                 "--metrics", "fcn", "--segmenter", str(segmenter), "--quiet"], ("gan.pt",))


@case("gan evaluate", "--data missing")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(["gan", "evaluate", "--checkpoint", str(fx.p2p_run / "last.pt"), "--data", str(tmp / "nowhere"),
                 "--metrics", "fcn", "--segmenter", str(fx.seg_run / "best.pt"), "--quiet"], ("nowhere",))


@case("gan evaluate", "--features missing")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(gan_eval(fx, "--checkpoint", str(fx.gan_run / "last.pt"), "--features", str(tmp / "none.pt"),
                         "--allow-few-images"), ("none.pt",))


# data ------------------------------------------------------------------------------------------------

@case("data check", "missing root")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(["data", "check", str(tmp / "nowhere"), "--quiet"], ("nowhere",), expect="report")


@case("data check", "root is a file")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(["data", "check", str(write(tmp / "list.txt", "a\n")), "--quiet"], ("list.txt",), expect="report")


@case("data check", "damaged dataset (a report, exit 1)")
def _(fx: Fixtures, tmp: Path) -> Spec:
    data = fx.data_copy(tmp)
    write(data / "train/images/train_0001.png", "text")
    return Spec(["data", "check", str(data), "--quiet"], ("train_0001.png",), expect="report")


@case("data stats", "missing root")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(["data", "stats", str(tmp / "nowhere"), "--quiet"], ("nowhere",))


@case("data stats", "--write-weights is a folder")
def _(fx: Fixtures, tmp: Path) -> Spec:
    write(tmp / "weights/keep.txt", "mine\n")
    return Spec(["data", "stats", str(fx.data), "--write-weights", str(tmp / "weights"), "--quiet"], ("weights",))


@case("data stats", "mask with class id 9")
def _(fx: Fixtures, tmp: Path) -> Spec:
    data = fx.data_copy(tmp)
    path = data / "train/masks/train_0004.png"
    mask = np.asarray(Image.open(path)).copy()
    mask[0, 0] = 9
    Image.fromarray(mask).save(path)
    return Spec(["data", "stats", str(data), "--quiet"], ("train_0004.png",))


@case("data convert", "--from nosuch")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(["data", "convert", "--from", "nosuch", str(fx.data), "--to", str(tmp / "dst"), "--quiet"],
                ("nosuch",))


@case("data convert", "missing source")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(["data", "convert", "--from", "folder", str(tmp / "nowhere"), "--to", str(tmp / "dst"), "--quiet"],
                ("nowhere",))


@case("data convert", "--to is a foreign non-empty folder")
def _(fx: Fixtures, tmp: Path) -> Spec:
    write(tmp / "dst/train/images/mine.png", b"\x89PNG mine")
    return Spec(["data", "convert", "--from", "folder", str(fx.data), "--to", str(tmp / "dst"), "--quiet"], ("dst",))


@case("data convert", "--to is a file")
def _(fx: Fixtures, tmp: Path) -> Spec:
    dst = write(tmp / "dst.zip", b"PK zip")
    return Spec(["data", "convert", "--from", "folder", str(fx.data), "--to", str(dst), "--quiet"], ("dst.zip",))


@case("data convert", "--resize 0 0")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(["data", "convert", "--from", "folder", str(fx.data), "--to", str(tmp / "dst"), "--resize", "0", "0",
                 "--quiet"], ("--resize",))


@case("data preview", "missing root")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(["data", "preview", str(tmp / "nowhere"), "--out", str(tmp / "grid.png")], ("nowhere",))


@case("data preview", "--out is a folder")
def _(fx: Fixtures, tmp: Path) -> Spec:
    write(tmp / "pictures/keep.txt", "mine\n")
    return Spec(["data", "preview", str(fx.data), "--out", str(tmp / "pictures")], ("pictures",))


@case("data preview", "--config malformed")
def _(fx: Fixtures, tmp: Path) -> Spec:
    config = write(tmp / "bad.yaml", "data: {image_size: [\n")
    return Spec(["data", "preview", str(fx.data), "--out", str(tmp / "grid.png"), "--config", str(config)],
                ("bad.yaml",))


@case("data preview", "--config whose data section is a list")
def _(fx: Fixtures, tmp: Path) -> Spec:
    config = write(tmp / "bad.yaml", "data: [1, 2]\n")
    return Spec(["data", "preview", str(fx.data), "--out", str(tmp / "grid.png"), "--config", str(config)],
                ("bad.yaml", "data"))


@case("data preview", "--samples 1000000000")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(["data", "preview", str(fx.data), "--out", str(tmp / "grid.png"), "--samples", "1000000000"],
                ("--samples",), refused=(tmp / "grid.png",))


@case("data download", "unknown dataset")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(["data", "download", "imagenet", "--root", str(tmp / "dl")], ("imagenet",))


@case("data download", "--root is a file")
def _(fx: Fixtures, tmp: Path) -> Spec:
    root = write(tmp / "downloads.txt", "mine\n")
    return Spec(["data", "download", "oxford-pet", "--root", str(root), "--deadline", "5"], ("downloads.txt",))


@case("data download", "--deadline -1")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(["data", "download", "oxford-pet", "--root", str(tmp / "dl"), "--deadline", "-1"], ("--deadline",))


# demo and the command line itself -------------------------------------------------------------------

@case("demo", "--out is a file")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(["demo", "--out", str(write(tmp / "demo.txt", "mine\n")), "--quiet"], ("demo.txt",))


@case("demo", "--out is a foreign non-empty folder")
def _(fx: Fixtures, tmp: Path) -> Spec:
    write(tmp / "work/report.docx", b"mine")
    return Spec(["demo", "--out", str(tmp / "work"), "--quiet"], ("work",))


@case("demo", "--minutes nan")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(["demo", "--out", str(tmp / "demo"), "--minutes", "nan", "--quiet"], ("--minutes",))


@case("segen", "unknown command")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(["seg", "fit"], ("fit",))


@case("segen", "unknown option")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(["seg", "predict", "--checkpoint", str(fx.seg_run / "best.pt"), "--colour"], ("--colour",))


@case("segen", "missing required option")
def _(fx: Fixtures, tmp: Path) -> Spec:
    return Spec(["seg", "predict", "--input", str(fx.data / "test/images"), "--out", str(tmp / "p")],
                ("--checkpoint",))


# -- judging -------------------------------------------------------------------------------------------

@dataclass
class Result:
    command: str
    case: str
    args: list[str]
    exit_code: int | None
    one_line: bool
    names_culprit: bool
    untouched: bool
    passed: bool
    error_line: str
    expect: str
    seconds: float
    changed: list[str]
    skipped: str | None = None
    stderr_tail: str = ""


def error_line(stderr: str) -> tuple[bool, str]:
    """(stderr ends in exactly one clear `error:` line and holds no traceback, that last line)."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    last = lines[-1].strip() if lines else ""
    errors = [line for line in lines if line.startswith("error:")]
    clean = (last.startswith("error: ") and len(errors) == 1 and "Traceback" not in stderr
             and not last.startswith("error: unexpected "))
    return clean, last


def path_args(args: list[str]) -> list[Path]:
    """The arguments that name an existing file or folder (the command's inputs and targets)."""
    return [Path(a) for a in args if os.path.isabs(a) and os.path.lexists(a)]


def run_case(number: int, item: Case, fx: Fixtures, work: Path) -> Result:
    tmp = work / f"case-{number:03d}"
    tmp.mkdir(parents=True)
    spec = item.make(fx, tmp)
    if spec.skip:
        return Result(item.command, item.name, spec.args, None, False, False, True, False, "", spec.expect, 0.0, [],
                      skipped=spec.skip)
    watched = [fx.shared, *path_args(spec.args), *spec.watch]
    before = snapshot(watched)
    code, out, err, seconds = run_segen(spec.args)
    clean, line = error_line(err)
    succeeded = code == 0
    allow_new = spec.expect == "ok-or-error" and succeeded
    changed = changes(before, snapshot(watched), allow_new) + [f"written {p}" for p in spec.refused if p.exists()]
    untouched = not changed
    if spec.expect == "report":
        named = any(c in out for c in spec.culprit)
        clean = code == 1 and "Traceback" not in err + out
        line = next((ln.strip() for ln in out.splitlines() if any(c in ln for c in spec.culprit)), line)
        passed = clean and named and untouched
    else:
        named = any(c in line for c in spec.culprit)
        failed_cleanly = code is not None and code > 0 and clean and named
        passed = untouched and (failed_cleanly or (spec.expect == "ok-or-error" and succeeded))
        if succeeded:
            line = "(succeeded) " + (out.strip().splitlines() or [""])[-1]
    if code is None:
        line = f"(timed out after {CASE_TIMEOUT:.0f} s) {line}"
    return Result(item.command, item.name, spec.args, code, clean, named, untouched, passed, line, spec.expect,
                  round(seconds, 1), changed[:5], stderr_tail=err[-2000:])


# -- report --------------------------------------------------------------------------------------------

def shorten(text: str, tmp: str, width: int = 120) -> str:
    """`text` for a table cell: paths relative to the case's folder (or the fixtures), at most `width` long."""
    text = re.sub(re.escape(tmp) + r"/cases-\d+/case-\d+/", "", text).replace(tmp + "/", "")
    text = text.replace("|", "\\|").replace("`", "'")
    return text if len(text) <= width else text[: width - 1] + "…"


def table(results: list[Result], tmp: str) -> str:
    mark = {True: "yes", False: "**no**"}
    rows = ["| # | command | case | exit | one line? | names the culprit? | untouched? | pass | error line |",
            "|---|---|---|---|---|---|---|---|---|"]
    for i, r in enumerate(results, start=1):
        if r.skipped:
            rows.append(f"| {i} | {r.command} | {r.case} | – | – | – | – | skipped | {shorten(r.skipped, tmp)} |")
            continue
        ok = r.exit_code == 0 and r.expect == "ok-or-error"
        rows.append(f"| {i} | {r.command} | {r.case} | {r.exit_code if r.exit_code is not None else 'timeout'} | "
                    f"{'–' if ok else mark[r.one_line]} | {'–' if ok else mark[r.names_culprit]} | "
                    f"{mark[r.untouched]} | {'pass' if r.passed else '**FAIL**'} | `{shorten(r.error_line, tmp)}` |")
    return "\n".join(rows)


def summary(results: list[Result]) -> str:
    tried = [r for r in results if not r.skipped]
    return f"{len(tried)} tried / {sum(r.passed for r in tried)} passed ({len(results) - len(tried)} skipped)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="Write the results as JSON here.")
    parser.add_argument("--only", help="Run only the cases whose command or name holds this text (a regex).")
    parser.add_argument("--keep", type=Path, help="Build (or reuse) the fixtures in this folder and keep it.")
    parser.add_argument("--jobs", type=int, default=2, help="Cases run at once (default 2).")
    parser.add_argument("--list", action="store_true", help="List the cases and stop.")
    opts = parser.parse_args()
    selected = [c for c in CASES if not opts.only or re.search(opts.only, f"{c.command}: {c.name}")]
    if opts.list:
        for i, c in enumerate(selected, start=1):
            print(f"{i:3d}  {c.command}: {c.name}")
        return
    if not Path("/dev/nvidia0").exists():  # CUDA reserves far more address space than it uses
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, resource.getrlimit(resource.RLIMIT_AS)[1]))
    base = opts.keep or Path(tempfile.mkdtemp(prefix="segen-bad-inputs-"))
    base.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        fx = Fixtures(base)
        fx.build(log)
        work = base / f"cases-{int(time.time())}"

        def one(item: tuple[int, Case]) -> Result:
            result = run_case(item[0], item[1], fx, work)
            verdict = "skipped" if result.skipped else ("pass" if result.passed else "FAIL")
            log(f"[{item[0]:3d}/{len(selected)}] {verdict:7s} {result.command}: {result.case} ({result.seconds} s)")
            return result

        with ThreadPoolExecutor(max(1, opts.jobs)) as pool:
            results = list(pool.map(one, enumerate(selected, start=1)))
    finally:
        if opts.keep is None:
            shutil.rmtree(base, ignore_errors=True)
    minutes = (time.perf_counter() - start) / 60
    print(table(results, str(base)))
    print()
    print(summary(results) + f" in {minutes:.1f} min")
    if opts.out:
        opts.out.parent.mkdir(parents=True, exist_ok=True)
        tried = [r for r in results if not r.skipped]
        opts.out.write_text(json.dumps({
            "tried": len(tried), "passed": sum(r.passed for r in tried), "skipped": len(results) - len(tried),
            "minutes": round(minutes, 2), "segen": segen_command(), "temp_folder": str(base),
            "cases": [asdict(r) for r in results]}, indent=2))
        print(f"wrote {opts.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
