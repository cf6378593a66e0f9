"""`write_run_report`: the self-contained report of segmentation and GAN run folders, and its bad inputs."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from html import escape
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import tiny_config
from segen.config import SegConfig, load_yaml
from segen.errors import CheckpointError, DataError
from segen.inference import Segmenter, evaluate_segmentation
from segen.inference.run_report import validation_split, write_run_report

CAPTION = re.compile(r"<figcaption>([^<]*): mean IoU ([0-9.]+),")


def assert_self_contained(html: str) -> None:
    """Every image embedded, no script, no external URL of any kind."""
    sources = re.findall(r'<img src="([^"]*)"', html)
    assert sources and all(src.startswith("data:image/png;base64,") for src in sources)
    assert not re.search(r"https?:", html) and 'src="//' not in html and 'href="//' not in html
    assert all(target.startswith("data:") for target in re.findall(r"url\(\s*['\"]?([^)'\"]*)", html))
    assert "<script" not in html and "<link" not in html and "@import" not in html


def sections(html: str) -> list[str]:
    return re.findall(r"<h2>([^<]*)</h2>", html)


@pytest.fixture()
def seg_run(trained_run: Path, tmp_path: Path) -> Path:
    """A private copy of the session's finished 2-epoch segmentation run (data with a val split)."""
    return Path(shutil.copytree(trained_run, tmp_path / "run"))


