"""End-to-end runs through the real `segen` command on tiny synthetic data."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
from PIL import Image

from conftest import run_segen, segen_command, write_tiny_config


def test_train_predict_evaluate(multiclass_root: Path, tmp_path: Path) -> None:
    config = write_tiny_config(tmp_path / "tiny.yaml")
    run = tmp_path / "run"
    result = run_segen("seg", "train", "--data", str(multiclass_root), "--out", str(run), "--config", str(config),
                       "--epochs", "3", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "done: 3 epochs" in result.stdout
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 3
    assert "epochs: 3" in (run / "config.yaml").read_text()

    preds = tmp_path / "preds"
    result = run_segen("seg", "predict", "--checkpoint", str(run / "best.pt"), "--input",
                       str(multiclass_root / "test" / "images"), "--out", str(preds), "--overlay",
                       "--probabilities", "--quiet")
    assert result.returncode == 0, result.stderr
    stems = sorted(p.stem for p in (multiclass_root / "test" / "images").iterdir())
    for stem in stems:
        mask = Image.open(preds / f"{stem}.png")
        assert mask.mode == "P" and mask.size == (64, 64)
        assert Image.open(preds / f"{stem}_overlay.png").size == (64, 64)
        probs = np.load(preds / f"{stem}_prob.npy")
        assert probs.shape == (4, 64, 64)
        assert np.array_equal(probs.argmax(0), np.asarray(mask))

    scores_path = tmp_path / "scores.json"
    result = run_segen("seg", "evaluate", "--checkpoint", str(run / "best.pt"), "--data", str(multiclass_root),
                       "--split", "test", "--json", str(scores_path), "--quiet")
    assert result.returncode == 0, result.stderr
    assert "mean_iou" in result.stdout and "triangle" in result.stdout
    scores = json.loads(scores_path.read_text())
    assert {"mean_iou", "mean_dice", "pixel_accuracy", "per_class"} <= set(scores)
    assert set(scores["per_class"]["circle"]) >= {"iou", "dice", "precision", "recall", "pixel_share"}

    result = run_segen("seg", "train", "--out", str(run), "--resume", "--epochs", "4", "--quiet")
    assert result.returncode == 0, result.stderr
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 4


def test_binary_run_predicts_single_size_images(binary_root: Path, tmp_path: Path) -> None:
    config = write_tiny_config(tmp_path / "tiny.yaml", binary_root)
    run = tmp_path / "run"
    result = run_segen("seg", "train", "--out", str(run), "--config", str(config), "--quiet")
    assert result.returncode == 0, result.stderr
    assert "held out" in result.stderr
    odd = tmp_path / "odd.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (45, 77), dtype=np.uint8)).save(odd)
    result = run_segen("seg", "predict", "--checkpoint", str(run / "last.pt"), "--input", str(odd), "--out",
                       str(tmp_path / "p"), "--quiet")
    assert result.returncode == 0, result.stderr
    assert Image.open(tmp_path / "p" / "odd.png").size == (77, 45)


def test_ctrl_c_leaves_a_resumable_checkpoint(multiclass_root: Path, tmp_path: Path) -> None:
    config = write_tiny_config(tmp_path / "tiny.yaml", multiclass_root, epochs=500)
    run = tmp_path / "run"
    proc = subprocess.Popen([*segen_command(), "seg", "train", "--out", str(run), "--config", str(config),
                             "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not (run / "metrics.jsonl").is_file():
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "--resume" in stderr and "Traceback" not in stderr
    epochs = len((run / "metrics.jsonl").read_text().splitlines())
    result = run_segen("seg", "train", "--out", str(run), "--resume", "--epochs", str(epochs + 1), "--quiet")
    assert result.returncode == 0, result.stderr
    assert f"done: {epochs + 1} epochs" in result.stdout


def test_dry_run_prints_resolved_config(tmp_path: Path) -> None:
    result = run_segen("seg", "train", "--data", "somewhere", "--out", str(tmp_path / "r"), "--lr", "0.01",
                       "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "lr: 0.01" in result.stdout and "root: somewhere" in result.stdout
    assert not (tmp_path / "r").exists()


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = run_segen("demo", "--out", str(out), "--minutes", "0.15", "--quiet", timeout=300)
    assert result.returncode == 0, result.stderr
    assert str(out / "report.html") in result.stdout
    html = (out / "report.html").read_text()
    assert "curves.png" in html and "samples.png" in html and "val mean IoU" in html
    sources = re.findall(r'<img src="([^"]*)"', html)  # curves, test images, pix2pix: embedded, self-contained
    assert len(sources) == 3 and all(src.startswith("data:image/png;base64,") for src in sources)
    assert base64.b64decode(sources[1].partition(",")[2]) == (out / "samples.png").read_bytes()
    assert Image.open(out / "samples.png").size[0] > 4 * 128
    scores = json.loads((out / "scores.json").read_text())
    assert 0 <= scores["val"]["mean_iou"] <= 1
    assert os.path.isfile(out / "run" / "best.pt")
    assert "gan/samples.png" in html and os.path.isfile(out / "gan" / "samples.png")
    assert 0 <= scores["gan"]["fcn/mean_iou"] <= 1 and 0 <= scores["gan"]["fcn_real/mean_iou"] <= 1
    for run in ("run", "gan"):  # each run's own report, as the train commands write it
        assert "<h2" in (out / run / "report.html").read_text()


def test_pretrained_timm_encoder_run_predicts_and_resumes_without_its_weights_file(multiclass_root: Path,
                                                                                  tmp_path: Path) -> None:
    import timm
    import torch
    import yaml
    from safetensors.torch import save_file

    weights = tmp_path / "resnet18.safetensors"
    encoder = timm.create_model("resnet18", pretrained=False, features_only=True)
    save_file({k: v.contiguous() for k, v in encoder.state_dict().items()}, str(weights))
    config = tmp_path / "timm.yaml"
    config.write_text(yaml.safe_dump({"model": {"name": "unet-small", "encoder": "resnet18", "depth": 3},
                                      "data": {"image_size": [48, 48], "min_epoch_samples": 0, "num_workers": 0},
                                      "train": {"batch_size": 4}}))
    run = tmp_path / "run"
    result = run_segen("seg", "train", "--data", str(multiclass_root), "--out", str(run), "--config", str(config),
                       "--encoder-weights", str(weights), "--freeze-encoder", "1epochs", "--epochs", "2", "--quiet")
    assert result.returncode == 0, result.stderr
    assert f"note: encoder resnet18 starts from {weights}" in result.stderr
    saved = torch.load(run / "last.pt", weights_only=True)
    assert saved["data"]["mean"] == [0.485, 0.456, 0.406]  # the encoder's normalisation, not the data's
    weights.unlink()  # predict and resume take every weight from the checkpoint
    result = run_segen("seg", "predict", "--checkpoint", str(run / "best.pt"), "--input",
                       str(multiclass_root / "test" / "images"), "--out", str(tmp_path / "preds"), "--quiet")
    assert result.returncode == 0, result.stderr
    result = run_segen("seg", "train", "--out", str(run), "--resume", "--epochs", "3", "--quiet")
    assert result.returncode == 0, result.stderr
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 3
    listing = run_segen("models", "--encoders")
    assert listing.returncode == 0 and "resnet18" in listing.stdout
