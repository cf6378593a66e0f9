"""`segen report RUNDIR` and the report that `seg train` writes when a run ends, through the real command."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from conftest import run_segen, write_tiny_config
from segen.cli.report_commands import report_after_training
from segen.training import RunResult, TrainerState


def test_report_command_writes_a_self_contained_page(trained_run: Path, tmp_path: Path) -> None:
    run = Path(shutil.copytree(trained_run, tmp_path / "run"))
    result = run_segen("report", str(run), "--worst", "1", "--device", "cpu", "--quiet")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"report: {run / 'report.html'}"
    html = (run / "report.html").read_text()
    assert "<h2>Confusion matrix</h2>" in html and "<h2>Best 1 validation images by mean IoU</h2>" in html
    assert all(src.startswith("data:image/png;base64,") for src in re.findall(r'<img src="([^"]*)"', html))


def test_a_missing_run_folder_is_one_error_line(tmp_path: Path) -> None:
    result = run_segen("report", str(tmp_path / "nowhere"))
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [f"error: {tmp_path / 'nowhere'}: run folder not found"]


def test_seg_train_writes_the_report_unless_no_report(multiclass_root: Path, tmp_path: Path) -> None:
    config = write_tiny_config(tmp_path / "tiny.yaml", multiclass_root, epochs=1)
    outputs = {}
    for name, extra in (("with", []), ("without", ["--no-report"])):
        result = run_segen("seg", "train", "--out", str(tmp_path / name), "--config", str(config), "--quiet", *extra)
        assert result.returncode == 0, result.stderr
        assert "done: 1 epochs" in result.stdout and (tmp_path / name / "best.pt").is_file()
        outputs[name] = result.stdout
    assert f"report: {tmp_path / 'with' / 'report.html'}" in outputs["with"]
    assert "<h2>Confusion matrix</h2>" in (tmp_path / "with" / "report.html").read_text()
    assert "report:" not in outputs["without"] and not (tmp_path / "without" / "report.html").exists()


def test_a_report_that_fails_after_training_is_a_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report_after_training(RunResult(str(tmp_path / "gone"), TrainerState()), False, "cpu", True)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"warning: report not written: {tmp_path / 'gone'}: run folder not found\n"
    report_after_training(None, False, None, True)  # --dry-run, the --nproc launcher: nothing to report
    assert capsys.readouterr().err == ""
