"""Bad input ends in one clear `error:` line naming the file or argument, a non-zero exit, nothing lost."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from conftest import write_tiny_config
from segen.cli.main import main


def run_main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    code = exit_info.value.code
    err = capsys.readouterr().err
    return int(code) if code is not None else 0, err


def assert_one_error_line(err: str, *fragments: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def train_args(root: Path, out: Path, config: Path) -> list[str]:
    return ["seg", "train", "--data", str(root), "--out", str(out), "--config", str(config), "--quiet"]


@pytest.fixture()
def tiny_yaml(tmp_path: Path) -> Path:
    return write_tiny_config(tmp_path / "tiny.yaml")


def check_train_fails(capsys: pytest.CaptureFixture[str], root: Path, tmp_path: Path, config: Path,
                      *fragments: str) -> None:
    code, err = run_main(train_args(root, tmp_path / "out", config), capsys)
    assert code != 0
    assert_one_error_line(err, *fragments)
    assert not (tmp_path / "out" / "last.pt").exists()


def test_missing_data_folder(tmp_path: Path, tiny_yaml: Path, capsys: pytest.CaptureFixture[str]) -> None:
    check_train_fails(capsys, tmp_path / "nowhere", tmp_path, tiny_yaml, "nowhere", "not found")


def test_image_without_mask(data_copy: Path, tmp_path: Path, tiny_yaml: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    (data_copy / "train" / "masks" / "train_0003.png").unlink()
    check_train_fails(capsys, data_copy, tmp_path, tiny_yaml, "train_0003.png", "no mask")


def test_mask_without_image(data_copy: Path, tmp_path: Path, tiny_yaml: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    (data_copy / "val" / "images" / "val_0001.png").unlink()
    check_train_fails(capsys, data_copy, tmp_path, tiny_yaml, "val_0001.png", "no image")


def test_size_mismatch(data_copy: Path, tmp_path: Path, tiny_yaml: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mask = data_copy / "train" / "masks" / "train_0002.png"
    Image.fromarray(np.zeros((30, 64), np.uint8)).save(mask)
    check_train_fails(capsys, data_copy, tmp_path, tiny_yaml, "train_0002.png", "does not match")


def test_mask_value_out_of_range(data_copy: Path, tmp_path: Path, tiny_yaml: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    mask = data_copy / "train" / "masks" / "train_0005.png"
    values = np.asarray(Image.open(mask)).copy()
    values[0, 0] = 7
    Image.fromarray(values).save(mask)
    check_train_fails(capsys, data_copy, tmp_path, tiny_yaml, "train_0005.png", "class id 7")


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_image(damage: str, data_copy: Path, tmp_path: Path, tiny_yaml: Path,
                       capsys: pytest.CaptureFixture[str]) -> None:
    image = data_copy / "train" / "images" / "train_0004.png"
    data = image.read_bytes()
    image.write_bytes(b"not an image at all" if damage == "garbage" else data[: len(data) // 2])
    check_train_fails(capsys, data_copy, tmp_path, tiny_yaml, "train_0004.png", "cannot read image")


def test_empty_split(data_copy: Path, tmp_path: Path, tiny_yaml: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for path in (data_copy / "val" / "images").iterdir():
        path.unlink()
    for path in (data_copy / "val" / "masks").iterdir():
        path.unlink()
    check_train_fails(capsys, data_copy, tmp_path, tiny_yaml, "val", "no images")


def test_unknown_model(multiclass_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_main(["seg", "train", "--data", str(multiclass_root), "--out", str(tmp_path / "o"),
                          "--model", "unet-huge"], capsys)
    assert code != 0
    assert_one_error_line(err, "unet-huge", "unet-small")


def test_unknown_loss(multiclass_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_main(["seg", "train", "--data", str(multiclass_root), "--out", str(tmp_path / "o"),
                          "--loss", "focal"], capsys)
    assert code != 0
    assert_one_error_line(err, "--loss", "focal")


def test_binary_loss_on_multiclass_data(multiclass_root: Path, tmp_path: Path, tiny_yaml: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_main([*train_args(multiclass_root, tmp_path / "o", tiny_yaml), "--loss", "bce"], capsys)
    assert code != 0
    assert_one_error_line(err, "bce", "4 classes")


@pytest.mark.parametrize(("flag", "value"), [("--epochs", "-1"), ("--batch-size", "0"), ("--lr", "-0.1"),
                                             ("--max-time", "0"), ("--image-size", "0")])
def test_nonsense_numbers(flag: str, value: str, multiclass_root: Path, tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    args = ["seg", "train", "--data", str(multiclass_root), "--out", str(tmp_path / "o"), flag, value]
    if flag == "--image-size":
        args.append("64")
    code, err = run_main(args, capsys)
    assert code != 0
    assert_one_error_line(err, flag)


def test_bad_config_values(multiclass_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump({"train": {"epochs": 0}}))
    code, err = run_main(["seg", "train", "--data", str(multiclass_root), "--out", str(tmp_path / "o"),
                          "--config", str(config)], capsys)
    assert code != 0
    assert_one_error_line(err, "epochs")
    config.write_text(yaml.safe_dump({"optim": {"learning_rate": 1}}))
    code, err = run_main(["seg", "train", "--data", str(multiclass_root), "--out", str(tmp_path / "o"),
                          "--config", str(config)], capsys)
    assert_one_error_line(err, "learning_rate", "unknown key")
    config.write_text("train: [unclosed")
    code, err = run_main(["seg", "train", "--config", str(config)], capsys)
    assert_one_error_line(err, "bad.yaml", "YAML")


@pytest.mark.parametrize("content", [b"hello", b"PK\x03\x04 broken zip"])
def test_not_a_checkpoint(content: bytes, multiclass_root: Path, tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    fake = tmp_path / "model.pt"
    fake.write_bytes(content)
    code, err = run_main(["seg", "evaluate", "--checkpoint", str(fake), "--data", str(multiclass_root)], capsys)
    assert code != 0
    assert_one_error_line(err, "model.pt", "not a segen checkpoint")


def test_plain_torch_file_is_not_a_checkpoint(multiclass_root: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    torch.save({"weights": torch.zeros(2)}, tmp_path / "w.pt")
    code, err = run_main(["seg", "predict", "--checkpoint", str(tmp_path / "w.pt"), "--input",
                          str(multiclass_root / "test" / "images"), "--out", str(tmp_path / "p")], capsys)
    assert code != 0
    assert_one_error_line(err, "w.pt", "not a segen checkpoint")


def test_existing_run_is_not_overwritten(trained_run: Path, multiclass_root: Path, tiny_yaml: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    before = {p.name: p.read_bytes() for p in trained_run.iterdir() if p.is_file()}
    code, err = run_main(train_args(multiclass_root, trained_run, tiny_yaml), capsys)
    assert code != 0
    assert_one_error_line(err, "already holds a run", "--resume")
    assert {p.name: p.read_bytes() for p in trained_run.iterdir() if p.is_file()} == before


def test_predict_missing_input_and_evaluate_mismatched_data(trained_run: Path, binary_root: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_main(["seg", "predict", "--checkpoint", str(trained_run / "best.pt"), "--input",
                          str(tmp_path / "none"), "--out", str(tmp_path / "p")], capsys)
    assert code != 0
    assert_one_error_line(err, "none", "not found")
    code, err = run_main(["seg", "evaluate", "--checkpoint", str(trained_run / "best.pt"), "--data",
                          str(tmp_path / "none")], capsys)
    assert_one_error_line(err, "none", "not found")


def test_predict_corrupt_input_keeps_earlier_outputs(trained_run: Path, multiclass_root: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    inputs = Path(shutil.copytree(multiclass_root / "test" / "images", tmp_path / "in"))
    (inputs / "zz_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    out = tmp_path / "p"
    code, err = run_main(["seg", "predict", "--checkpoint", str(trained_run / "best.pt"), "--input", str(inputs),
                          "--out", str(out), "--quiet"], capsys)
    assert code != 0
    assert_one_error_line(err, "zz_broken.png")
    assert len(list(out.glob("test_*.png"))) == 4


def test_resume_without_a_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_main(["seg", "train", "--out", str(tmp_path / "empty"), "--resume"], capsys)
    assert code != 0
    assert_one_error_line(err, "nothing to resume")


def predict_args(checkpoint: Path, source: Path, out: Path, *extra: str) -> list[str]:
    return ["seg", "predict", "--checkpoint", str(checkpoint), "--input", str(source), "--out", str(out), "--quiet",
            *extra]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_predict_into_the_input_folder_is_refused(trained_run: Path, multiclass_root: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    inputs = Path(shutil.copytree(multiclass_root / "test" / "images", tmp_path / "in"))
    before = snapshot(inputs)
    for out in (inputs, tmp_path / "in" / ".." / "in"):
        code, err = run_main(predict_args(trained_run / "best.pt", inputs, out), capsys)
        assert code != 0
        assert_one_error_line(err, "input folder", "--out")
        assert snapshot(inputs) == before


def test_predict_never_overwrites_an_input_file(trained_run: Path, multiclass_root: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    inputs = Path(shutil.copytree(multiclass_root / "test" / "images", tmp_path / "in"))
    first = sorted(inputs.iterdir())[0]
    before = snapshot(inputs)
    code, err = run_main(predict_args(trained_run / "best.pt", first, inputs), capsys)
    assert code != 0
    assert_one_error_line(err, first.name, "overwrite")
    assert snapshot(inputs) == before


def test_predict_refuses_inputs_that_share_an_output_name(trained_run: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    pixels = np.random.default_rng(0).integers(0, 255, (24, 24, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(inputs / "a.jpg")
    Image.fromarray(pixels).save(inputs / "a.png")
    code, err = run_main(predict_args(trained_run / "best.pt", inputs, tmp_path / "out"), capsys)
    assert code != 0
    assert_one_error_line(err, "a.jpg", "a.png", "both")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_predict_refuses_images_above_the_pixel_limit(trained_run: Path, multiclass_root: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    inputs = Path(shutil.copytree(multiclass_root / "test" / "images", tmp_path / "in"))
    first = sorted(inputs.iterdir())[0]
    code, err = run_main(predict_args(trained_run / "best.pt", inputs, tmp_path / "out", "--max-pixels", "1000"),
                         capsys)
    assert code != 0
    assert_one_error_line(err, first.name, "64x64", "4,096 pixels", "limit of 1,000 pixels")
    assert not (tmp_path / "out").exists()  # refused before any work
    code, err = run_main(["seg", "evaluate", "--checkpoint", str(trained_run / "best.pt"), "--data",
                          str(multiclass_root), "--max-pixels", "1000", "--quiet"], capsys)
    assert code != 0
    assert_one_error_line(err, "64x64", "1,000 pixels")
