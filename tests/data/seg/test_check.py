"""Dataset checks (every problem with its file) and statistics (pixels, mean/std, class weights)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from segen.config import DataConfig
from segen.data import SyntheticSpec, load_segmentation_data, make_sample, write_folder_dataset
from segen.data.io import save_image
from segen.data.seg.check import Problem, check_dataset, format_problems
from segen.data.seg.folder import ClassInfo, Sample, SplitListing
from segen.data.seg.stats import (
    dataset_stats,
    format_stats,
    load_class_weights,
    median_frequency_weights,
    save_class_weights,
)
from segen.errors import DataError

PALETTE = [[0, 0, 0], [220, 60, 50], [60, 170, 230], [240, 200, 40]]


@pytest.fixture(scope="session")
def clean_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4-class synthetic shapes, 32x32: train 6, val 2, test 2."""
    root = tmp_path_factory.mktemp("check_clean")
    return write_folder_dataset(root, SyntheticSpec(32, 32, num_classes=4), seed=5,
                                splits={"train": 6, "val": 2, "test": 2})


@pytest.fixture()
def data(clean_root: Path, tmp_path: Path) -> Path:
    """A private copy of the clean dataset that a test may damage."""
    return Path(shutil.copytree(clean_root, tmp_path / "data"))


def found(problems: list[Problem]) -> set[tuple[str, str]]:
    return {(p.kind, p.path) for p in problems}


def test_clean_dataset_has_no_problems(data: Path) -> None:
    problems = check_dataset(data, progress=False)
    assert problems == []
    assert format_problems(problems) == f"no problems found in {data} (10 images in splits train 6, val 2, test 2)"


def test_every_planted_defect_is_listed_with_its_file(data: Path) -> None:
    train, test = data / "train", data / "test"
    (train / "masks" / "train_0000.png").unlink()                      # unpaired image
    (test / "images" / "test_0000.png").unlink()                        # unpaired mask
    Image.open(train / "images" / "train_0001.png").save(train / "images" / "train_0001.jpg")  # duplicate
    for f in (data / "val").glob("*/*.png"):                            # empty
        f.unlink()
    (train / "images" / "train_0002.png").write_bytes(b"not an image at all" * 10)  # corrupt image
    truncated = test / "masks" / "test_0001.png"                       # corrupt (truncated) mask
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    cut = train / "images" / "train_0005.png"                          # corrupt (truncated) image
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    Image.fromarray(np.zeros((16, 20), np.uint8)).save(train / "masks" / "train_0001.png")  # mismatch
    bad = np.asarray(Image.open(train / "masks" / "train_0003.png")).copy()
    bad[0, 0] = 9                                                        # values
    Image.fromarray(bad).save(train / "masks" / "train_0003.png")
    ids = np.asarray(Image.open(train / "masks" / "train_0004.png"))
    colour = np.array(PALETTE, np.uint8)[ids]                            # colour-mask
    Image.fromarray(colour).save(train / "masks" / "train_0004.png")

    problems = check_dataset(data, progress=False)
    expected = {
        ("unpaired", str(train / "images" / "train_0000.png")),
        ("unpaired", str(test / "masks" / "test_0000.png")),
        ("duplicate", str(train / "images" / "train_0001.png")),
        ("empty", str(data / "val" / "images")),
        ("corrupt", str(train / "images" / "train_0002.png")),
        ("corrupt", str(truncated)),
        ("corrupt", str(cut)),
        ("mismatch", str(train / "masks" / "train_0001.png")),
        ("values", str(train / "masks" / "train_0003.png")),
        ("colour-mask", str(train / "masks" / "train_0004.png")),
    }
    assert found(problems) == expected, format_problems(problems)
    by_kind = {p.kind: p for p in problems}
    assert "train_0001.jpg" in by_kind["duplicate"].message
    assert "class id 9 >= number of classes 4" in by_kind["values"].message
    assert "16" in by_kind["mismatch"].message and "20x16" in by_kind["mismatch"].message
    report = format_problems(problems)
    assert report.startswith(f"10 problems (10 errors, 0 warnings) in {data}:")
    for kind, path in expected:
        assert f"{kind}: {path}: " in report
    assert "\ncorrupt: 3 - " in report