@pytest.fixture(scope="module")
def held_out_run(binary_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A run on data without a val split, and the names of the images its training validated on."""
    from segen.training import train_segmentation

    out = tmp_path_factory.mktemp("held-out") / "run"
    cfg = tiny_config(binary_root, out)
    cfg = replace(cfg, data=replace(cfg.data, val_fraction=0.34))
    seen: list[str] = []

    def remember(trainer: Any, record: dict[str, Any]) -> None:
        seen[:] = [sample.image.name for sample in trainer.task.data.val.samples]

    train_segmentation(cfg, progress=False, callbacks=[remember])
    return out, seen


def test_segmentation_report_has_every_section(seg_run: Path, multiclass_root: Path) -> None:
    path = write_run_report(seg_run, worst=2)
    assert path == seg_run / "report.html"
    html = path.read_text()
    assert_self_contained(html)
    assert sections(html) == ["Summary", "Validation scores of best.pt", "Per class (validation)", "Confusion matrix",
                              "Best 2 validation images by mean IoU", "Worst 2 validation images by mean IoU",
                              "Config (config.yaml)"]
    assert "<th>kind</th><td>segmentation</td>" in html and "<th>best val/mean_iou</th>" in html
    assert "Loss and validation metrics per epoch" in html
    assert f"<pre>{escape((seg_run / 'config.yaml').read_text())}</pre>" in html
    for column in ("iou", "dice", "boundary_f1", "hd95"):
        assert f"<th>{column}</th>" in html
    assert f"the val split of {multiclass_root} (4 images)" in html
    scores = evaluate_segmentation(Segmenter.from_checkpoint(seg_run / "best.pt"), multiclass_root, "val",
                                   progress=False)
    for name, row in zip(scores["per_class"], scores["confusion"], strict=True):
        assert f"<tr><th>{name}</th>" in html and f'<td class="num">{sum(row)}</td></tr>' in html
    assert len(re.findall(r'<img src="data:image/png;base64,[^"]+" class="pixels"', html)) == 4
    assert html.count("(image | truth | prediction | overlay)</figcaption>") == 4


def test_evaluation_exposes_its_confusion_matrix(trained_run: Path, multiclass_root: Path) -> None:
    scores = evaluate_segmentation(Segmenter.from_checkpoint(trained_run / "best.pt"), multiclass_root, "val",
                                   progress=False)
    matrix = scores["confusion"]
    assert len(matrix) == 4 and all(len(row) == 4 and all(isinstance(c, int) for c in row) for row in matrix)
    assert sum(map(sum, matrix)) == 4 * 64 * 64  # 4 val images, no ignored pixels
    for k, (name, per) in enumerate(scores["per_class"].items()):
        truth = sum(matrix[k])
        assert per["recall"] == (pytest.approx(matrix[k][k] / truth) if truth else None), name
    json.dumps(scores)  # still plain data for --json


def test_best_and_worst_images_are_ranked_by_mean_iou(seg_run: Path) -> None:
    html = write_run_report(seg_run, worst=2).read_text()
    best_part, worst_part = html.split("<h2>Worst")
    best = [float(v) for _, v in CAPTION.findall(best_part)]
    worst = [float(v) for _, v in CAPTION.findall(worst_part)]
    assert len(best) == len(worst) == 2
    assert best == sorted(best, reverse=True) and worst == sorted(worst) and min(best) >= max(worst)
    names = [name for name, _ in CAPTION.findall(html)]
    assert len(set(names)) == 4 and all(name.startswith("val/images/") for name in names)


def test_held_out_validation_is_the_share_training_validated_on(held_out_run: tuple[Path, list[str]]) -> None:
    run, seen = held_out_run
    assert len(seen) == 4
    cfg = SegConfig.from_dict(load_yaml(run / "config.yaml"))
    split = validation_split(cfg, Segmenter.from_checkpoint(run / "best.pt"))
    assert [sample.image.name for sample in split.dataset.samples] == seen
    html = write_run_report(run, worst=4).read_text()
    assert "images held out of the training images" in html and "seed 0" in html
    assert sorted(Path(name).name for name, _ in CAPTION.findall(html)) == sorted(seen)
    best = next(json.loads(line) for line in reversed((run / "metrics.jsonl").read_text().splitlines())
                if json.loads(line).get("best"))
    shown = float(re.search(r"<th>mean IoU</th><td class=\"num\">([0-9.]+)<", html).group(1))  # type: ignore[union-attr]
    assert shown == pytest.approx(best["val/mean_iou"], abs=1e-4)


def test_missing_data_still_writes_the_report_with_a_note(seg_run: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    config = yaml.safe_load((seg_run / "config.yaml").read_text())
    config["data"]["root"] = str(tmp_path / "moved")
    (seg_run / "config.yaml").write_text(yaml.safe_dump(config))
    html = write_run_report(seg_run).read_text()
    assert_self_contained(html)
    assert f"The validation data is no longer at {tmp_path / 'moved'}" in html
    assert sections(html) == ["Summary", "Config (config.yaml)"]
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("note: The validation data is no longer at")


def test_dcgan_report_shows_sample_grids_over_time_and_eval_scores(gan_runs: dict[str, Path]) -> None:
    run = gan_runs["dcgan"]
    html = write_run_report(run).read_text()
    assert_self_contained(html)
    assert sections(html) == ["Summary", "Samples over training", "Final samples", "Config (config.yaml)"]
    assert "<th>kind</th><td>dcgan</td>" in html and "<th>checkpoint</th><td>last.pt</td>" in html
    steps = [int(s) for s in re.findall(r"<figcaption>step (\d+)</figcaption>", html)]
    assert len(list((run / "samples").glob("step-*.png"))) == 12
    assert len(steps) == 8 and steps[0] == 1 and steps[-1] == 12 and steps == sorted(steps)
    assert "No FID, KID or FCN-score yet" in html

    (run / "eval.json").write_text(json.dumps({"fid": 123.456789, "kid_mean": 0.0123, "kid_std": 0.001,
                                               "real_images": 24, "reliable": False}))
    (run / "eval-notes.json").write_text(json.dumps({"comment": "no scores here"}))
    html = write_run_report(run).read_text()
    assert "FID / KID / FCN-score (eval.json)" in html and "eval-notes.json" not in html
    assert "<th>fid</th><td class=\"num\">123.4568</td>" in html and "<th>kid_mean</th>" in html
    assert "Unreliable" in html and "No FID, KID or FCN-score yet" not in html
    (run / "eval.json").write_text("{not json")
    with pytest.raises(DataError, match="eval.json: not valid JSON"):
        write_run_report(run)
    (run / "eval.json").unlink()
    (run / "eval-notes.json").unlink()


def test_pix2pix_report_uses_best_and_shows_input_generated_real(gan_runs: dict[str, Path]) -> None:
    run = gan_runs["pix2pix"]
    (run / "eval.json").write_text(json.dumps({"fcn/mean_iou": 0.5, "fcn_real/mean_iou": 0.9, "fcn_images": 3}))
    html = write_run_report(run).read_text()
    assert_self_contained(html)
    assert "<th>kind</th><td>pix2pix</td>" in html and "<th>checkpoint</th><td>best.pt</td>" in html
    assert "<th>best val/l1</th><td class=\"num\">" in html
    assert "input | generated | real" in html and "<figcaption>step 4</figcaption>" in html
    assert "<th>fcn/mean_iou</th>" in html


def test_bad_run_folders_are_one_clear_error(seg_run: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="run folder not found") as missing:
        write_run_report(tmp_path / "nowhere")
    assert missing.value.kind == "missing"
    (seg_run / "metrics.jsonl").write_text('{"epoch": 1}\n{"epoch": 2, "trunc\n')
    with pytest.raises(DataError, match=r"metrics.jsonl: line 2 is not a JSON record") as corrupt:
        write_run_report(seg_run)
    assert corrupt.value.kind == "corrupt" and corrupt.value.path == seg_run / "metrics.jsonl"
    (seg_run / "metrics.jsonl").unlink()
    with pytest.raises(DataError, match="metrics.jsonl: not found"):
        write_run_report(seg_run)
    (seg_run / "metrics.jsonl").write_text('{"epoch": 1}\n')
    (seg_run / "best.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="best.pt: not a segen checkpoint") as broken:
        write_run_report(seg_run)
    assert broken.value.kind == "corrupt"
    assert not (seg_run / "report.html").exists()
