"""Fixtures of the web-app tests (a pytest plugin of tests/conftest.py): checkpoints of every kind, a running
server, a headless browser."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from segen.checkpoint import Checkpoint, GanDataSpec, ModelSpec, save_checkpoint
from segen.models import create_model

#: The label colours of the pix2pix test checkpoint's inputs.
LABEL_COLORS = [[0, 0, 0], [220, 60, 50], [60, 170, 230], [240, 200, 40]]
#: The upload limit of the test server: the test images fit, a 200x200 noise PNG (about 120 KB) does not.
UPLOAD_MB = 0.08


@dataclass
class Served:
    """A running test server and what it serves."""

    url: str
    segmentation: Path
    dcgan: Path
    runs: Path
    app: Any


def gan_file(path: Path, name: str, palette: list[list[int]] | None = None, **kwargs: Any) -> Path:
    """An untrained (seeded) GAN checkpoint of `name`; `palette`: its inputs' label colours (pix2pix)."""
    import torch

    torch.manual_seed(0)
    pair = create_model(name, **kwargs)
    classes = [f"k{i}" for i in range(int(kwargs.get("num_classes", 0)))]
    data = GanDataSpec(list(kwargs["image_size"]), int(kwargs["channels"]), kwargs.get("in_channels"), classes,
                       palette=palette or [])
    weights = pair.generator.state_dict()  # type: ignore[union-attr]
    return save_checkpoint(Checkpoint("gan", {}, ModelSpec(name, kwargs, weights), data), path)


@pytest.fixture(scope="session")
def gan_checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("serve-gans")
    return {
        "dcgan": gan_file(base / "dcgan.pt", "dcgan", image_size=[32, 32], channels=3, width=8, d_width=8),
        "cgan": gan_file(base / "cgan.pt", "cgan", image_size=[32, 32], channels=3, width=8, d_width=8,
                         num_classes=3),
        "pix2pix": gan_file(base / "pix2pix.pt", "pix2pix", LABEL_COLORS, image_size=[32, 32], channels=3,
                            in_channels=3, width=8, d_width=8, depth=5, generator="paper"),
    }


@pytest.fixture(scope="session")
def served(trained_run: Path, gan_checkpoints: dict[str, Path]) -> Iterator[Served]:
    """The web app over the trained test run, the GAN checkpoints and the runs folder, on a free loopback port."""
    pytest.importorskip("gradio", reason="the web app needs Gradio: pip install 'segen[ui]'")
    from segen.serve import Catalog, Limits, ServeSettings, start

    catalog = Catalog.load([trained_run / "best.pt"], list(gan_checkpoints.values()), trained_run.parent)
    urls: list[str] = []
    app = start(catalog, Limits(max_upload_mb=UPLOAD_MB), ServeSettings(port=_free_port()), block=False,
                on_ready=urls.append)
    yield Served(urls[0], trained_run / "best.pt", gan_checkpoints["dcgan"], trained_run.parent, app)
    app.close()


@pytest.fixture(scope="session")
def gan_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny dcgan run (12 steps, a sample grid every step) and a tiny pix2pix run with validation pairs."""
    from segen.config import GanConfig
    from segen.data import SyntheticSpec, write_folder_dataset
    from segen.data.synthetic import write_paired_dataset
    from segen.training.gan import train_gan

    base = tmp_path_factory.mktemp("gan-report")
    spec = SyntheticSpec(32, 32, num_classes=3)
    images = write_folder_dataset(base / "images", spec, seed=5, splits={"train": 24}) / "train" / "images"
    pairs = write_paired_dataset(base / "pairs", spec, seed=6, count=12)
    runs = {"dcgan": (images, {"sample_every": 1}), "pix2pix": (pairs, {"sample_every": 2})}
    for name, (root, extra) in runs.items():
        model: dict[str, Any] = {"name": name, "width": 8, "d_width": 8, **({"depth": 5} if name == "pix2pix" else {})}
        data: dict[str, Any] = {"root": str(root), **({"ids": "1-9", "val_ids": "10-12"} if name == "pix2pix" else {})}
        train_gan(GanConfig.from_dict({"model": model, "data": data, **extra,
                                       "train": {"out": str(base / name), "epochs": 2, "batch_size": 4}}),
                  progress=False)
    return {name: base / name for name in runs}


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: Chromium flags for a machine without network: no background connections, no sandbox (root in CI).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


def find_chromium() -> str | None:
    """Debian's Chromium (or $SEGEN_CHROMIUM), else None."""
    for candidate in (os.environ.get("SEGEN_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if candidate and (found := shutil.which(candidate)):
            return found
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium driven by Playwright, for one test module (processes forked later, such as DataLoader
    workers, would otherwise inherit the pipes of its driver); skipped, saying why, where neither is installed (unless
    SEGEN_REQUIRE_BROWSER=1, set by CI after installing them, turns that into a failure)."""
    required = os.environ.get("SEGEN_REQUIRE_BROWSER") == "1"
    executable = find_chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None  # type: ignore[assignment]
    if sync_playwright is None or executable is None:
        reason = ("no Playwright (pip install playwright)" if sync_playwright is None
                  else "no Chromium (apt-get install chromium)")
        if required:
            pytest.fail(f"browser tests required but {reason}")
        pytest.skip(f"browser tests need a headless browser: {reason}")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def noise_png(path: Path, side: int = 200) -> Path:
    """A PNG of random pixels (incompressible: about 3 x side^2 bytes)."""
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (side, side, 3), dtype=np.uint8)).save(path)
    return path