def test_colour_mask_against_the_palette(data: Path) -> None:
    masks = data / "train" / "masks"
    ids = np.asarray(Image.open(masks / "train_0000.png"))
    Image.fromarray(np.array(PALETTE, np.uint8)[ids]).save(masks / "train_0000.png")
    off = np.array(PALETTE, np.uint8)[np.asarray(Image.open(masks / "train_0001.png"))]
    off[0, 0] = (1, 2, 3)
    Image.fromarray(off).save(masks / "train_0001.png")
    problems = {p.path: p for p in check_dataset(data, progress=False)}
    assert {p.kind for p in problems.values()} == {"colour-mask"}
    assert "all its colours are class colours" in problems[str(masks / "train_0000.png")].message
    assert "(1, 2, 3)" in problems[str(masks / "train_0001.png")].message
    (data / "classes.yaml").write_text(yaml.safe_dump({"names": ["a", "b", "c", "d"]}))
    problem, = (p for p in check_dataset(data, progress=False) if p.path.endswith("train_0000.png"))
    assert "no class colours" in problem.message


def test_missing_folders_and_root(data: Path, tmp_path: Path) -> None:
    shutil.rmtree(data / "val" / "masks")
    shutil.rmtree(data / "train" / "masks")  # no longer detected as the folder format: still checked as one
    problems = check_dataset(data, progress=False)
    assert found(problems) == {("missing", str(data / "val" / "masks")),
                               ("missing", str(data / "train" / "masks"))}
    shutil.rmtree(data / "test" / "images")
    assert ("missing", str(data / "test" / "images")) in found(check_dataset(data, progress=False))
    assert found(check_dataset(tmp_path / "nowhere", progress=False)) == {("missing", str(tmp_path / "nowhere"))}
    (tmp_path / "odd").mkdir()
    assert found(check_dataset(tmp_path / "odd", progress=False)) == {("invalid", str(tmp_path / "odd"))}


def test_channel_mismatch_is_a_warning(data: Path) -> None:
    image = data / "val" / "images" / "val_0001.png"
    Image.open(image).convert("L").save(image)
    problems = check_dataset(data, progress=False)
    assert found(problems) == {("channel-mismatch", str(image))}
    assert problems[0].is_warning and "greyscale image in split 'val'" in problems[0].message
    assert "(warning)" in format_problems(problems)


def test_without_class_names_skipped_ids_are_flagged(data: Path) -> None:
    (data / "classes.yaml").unlink()
    mask = data / "train" / "masks" / "train_0002.png"
    ids = np.asarray(Image.open(mask)).copy()
    ids[:2, :2] = 9
    Image.fromarray(ids).save(mask)
    problems = check_dataset(data, progress=False)
    assert found(problems) == {("id-gap", str(mask))}
    assert "4..8" in problems[0].message and "10 classes" in problems[0].message


class FakeFormat:
    """A non-folder format that lists one pair and one unpaired file in val, and a bad pair in train."""

    name = "fake"

    def __init__(self, root: Path) -> None:
        self.root = root

    def detect(self, root: Path) -> bool:
        return True

    def splits(self, root: Path) -> list[str]:
        return ["train", "val"]

    def listing(self, root: Path, split: str) -> SplitListing:
        images, masks = root / split / "images", root / split / "masks"
        if split == "val":
            lonely = root / "val" / "x.png"
            problem = DataError(f"{lonely}: no label file x_gt.png in {root / 'val'}", kind="unpaired", path=lonely)
            return SplitListing([Sample(images / "val_0000.png", masks / "val_0000.png")], [problem])
        return SplitListing([Sample(images / f"train_000{i}.png", masks / f"train_000{i}.png") for i in range(6)])

    def samples(self, root: Path, split: str) -> list[Sample]:
        return self.listing(root, split).strict()

    def classes(self, root: Path) -> ClassInfo | None:
        return ClassInfo(["a", "b", "c"])

    def mask_lut(self, root: Path, ignore_index: int) -> np.ndarray | None:
        lut = np.arange(256, dtype=np.uint8)
        lut[3] = ignore_index  # class 3 of the synthetic data is void here
        return lut


