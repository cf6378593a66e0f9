"""`segen gan train|sample|evaluate` through the real command, and its one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from conftest import run_segen
from segen.data import SyntheticSpec, write_folder_dataset
from segen.data.synthetic import write_paired_dataset


class MeanStdFeatures(nn.Module):
    """A tiny feature network: means of 4x4 blocks and per-channel standard deviations (51 features for RGB)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = nn.functional.adaptive_avg_pool2d(x, 4)
        return torch.cat([pooled.flatten(1), x.std(dim=(2, 3))], dim=1)


class ChannelStats(nn.Module):
    """Fewer features than the 16 test images: per-channel means and standard deviations (6 for RGB)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], dim=1)


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("gan-cli")
    write_folder_dataset(base / "data", SyntheticSpec(32, 32, num_classes=3), seed=7, splits={"train": 16})
    images = base / "data" / "train" / "images"
    out = base / "run"
    result = run_segen("gan", "train", "--model", "dcgan", "--data", str(images), "--out", str(out), "--epochs", "1",
                       "--batch-size", "8", "--quiet", "--config", str(_tiny_yaml(base)))
    assert result.returncode == 0, result.stderr
    assert "done: 1 epochs" in result.stdout
    assert f"report: {out / 'report.html'}" in result.stdout and (out / "report.html").is_file()
    return images, out


def _tiny_yaml(base: Path) -> Path:
    path = base / "tiny.yaml"
    path.write_text("model:\n  width: 8\n  d_width: 8\n")
    return path


def test_sample_writes_images_and_a_grid(gan_run: tuple[Path, Path], tmp_path: Path) -> None:
    _, out = gan_run
    result = run_segen("gan", "sample", "--checkpoint", str(out / "last.pt"), "--num", "6", "--grid",
                       "--out", str(tmp_path / "s"))
    assert result.returncode == 0, result.stderr
    assert len(list((tmp_path / "s").glob("0000*.png"))) == 6 and (tmp_path / "s" / "grid.png").is_file()


def test_evaluate_with_a_torchscript_feature_network(gan_run: tuple[Path, Path], tmp_path: Path) -> None:
    images, out = gan_run
    features = tmp_path / "features.pt"
    torch.jit.script(ChannelStats()).save(str(features))
    result = run_segen("gan", "evaluate", "--checkpoint", str(out / "last.pt"), "--data", str(images),
                       "--features", str(features), "--num", "32", "--metrics", "fid", "--quiet")
    assert result.returncode == 0, result.stderr
    scores = json.loads(result.stdout.strip().splitlines()[-1])
    assert scores["fid"] > 0 and scores["generated_images"] == 32 and scores["real_images"] == 16
    assert scores["reliable"] is True and scores["min_images"] == 7
    same = run_segen("gan", "evaluate", "--samples", str(images), "--data", str(images), "--features", str(features),
                     "--metrics", "fid", "--quiet")
    assert same.returncode == 0, same.stderr
    assert abs(json.loads(same.stdout.strip().splitlines()[-1])["fid"]) < 1e-3


def test_evaluate_refuses_fewer_images_than_the_feature_size(gan_run: tuple[Path, Path], tmp_path: Path) -> None:
    images, _ = gan_run
    features = tmp_path / "features.pt"
    torch.jit.script(MeanStdFeatures()).save(str(features))
    args = ["gan", "evaluate", "--samples", str(images), "--data", str(images), "--features", str(features)]
    refused = run_segen(*args, "--metrics", "fid")
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), refused.stderr
    assert "16 real" in lines[0] and "16 generated" in lines[0] and "at least 52" in lines[0]
    assert "--allow-few-images" in lines[0]
    report = tmp_path / "scores.json"
    allowed = run_segen(*args, "--allow-few-images", "--json", str(report))
    assert allowed.returncode == 0, allowed.stderr
    assert "unreliable" in allowed.stdout
    scores = json.loads(report.read_text())
    assert scores["reliable"] is False and scores["min_images"] == 100  # KID's minimum subset is the larger
    assert scores["real_images"] == scores["generated_images"] == 16 and "fid" in scores and "kid_mean" in scores


def test_evaluate_help_warns_that_feature_networks_are_code() -> None:
    result = run_segen("gan", "evaluate", "--help")
    text = " ".join(result.stdout.split())
    assert "only use feature networks you trust" in text and "--allow-few-images" in text


def test_pix2pix_translates_inputs(tmp_path: Path) -> None:
    pairs = write_paired_dataset(tmp_path / "pairs", SyntheticSpec(32, 32, num_classes=3), seed=8, count=8)
    out = tmp_path / "run"
    config = tmp_path / "p.yaml"
    config.write_text("model:\n  width: 8\n  d_width: 8\n  depth: 5\n")
    result = run_segen("gan", "train", "--model", "pix2pix", "--data", str(pairs), "--out", str(out), "--epochs", "1",
                       "--config", str(config), "--quiet")
    assert result.returncode == 0, result.stderr
    translated = run_segen("gan", "sample", "--checkpoint", str(out / "last.pt"), "--input", str(pairs / "A"),
                           "--out", str(tmp_path / "t"), "--grid")
    assert translated.returncode == 0, translated.stderr
    assert len(list((tmp_path / "t").glob("[0-9]*.png"))) == 8


@pytest.mark.parametrize(("args", "message"), [
    (["gan", "train", "--data", "/no/such/folder", "--out", "{tmp}/r"], "/no/such/folder"),
    (["gan", "train", "--data", "{tmp}", "--out", "{tmp}/r", "--image-size", "4", "4"], "--image-size"),
    (["gan", "train", "--data", "{tmp}", "--out", "{tmp}/r", "--diffaugment", "zoom"], "diffaugment"),
    (["gan", "sample", "--checkpoint", "{tmp}/missing.pt", "--out", "{tmp}/s"], "missing.pt"),
    (["gan", "evaluate", "--checkpoint", "{tmp}/missing.pt", "--data", "{tmp}", "--metrics", "bogus"], "bogus"),
    (["gan", "evaluate", "--samples", "{tmp}", "--data", "{tmp}", "--inception-weights", "{tmp}/none.pth"],
     "Inception weights are not available"),
])
def test_bad_input_is_one_line(args: list[str], message: str, tmp_path: Path) -> None:
    result = run_segen(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr
