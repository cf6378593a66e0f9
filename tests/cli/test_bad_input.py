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
                          "--loss", "focl"], capsys)
    assert code != 0
    assert_one_error_line(err, "--loss", "focl")


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


# -- values, configs and outputs the bad-input benchmark (benchmarks/bad_inputs.py) found unguarded ----------

def dry_run(*extra: str) -> list[str]:
    return ["seg", "train", "--data", "somewhere", "--out", "run", "--dry-run", *extra]


@pytest.mark.parametrize(("args", "flag"), [
    (dry_run("--lr", "inf"), "'--lr'"),
    (dry_run("--max-time", "nan"), "'--max-time'"),
    (dry_run("--seed", str(2**70)), "'--seed'"),
    (["gan", "train", "--data", "somewhere", "--out", "run", "--g-lr", "inf", "--dry-run"], "'--g-lr'"),
    (["gan", "train", "--data", "somewhere", "--out", "run", "--r1-gamma", "nan", "--dry-run"], "'--r1-gamma'"),
    (["demo", "--out", "demo", "--minutes", "nan"], "'--minutes'"),
    (["data", "download", "oxford-pet", "--root", "dl", "--deadline", "inf"], "'--deadline'"),
    (["gan", "sample", "--checkpoint", "g.pt", "--out", "s", "--num", "1000000000000"], "'--num'"),
    (["data", "preview", "root", "--out", "grid.png", "--samples", "1000000000"], "'--samples'"),
])
def test_non_finite_and_huge_values_are_refused_before_any_work(args: list[str], flag: str, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, err = run_main(args, capsys)
    assert code == 2
    assert_one_error_line(err, flag)
    assert not any(tmp_path.iterdir())


def test_config_values_that_no_range_catches(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("optim: {lr: .inf}\n")
    code, err = run_main(dry_run("--config", str(config)), capsys)
    assert code == 1
    assert_one_error_line(err, "bad.yaml.optim.lr", "finite")
    code, err = run_main(dry_run("--image-size", "100000", "100000"), capsys)
    assert code == 1
    assert_one_error_line(err, "image_size", "16384")


@pytest.mark.parametrize("command", ["seg", "gan"])
def test_a_config_section_of_the_wrong_shape_is_not_dropped(command: str, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("optim: [1, 2]\n")
    code, err = run_main([command, "train", "--data", "d", "--out", "run", "--config", str(config), "--dry-run"],
                         capsys)
    assert code == 1
    assert_one_error_line(err, "bad.yaml.optim", "expected a mapping")


def test_resume_names_a_damaged_run_config(trained_run: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    run = Path(shutil.copytree(trained_run, tmp_path / "run"))
    saved = yaml.safe_load((run / "config.yaml").read_text())
    saved["train"] = ["not", "a", "mapping"]
    (run / "config.yaml").write_text(yaml.safe_dump(saved))
    before = snapshot(run)
    code, err = run_main(["seg", "train", "--out", str(run), "--resume", "--dry-run"], capsys)
    assert code == 1
    assert_one_error_line(err, str(run / "config.yaml"), "train")
    assert snapshot(run) == before


def test_a_newline_in_a_file_name_stays_on_one_line(tmp_path: Path, tiny_yaml: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_main(train_args(tmp_path / "two\nlines", tmp_path / "out", tiny_yaml), capsys)
    assert code == 1
    assert_one_error_line(err, "two\\nlines", "not found")


def test_zero_class_weight_names_the_file(multiclass_root: Path, tmp_path: Path, tiny_yaml: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    weights = tmp_path / "w.yaml"
    weights.write_text("class_weights: [0, 1, 1, 1]\n")
    code, err = run_main([*train_args(multiclass_root, tmp_path / "out", tiny_yaml), "--loss", "ce",
                          "--class-weights", str(weights)], capsys)
    assert code == 1
    assert_one_error_line(err, str(weights), "> 0")
    assert not (tmp_path / "out").exists()


def test_checkpoint_of_an_unknown_model_names_the_file(trained_run: Path, multiclass_root: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    state = torch.load(trained_run / "best.pt", weights_only=True)
    state["model"]["name"] = "unet-huge"
    torch.save(state, tmp_path / "odd.pt")
    code, err = run_main(predict_args(tmp_path / "odd.pt", multiclass_root / "test" / "images", tmp_path / "p"),
                         capsys)
    assert code == 1
    assert_one_error_line(err, "odd.pt", "unet-huge")


def test_predict_never_replaces_a_file_already_in_out(trained_run: Path, multiclass_root: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "test_0002.png").write_bytes(b"mine")
    code, err = run_main(predict_args(trained_run / "best.pt", multiclass_root / "test" / "images", out), capsys)
    assert code == 1
    assert_one_error_line(err, "test_0002.png", "already exists")
    assert snapshot(out) == {"test_0002.png": b"mine"}
    main([*predict_args(trained_run / "best.pt", multiclass_root / "test" / "images", out), "--overwrite"])
    assert (out / "test_0002.png").read_bytes() != b"mine"  # asked for: replaced


@pytest.mark.parametrize("where", ["folder", "under a file"])
def test_evaluate_json_target_is_checked_before_work(where: str, trained_run: Path, multiclass_root: Path,
                                                     tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "scores").mkdir()
    (tmp_path / "notes.txt").write_text("mine")
    target = tmp_path / ("scores" if where == "folder" else "notes.txt/scores.json")
    code, err = run_main(["seg", "evaluate", "--checkpoint", str(trained_run / "best.pt"), "--data",
                          str(multiclass_root), "--json", str(target), "--quiet"], capsys)
    assert code == 1
    assert_one_error_line(err, "scores" if where == "folder" else "notes.txt", "--json")
    assert (tmp_path / "notes.txt").read_text() == "mine" and not any((tmp_path / "scores").iterdir())


def test_data_command_outputs_are_checked(multiclass_root: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "file.txt").write_text("mine")
    code, err = run_main(["data", "stats", str(multiclass_root), "--write-weights", str(tmp_path / "folder"),
                          "--quiet"], capsys)
    assert code == 1
    assert_one_error_line(err, "folder", "--write-weights")
    code, err = run_main(["data", "preview", str(multiclass_root), "--out", str(tmp_path / "folder")], capsys)
    assert code == 1
    assert_one_error_line(err, "folder", "--out")
    config = tmp_path / "p.yaml"
    config.write_text("data: [1, 2]\n")
    code, err = run_main(["data", "preview", str(multiclass_root), "--out", str(tmp_path / "g.png"), "--config",
                          str(config)], capsys)
    assert code == 1
    assert_one_error_line(err, "p.yaml.data", "expected a mapping")
    code, err = run_main(["data", "download", "oxford-pet", "--root", str(tmp_path / "file.txt")], capsys)
    assert code == 1
    assert_one_error_line(err, "file.txt", "--root")
    assert (tmp_path / "file.txt").read_text() == "mine" and not any((tmp_path / "folder").iterdir())


@pytest.fixture(scope="module")
def gan_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A tiny dcgan run, a tiny pix2pix run and the pix2pix inputs (A/)."""
    from segen.config import GanConfig
    from segen.data import SyntheticSpec, write_folder_dataset
    from segen.data.synthetic import write_paired_dataset
    from segen.training.gan import train_gan

    base = tmp_path_factory.mktemp("gan-bad-input")
    write_folder_dataset(base / "data", SyntheticSpec(32, 32, num_classes=3), seed=7, splits={"train": 8})
    pairs = write_paired_dataset(base / "pairs", SyntheticSpec(32, 32, num_classes=3), seed=8, count=4)
    runs = []
    for name, root, model in (("dcgan", base / "data" / "train" / "images", {}), ("pix2pix", pairs, {"depth": 5})):
        cfg = GanConfig.from_dict({"model": {"name": name, "width": 8, "d_width": 8, **model},
                                   "data": {"root": str(root), "num_workers": 0},
                                   "train": {"out": str(base / name), "epochs": 1, "batch_size": 4}})
        train_gan(cfg, progress=False)
        runs.append(base / name / "last.pt")
    return runs[0], runs[1], pairs / "A"


def test_gan_sample_never_replaces_files(gan_runs: tuple[Path, Path, Path], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    dcgan, pix2pix, inputs = gan_runs
    (tmp_path / "file.png").write_bytes(b"mine")
    code, err = run_main(["gan", "sample", "--checkpoint", str(dcgan), "--out", str(tmp_path / "file.png")], capsys)
    assert code == 1
    assert_one_error_line(err, "file.png", "--out")
    album = tmp_path / "album"
    album.mkdir()
    (album / "00001.png").write_bytes(b"mine")
    code, err = run_main(["gan", "sample", "--checkpoint", str(dcgan), "--out", str(album), "--num", "3"], capsys)
    assert code == 1
    assert_one_error_line(err, "00001.png", "already exists")
    assert snapshot(album) == {"00001.png": b"mine"}
    main(["gan", "sample", "--checkpoint", str(dcgan), "--out", str(album), "--num", "3", "--overwrite"])
    assert (album / "00001.png").read_bytes() != b"mine"
    maps = Path(shutil.copytree(inputs, tmp_path / "maps"))
    before = snapshot(maps)
    code, err = run_main(["gan", "sample", "--checkpoint", str(pix2pix), "--input", str(maps), "--out", str(maps)],
                         capsys)
    assert code == 1
    assert_one_error_line(err, "input folder", "--out")
    assert snapshot(maps) == before
    assert (tmp_path / "file.png").read_bytes() == b"mine"


def test_gan_sample_streams_the_same_images(gan_runs: tuple[Path, Path, Path], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    from segen.inference.generator import Generator

    dcgan, _, _ = gan_runs
    generator = Generator.from_checkpoint(dcgan)
    batches = list(generator.sample_batches(5, seed=3, batch_size=2))
    assert [start for start, _ in batches] == [0, 2, 4]
    assert torch.equal(torch.cat([images for _, images in batches]), generator.sample(5, seed=3))
    main(["gan", "sample", "--checkpoint", str(dcgan), "--out", str(tmp_path / "s"), "--num", "5", "--seed", "3",
          "--grid"])
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == [*(f"0000{i}.png" for i in range(5)), "grid.png"]