def test_other_formats_go_through_the_protocol(data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("segen.data.seg.check.get_format", lambda name, root: FakeFormat(root))
    mask = data / "train" / "masks" / "train_0001.png"
    ids = np.asarray(Image.open(mask)).copy()
    ids[0, 0] = 7
    Image.fromarray(ids).save(mask)
    broken = data / "val" / "images" / "val_0000.png"
    broken.write_bytes(b"not an image")
    problems = check_dataset(data, format="fake", progress=False)
    assert found(problems) == {("unpaired", str(data / "val" / "x.png")), ("values", str(mask)),
                               ("corrupt", str(broken))}
    assert problems.format == "fake" and problems.images == {"train": 6, "val": 1}


def as_camvid(folder_root: Path, dst: Path) -> Path:
    """The folder-format dataset rearranged as CamVid: ROOT/{split}/ and ROOT/{split}annot/."""
    for split in ("train", "val"):
        shutil.copytree(folder_root / split / "images", dst / split)
        shutil.copytree(folder_root / split / "masks", dst / f"{split}annot")
    return dst


@pytest.mark.parametrize("words", ["duplicate no mask not found no images", "size mismatch unreadable"])
def test_words_in_the_root_path_do_not_change_the_kinds(clean_root: Path, tmp_path: Path, words: str) -> None:
    """Kinds come from the errors themselves, never from their wording, which holds the user's path."""
    kinds = []
    for parent in (tmp_path / "plain", tmp_path / words):
        root = as_camvid(clean_root, parent / "camvid")
        (root / "valannot" / "val_0000.png").unlink()
        Image.open(root / "train" / "train_0001.png").save(root / "train" / "train_0001.jpg")
        (root / "train" / "train_0002.png").write_bytes(b"not an image")
        report = check_dataset(root, progress=False)
        assert report.format == "camvid"
        kinds.append(sorted((p.kind, Path(p.path).relative_to(root).as_posix()) for p in report))
    assert kinds[0] == kinds[1] == [("corrupt", "train/train_0002.png"), ("duplicate", "train/train_0001.png"),
                                    ("unpaired", "val/val_0000.png")]


# --- statistics ---------------------------------------------------------------------------------------------


def write_pair(root: Path, split: str, name: str, rgb: tuple[int, int, int], mask: np.ndarray) -> None:
    for sub in ("images", "masks"):
        (root / split / sub).mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((4, 4, 3), rgb, np.uint8)).save(root / split / "images" / f"{name}.png")
    Image.fromarray(mask.astype(np.uint8)).save(root / split / "masks" / f"{name}.png")


@pytest.fixture()
def hand_root(tmp_path: Path) -> Path:
    """Classes bg, road, car, bike; train: bg 18, road 10, car 2, ignore 2; val: 4 of each class."""
    root = tmp_path / "hand"
    a = np.array([0] * 10 + [1] * 4 + [255] * 2).reshape(4, 4)
    b = np.array([0] * 8 + [1] * 6 + [2] * 2).reshape(4, 4)
    write_pair(root, "train", "a", (0, 255, 51), a)
    write_pair(root, "train", "b", (255, 255, 102), b)
    write_pair(root, "val", "c", (10, 10, 10), np.repeat([0, 1, 2, 3], 4).reshape(4, 4))
    (root / "classes.yaml").write_text(yaml.safe_dump({"names": ["bg", "road", "car", "bike"]}))
    return root


def test_stats_by_hand(hand_root: Path) -> None:
    stats = dataset_stats(hand_root, progress=False)
    assert stats.images == {"train": 2, "val": 1} and stats.format == "folder"
    assert stats.train_pixels == [18, 10, 2, 0] and stats.train_ignored == 2
    assert stats.all_pixels == [22, 14, 6, 4] and stats.all_ignored == 2
    assert stats.train_share == pytest.approx([18 / 30, 10 / 30, 2 / 30, 0])
    assert stats.all_share == pytest.approx([22 / 46, 14 / 46, 6 / 46, 4 / 46])
    assert stats.train_ignore_share == pytest.approx(2 / 32) and stats.all_ignore_share == pytest.approx(2 / 48)
    median = 10 / 30
    assert stats.class_weights == pytest.approx([median / (18 / 30), 1.0, median / (2 / 30), 10.0])
    assert stats.notes == ["class 'bike' has no pixels in train: weight 10"]
    assert stats.channels == 3 and stats.stats_images == 2
    assert stats.mean == pytest.approx([0.5, 1.0, 0.3]) and stats.max_value == 255
    assert stats.std == pytest.approx([0.5, 1e-3, 0.1], abs=1e-6)  # the loader's floor: normalising never divides by 0
    first = dataset_stats(hand_root, max_images=1, progress=False)
    assert first.stats_images == 1 and first.mean == pytest.approx([0.0, 1.0, 0.2])
    table = format_stats(stats)
    assert "bike" in table and "ignored (255)" in table and "60.00%" in table and "5.000" in table


