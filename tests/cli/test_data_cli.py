"""`segen data ...` through the real entry point: check, stats, convert, preview, formats, download."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from conftest import write_tiny_config
from segen.cli.main import main


def run_main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code: int | str | None = 0
    try:
        main(args)
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return (int(code) if code is not None else 0), captured.out, captured.err


def test_check_clean_and_damaged(data_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(["data", "check", str(data_copy), "--quiet"], capsys)
    assert code == 0 and "no problems found" in out
    (data_copy / "train" / "masks" / "train_0001.png").unlink()
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(data_copy / "val" / "masks" / "val_0000.png")
    code, out, _ = run_main(["data", "check", str(data_copy), "--quiet"], capsys)
    assert code == 1
    assert "unpaired" in out and "train_0001.png" in out
    assert "mismatch" in out and "val_0000.png" in out


def test_check_warnings_exit_0_unless_strict(data_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = data_copy / "val" / "images" / "val_0001.png"
    Image.open(image).convert("L").save(image)  # a greyscale image among colour ones: a warning
    code, out, _ = run_main(["data", "check", str(data_copy), "--quiet"], capsys)
    assert code == 0 and "(0 errors, 1 warning)" in out and "channel-mismatch (warning)" in out
    code, out, _ = run_main(["data", "check", str(data_copy), "--quiet", "--strict"], capsys)
    assert code == 1 and "(0 errors, 1 warning)" in out
    code, out, _ = run_main(["data", "check", "--help"], capsys)
    assert code == 0
    assert "Exit status: 0 when there is no error" in " ".join(out.split())
    assert "--strict" in out and "warnings too" in " ".join(out.split())


def test_stats_write_weights_and_train_with_them(multiclass_root: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    weights = tmp_path / "w.yaml"
    code, out, _ = run_main(["data", "stats", str(multiclass_root), "--write-weights", str(weights), "--quiet"],
                            capsys)
    assert code == 0 and "circle" in out
    values = yaml.safe_load(weights.read_text())["class_weights"]
    assert len(values) == 4 and values[0] < values[1]  # background is the most frequent class
    config = write_tiny_config(tmp_path / "tiny.yaml", multiclass_root, epochs=1)
    run = tmp_path / "run"
    code, out, err = run_main(["seg", "train", "--out", str(run), "--config", str(config), "--loss", "ce",
                               "--class-weights", str(weights), "--quiet"], capsys)
    assert code == 0, err
    assert yaml.safe_load((run / "config.yaml").read_text())["class_weights"] == pytest.approx(values)


def test_class_weights_with_the_wrong_count(multiclass_root: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    weights = tmp_path / "w.yaml"
    weights.write_text("class_weights: [1.0, 2.0]\n")
    config = write_tiny_config(tmp_path / "tiny.yaml", multiclass_root, epochs=1)
    code, _, err = run_main(["seg", "train", "--out", str(tmp_path / "run"), "--config", str(config), "--loss", "ce",
                             "--class-weights", str(weights), "--quiet"], capsys)
    assert code == 1
    assert err.startswith(f"error: {weights}: 2 class weights for 4 classes") and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_convert_resizes_and_refuses_to_overwrite(multiclass_root: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    dst = tmp_path / "half"
    code, _, err = run_main(["data", "convert", "--from", "folder", str(multiclass_root), "--to", str(dst),
                             "--resize", "32", "40", "--quiet"], capsys)
    assert code == 0, err
    mask = np.asarray(Image.open(next((dst / "train" / "masks").iterdir())))
    assert mask.shape == (32, 40) and set(np.unique(mask).tolist()) <= {0, 1, 2, 3}
    before = sorted(p.name for p in dst.rglob("*"))
    code, _, err = run_main(["data", "convert", "--from", "folder", str(multiclass_root), "--to", str(dst),
                             "--quiet"], capsys)
    assert code != 0 and err.startswith("error: ")
    assert sorted(p.name for p in dst.rglob("*")) == before


def test_preview_writes_a_grid(multiclass_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "grid.png"
    code, _, err = run_main(["data", "preview", str(multiclass_root), "--out", str(out), "--samples", "3"], capsys)
    assert code == 0, err
    assert Image.open(out).size[1] > 3 * 48


def test_formats_and_download_listing(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(["data", "formats"], capsys)
    assert code == 0 and {"folder", "camvid", "voc", "cityscapes", "image-label"} <= set(out.split())
    code, out, _ = run_main(["data", "download", "list", "--root", "."], capsys)
    assert code == 0 and "voc2012" in out
    code, _, err = run_main(["data", "download", "nothing", "--root", "."], capsys)
    assert code != 0 and "voc2012" in err.splitlines()[-1]


def test_download_list_needs_no_root(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(["data", "download", "list"], capsys)
    assert code == 0, err
    assert {"voc2012", "oxford-pet", "cityscapes"} <= set(out.split())
    code, out, err = run_main(["data", "download", "voc2012"], capsys)  # a real download still needs one
    assert code == 2 and out == "" and err.startswith("error: ") and "--root" in err
    assert len(err.strip().splitlines()) == 1
    code, _, err = run_main(["data", "download", "nothing"], capsys)
    assert code == 1 and "unknown dataset 'nothing'" in err and len(err.strip().splitlines()) == 1


def test_download_of_a_manual_dataset_prints_the_steps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(["data", "download", "cityscapes", "--root", str(tmp_path)], capsys)
    lines = err.strip().splitlines()
    assert code == 1 and out == "" and len(lines) > 3
    assert "Steps:" in err and str(tmp_path / "cityscapes") in err
    assert lines[-1].startswith("error: cityscapes needs a (free) login")