def test_median_frequency_weights_clip() -> None:
    assert median_frequency_weights([1000, 10, 1, 0]) == pytest.approx([0.1, 1.0, 10.0, 10.0])  # absent: the limit
    assert median_frequency_weights([50, 50]) == [1.0, 1.0]
    assert median_frequency_weights([0, 0]) == [1.0, 1.0]


def test_stats_reject_out_of_range_ids(hand_root: Path) -> None:
    write_pair(hand_root, "train", "z", (0, 0, 0), np.full((4, 4), 7))
    with pytest.raises(DataError, match="class id 7 >= number of classes 4") as error:
        dataset_stats(hand_root, progress=False)
    assert error.value.path is not None and Path(error.value.path).name.startswith("z")
    assert str(error.value).startswith(str(error.value.path))


def test_class_weights_yaml_round_trip(hand_root: Path, tmp_path: Path) -> None:
    stats = dataset_stats(hand_root, progress=False)
    path = save_class_weights(stats, tmp_path / "weights.yaml")
    data = yaml.safe_load(path.read_text())
    assert data["names"] == ["bg", "road", "car", "bike"]
    assert load_class_weights(path, 4) == pytest.approx(stats.class_weights, abs=1e-6)
    with pytest.raises(DataError, match="4 class weights for 3 classes"):
        load_class_weights(path, 3)
    with pytest.raises(DataError, match="not found"):
        load_class_weights(tmp_path / "missing.yaml", 4)
    (tmp_path / "bad.yaml").write_text("class_weights: [1, x, -2]\n")
    with pytest.raises(DataError, match="a list of numbers"):
        load_class_weights(tmp_path / "bad.yaml", 3)
    (tmp_path / "zero.yaml").write_text("class_weights: [0, 1, 1]\n")
    with pytest.raises(DataError, match="must be > 0"):
        load_class_weights(tmp_path / "zero.yaml", 3)
    (tmp_path / "broken.yaml").write_text("class_weights: [1, 2\n")
    with pytest.raises(DataError, match="not valid YAML"):
        load_class_weights(tmp_path / "broken.yaml", 2)


def test_stats_of_12bit_images_use_the_data_range_as_the_loader_does(tmp_path: Path) -> None:
    root = write_folder_dataset(tmp_path / "wide", SyntheticSpec(32, 32, num_classes=3, bits=12), seed=2,
                                splits={"train": 4, "val": 2})
    stats = dataset_stats(root, progress=False)
    data = load_segmentation_data(DataConfig(root=str(root)), seed=0)
    assert stats.max_value == data.max_value == 4095
    assert stats.mean == pytest.approx(data.mean) and stats.std == pytest.approx(data.std)
    assert all(0.2 < m < 0.8 for m in stats.mean)  # divided by 255 they would be far above 1


def test_mixed_bit_depths_are_a_problem(clean_root: Path, tmp_path: Path) -> None:
    """The loader needs one value range for all images, so check names the 16-bit image among 8-bit ones."""
    root = Path(shutil.copytree(clean_root, tmp_path / "mixed"))
    image, _ = make_sample(SyntheticSpec(32, 32, num_classes=4, bits=12), 5, 0)
    wide = root / "train" / "images" / "train_0000.png"
    save_image(image, wide)
    problems = check_dataset(root, progress=False)
    assert found(problems) == {("bit-depth", str(wide))}
    assert "16-bit image among 9 8-bit images" in problems[0].message and not problems[0].is_warning
    with pytest.raises(DataError, match=r"8-bit image in a dataset of 16-bit images \(such as train_0000\.png\)"):
        load_segmentation_data(DataConfig(root=str(root)), seed=0)


def test_training_data_without_a_labelled_pixel_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "void"
    for name in ("a", "b"):
        write_pair(root, "train", name, (9, 9, 9), np.full((4, 4), 255))
    write_pair(root, "val", "c", (9, 9, 9), np.arange(16).reshape(4, 4) % 3)  # ids 0..2: not a 0/255 mask
    with pytest.raises(DataError, match="every training mask holds only the ignore value 255") as error:
        load_segmentation_data(DataConfig(root=str(root)), seed=0)
    assert error.value.path == root
