"""Public dataset formats (CamVid, VOC, Cityscapes, Oxford-IIIT Pet, image/label) and conversion to folders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segen.config import DataConfig
from segen.data import SegmentationDataset, load_segmentation_data, read_mask
from segen.data.seg import check
from segen.data.seg.convert import convert_dataset
from segen.data.seg.formats import get_format
from segen.data.seg.public_formats import CITYSCAPES_CLASSES, PET_CLASSES, VOC_CLASSES
from segen.errors import DataError
from segen.preprocess import class_colors

H, W = 8, 12
Maker = Callable[[Path], Path]


def _image(path: Path, seed: int, grey: bool = False, suffix: str = ".png") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (H, W) if grey else (H, W, 3)
    pixels = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    Image.fromarray(pixels).save(path.with_suffix(suffix))


def _mask(path: Path, values: list[int], seed: int, palette: list[int] | None = None) -> np.ndarray:
    """A mask using every value of `values` (in the first pixels), the rest random among them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flat = np.random.default_rng(seed).choice(values, H * W).astype(np.uint8)
    flat[: len(values)] = values
    array = flat.reshape(H, W)
    if palette is None:
        Image.fromarray(array).save(path)
        return array
    image = Image.new("P", (W, H))
    image.putpalette(palette)
    image.putdata(flat.tolist())
    image.save(path)
    return array


def make_camvid(root: Path, counts: dict[str, int] | None = None) -> Path:
    for split, n in (counts or {"train": 3, "val": 2}).items():
        for i in range(n):
            _image(root / split / f"f{i:03d}.png", i)
            _mask(root / f"{split}annot" / f"f{i:03d}.png", [0, 3, 10, 11], i)
    return root


def make_voc(root: Path) -> Path:
    inner = root / "VOCdevkit" / "VOC2012"
    palette = [c for rgb in class_colors(256) for c in rgb]
    stems = {"train": ["2007_000001", "2007_000002", "2007_000003"], "val": ["2008_000001", "2008_000002"]}
    for split, names in stems.items():
        for i, stem in enumerate(names):
            _image(inner / "JPEGImages" / stem, i, suffix=".jpg")
            _mask(inner / "SegmentationClass" / f"{stem}.png", [0, 15, 20, 255], i, palette)
        lists = inner / "ImageSets" / "Segmentation"
        lists.mkdir(parents=True, exist_ok=True)
        (lists / f"{split}.txt").write_text("\n".join(names) + "\n")
    (inner / "ImageSets" / "Segmentation" / "trainval.txt").write_text("\n".join(stems["train"] + stems["val"]))
    return root


def make_oxford_pet(root: Path) -> Path:
    """The layout `segen data download oxford-pet` extracts: images/, annotations/trimaps/, split lists."""
    stems = {"trainval": ["Abyssinian_1", "Abyssinian_2", "beagle_1"], "test": ["beagle_2", "pug_1"]}
    for split, names in stems.items():
        for i, stem in enumerate(names):
            _image(root / "images" / stem, i, suffix=".jpg")
            _mask(root / "annotations" / "trimaps" / f"{stem}.png", [1, 2, 3], i)
        lines = [f"{stem} {i + 1} 1 1" for i, stem in enumerate(names)]
        (root / "annotations" / f"{split}.txt").write_text("#Image CLASS-ID SPECIES BREED ID\n" + "\n".join(lines))
    (root / "images" / "Abyssinian_100.mat").write_bytes(b"not an image, not listed")
    return root


def make_cityscapes(root: Path) -> Path:
    for split, cities in {"train": ["aachen", "bochum"], "val": ["lindau"], "test": ["berlin"]}.items():
        for c, city in enumerate(cities):
            for i in range(2):
                prefix = f"{city}_{i:06d}_000019"
                _image(root / "leftImg8bit" / split / city / f"{prefix}_leftImg8bit.png", c * 10 + i)
                values = [0, 1] if split == "test" else [0, 7, 26, 33, 4]  # test: void only, like the real one
                _mask(root / "gtFine" / split / city / f"{prefix}_gtFine_labelIds.png", values, i)
    return root


def make_image_label(root: Path, n: int = 5, plural: bool = False) -> Path:
    images, labels = ("images", "labels") if plural else ("image", "label")
    for i in range(n):
        _image(root / images / f"{i}.png", i, grey=True)
        _mask(root / labels / f"{i}.png", [0, 255, 200, 30], i)
    return root


@pytest.mark.parametrize(("maker", "name"), [(make_camvid, "camvid"), (make_voc, "voc"),
                                             (make_cityscapes, "cityscapes"), (make_image_label, "image-label")])
def test_detect(tmp_path: Path, maker: Maker, name: str) -> None:
    assert get_format("auto", maker(tmp_path)).name == name


def test_camvid(tmp_path: Path) -> None:
    root = make_camvid(tmp_path, {"train": 3, "val": 2, "test": 1})
    (tmp_path / "extra").mkdir()
    fmt = get_format("camvid")
    assert fmt.splits(root) == ["train", "val", "test"]
    samples = fmt.samples(root, "train")
    assert [(s.image.name, s.mask.parent.name) for s in samples] == [(f"f00{i}.png", "trainannot") for i in range(3)]
    classes = fmt.classes(root)
    assert classes is not None and classes.names[0] == "Sky" and classes.num_classes == 11
    assert len(classes.colors) == 11
    lut = fmt.mask_lut(root, 255)
    assert lut is not None and lut[11] == 255 and lut[10] == 10 and lut[0] == 0 and lut[12] == 12
    data = load_segmentation_data(DataConfig(root=str(root), format="camvid"), seed=0)
    assert data.classes.num_classes == 11 and len(data.train) == 3 and len(data.val) == 2
    assert data.test is not None and len(data.test) == 1
    assert set(data.train.mask(0).unique().tolist()) == {0, 3, 10, 255}


def test_camvid_missing_mask_and_bad_value(tmp_path: Path) -> None:
    root = make_camvid(tmp_path)
    (root / "valannot" / "f001.png").unlink()
    with pytest.raises(DataError, match=r"f001\.png: no mask with the same name"):
        get_format("camvid").samples(root, "val")
    make_camvid(tmp_path)
    _mask(root / "trainannot" / "f000.png", [0, 12], 0)
    with pytest.raises(DataError, match=r"f000\.png: class id 12 >= number of classes 11"):
        load_segmentation_data(DataConfig(root=str(root), format="camvid"), seed=0)


def test_voc(tmp_path: Path) -> None:
    root = make_voc(tmp_path)
    fmt = get_format("voc")
    for given in (root, root / "VOCdevkit", root / "VOCdevkit" / "VOC2012"):
        assert fmt.detect(given) and fmt.splits(given) == ["train", "val"]
    samples = fmt.samples(root, "val")
    assert [s.image.name for s in samples] == ["2008_000001.jpg", "2008_000002.jpg"]
    assert samples[0].mask == root / "VOCdevkit" / "VOC2012" / "SegmentationClass" / "2008_000001.png"
    classes = fmt.classes(root)
    assert classes is not None and classes.names == VOC_CLASSES
    assert classes.colors[1] == (128, 0, 0) and classes.colors[15] == (192, 128, 128)
    data = load_segmentation_data(DataConfig(root=str(root), format="auto"), seed=0)
    assert data.format == "voc" and data.classes.num_classes == 21 and len(data.train) == 3 and len(data.val) == 2
    assert data.test is None
    assert set(data.train.mask(0).unique().tolist()) == {0, 15, 20, 255}


def test_voc_listed_but_missing(tmp_path: Path) -> None:
    root = make_voc(tmp_path)
    inner = root / "VOCdevkit" / "VOC2012"
    (inner / "SegmentationClass" / "2007_000002.png").unlink()
    with pytest.raises(DataError, match=r"SegmentationClass/2007_000002\.png: not found .*train\.txt"):
        get_format("voc").samples(root, "train")
    _mask(inner / "SegmentationClass" / "2007_000002.png", [0, 1], 0)
    with (inner / "ImageSets" / "Segmentation" / "val.txt").open("a") as f:
        f.write("2009_999999\n")
    with pytest.raises(DataError, match=r"JPEGImages/2009_999999\.jpg: not found"):
        load_segmentation_data(DataConfig(root=str(inner), format="voc"), seed=0)


def test_oxford_pet(tmp_path: Path) -> None:
    root = make_oxford_pet(tmp_path)
    fmt = get_format("oxford-pet")
    assert fmt.detect(root) and fmt.splits(root) == ["train", "test"]
    assert [s.image.name for s in fmt.samples(root, "test")] == ["beagle_2.jpg", "pug_1.jpg"]
    lut = fmt.mask_lut(root, 255)
    assert lut is not None and (lut[1], lut[2], lut[3]) == (1, 0, 255) and lut[7] == 7
    data = load_segmentation_data(DataConfig(root=str(root), format="auto"), seed=0)
    assert data.format == "oxford-pet" and data.classes.names == PET_CLASSES
    assert len(data.train) + len(data.val) == 3 and data.test is not None and len(data.test) == 2
    assert set(data.test.mask(0).unique().tolist()) == {0, 1, 255}


def test_oxford_pet_listed_but_missing(tmp_path: Path) -> None:
    root = make_oxford_pet(tmp_path)
    (root / "annotations" / "trimaps" / "pug_1.png").unlink()
    with pytest.raises(DataError, match=r"trimaps/pug_1\.png: not found \('pug_1' is listed in .*test\.txt\)"):
        get_format("oxford-pet").samples(root, "test")
    with pytest.raises(DataError, match=r"has splits train and test, not 'val'"):
        get_format("oxford-pet").samples(root, "val")


def test_cityscapes(tmp_path: Path) -> None:
    root = make_cityscapes(tmp_path)
    fmt = get_format("cityscapes")
    assert fmt.splits(root) == ["train", "val"]  # test masks hold only void
    samples = fmt.samples(root, "train")
    assert len(samples) == 4
    for s in samples:
        assert s.mask.name == s.image.name.replace("_leftImg8bit", "_gtFine_labelIds")
        assert s.mask.parent.name == s.image.parent.name
    classes = fmt.classes(root)
    assert classes is not None and classes.names == CITYSCAPES_CLASSES and classes.colors[0] == (128, 64, 128)
    lut = fmt.mask_lut(root, 255)
    assert lut is not None and lut[26] == 13 and lut[7] == 0 and lut[33] == 18 and lut[0] == 255 and lut[34] == 255
    data = load_segmentation_data(DataConfig(root=str(root), format="cityscapes"), seed=0)
    assert data.classes.num_classes == 19 and len(data.train) == 4 and len(data.val) == 2 and data.test is None
    assert set(data.train.mask(0).unique().tolist()) == {0, 13, 18, 255}


def test_cityscapes_unpaired(tmp_path: Path) -> None:
    root = make_cityscapes(tmp_path)
    (root / "gtFine" / "train" / "bochum" / "bochum_000001_000019_gtFine_labelIds.png").unlink()
    with pytest.raises(DataError, match=r"bochum_000001_000019_leftImg8bit\.png: no label file"):
        get_format("cityscapes").samples(root, "train")


@pytest.mark.parametrize("plural", [False, True])
def test_image_label(tmp_path: Path, plural: bool) -> None:
    root = make_image_label(tmp_path, plural=plural)
    fmt = get_format("image-label")
    assert fmt.splits(root) == ["train"] and len(fmt.samples(root, "train")) == 5
    classes = fmt.classes(root)
    assert classes is not None and classes.names == ["background", "foreground"]
    lut = fmt.mask_lut(root, 255)
    assert lut is not None and lut[255] == 1 and lut[200] == 1 and lut[127] == 0 and lut[0] == 0
    data = load_segmentation_data(DataConfig(root=str(root), format="image-label", val_fraction=0.2), seed=0)
    assert data.classes.num_classes == 2 and data.channels == 1
    assert len(data.train) == 4 and len(data.val) == 1 and "held out 1 of 5" in data.notes[0]
    raw = read_mask(data.train.samples[0].mask)
    assert np.array_equal(data.train.mask(0).numpy(), (raw > 127).astype(np.uint8))


def test_image_label_inverted(tmp_path: Path) -> None:
    root = make_image_label(tmp_path)
    assert get_format("auto", root).name == "image-label"
    data = load_segmentation_data(DataConfig(root=str(root), format="image-label-inverted"), seed=0)
    raw = read_mask(data.train.samples[0].mask)
    assert np.array_equal(data.train.mask(0).numpy(), (raw <= 127).astype(np.uint8))


def test_image_label_missing_label(tmp_path: Path) -> None:
    root = make_image_label(tmp_path)
    (root / "label" / "3.png").unlink()
    with pytest.raises(DataError, match=r"image/3\.png: no mask with the same name"):
        load_segmentation_data(DataConfig(root=str(root), format="image-label"), seed=0)


def _masks(split: SegmentationDataset) -> dict[str, np.ndarray]:
    return {s.image.stem: split.mask(i).numpy() for i, s in enumerate(split.samples)}


@pytest.mark.parametrize(("maker", "name"), [(make_camvid, "camvid"), (make_cityscapes, "cityscapes"),
                                             (make_voc, "voc")])
def test_convert_round_trip(tmp_path: Path, maker: Maker, name: str) -> None:
    src = maker(tmp_path / "src")
    dst = convert_dataset(name, src, tmp_path / "out", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "src"]  # no temporary folder left
    original = load_segmentation_data(DataConfig(root=str(src), format=name), seed=0)
    converted = load_segmentation_data(DataConfig(root=str(dst), format="folder"), seed=0)
    assert converted.classes.names == original.classes.names
    assert converted.classes.colors == original.classes.colors
    for a, b in ((original.train, converted.train), (original.val, converted.val)):
        assert _masks(a).keys() == _masks(b).keys()
        for stem, mask in _masks(a).items():
            assert np.array_equal(mask, _masks(b)[stem])
    if name != "voc":  # PNG sources: the pixels are copied exactly
        assert np.array_equal(original.train.image(0).numpy(), converted.train.image(0).numpy())


def test_convert_resize(tmp_path: Path) -> None:
    src = make_camvid(tmp_path / "src")
    dst = convert_dataset("camvid", src, tmp_path / "out", resize=(4, 6), progress=False)
    data = load_segmentation_data(DataConfig(root=str(dst)), seed=0)
    assert data.classes.num_classes == 11 and set(data.train.sizes) == {(4, 6)}
    image, mask = data.train[0]
    assert image.shape == (3, 4, 6) and mask.shape == (4, 6)
    for split in (data.train, data.val):
        for i in range(len(split)):
            assert set(split.mask(i).unique().tolist()) <= {0, 3, 10, 255}


def test_convert_image_label_grey(tmp_path: Path) -> None:
    src = make_image_label(tmp_path / "src")
    dst = convert_dataset("image-label-inverted", src, tmp_path / "out", resize=(6, 6), progress=False)
    assert sorted(p.name for p in dst.iterdir()) == ["classes.yaml", "train"]
    with Image.open(next((dst / "train" / "images").iterdir())) as im:
        assert im.mode == "L" and im.size == (6, 6)
    data = load_segmentation_data(DataConfig(root=str(dst)), seed=0)
    assert data.classes.names == ["background", "foreground"] and data.channels == 1
    assert set(data.train.mask(0).unique().tolist()) <= {0, 1}


def test_convert_refuses_non_empty_destination(tmp_path: Path) -> None:
    src = make_camvid(tmp_path / "src")
    dst = tmp_path / "out"
    dst.mkdir()
    (dst / "keep.txt").write_text("mine")
    with pytest.raises(DataError, match="not empty"):
        convert_dataset("camvid", src, dst, progress=False)
    assert [p.name for p in dst.iterdir()] == ["keep.txt"] and (dst / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "src"]


def test_convert_into_empty_destination(tmp_path: Path) -> None:
    src = make_camvid(tmp_path / "src")
    (tmp_path / "out").mkdir()
    dst = convert_dataset("auto", src, tmp_path / "out", progress=False)
    assert sorted(p.name for p in dst.iterdir()) == ["classes.yaml", "train", "val"]


def test_failed_conversion_leaves_nothing(tmp_path: Path) -> None:
    src = make_camvid(tmp_path / "src")
    (src / "valannot" / "f001.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"f001\.png: cannot read mask"):
        convert_dataset("camvid", src, tmp_path / "out", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _damage_camvid(root: Path) -> tuple[set[tuple[str, str]], int]:
    (root / "trainannot" / "f001.png").unlink()
    _truncate(root / "train" / "f003.png")
    return {("unpaired", str(root / "train" / "f001.png")), ("corrupt", str(root / "train" / "f003.png"))}, 4


def _damage_voc(root: Path) -> tuple[set[tuple[str, str]], int]:
    inner = root / "VOCdevkit" / "VOC2012"
    (inner / "SegmentationClass" / "2007_000001.png").unlink()
    _truncate(inner / "JPEGImages" / "2007_000003.jpg")
    return {("missing", str(inner / "SegmentationClass" / "2007_000001.png")),
            ("corrupt", str(inner / "JPEGImages" / "2007_000003.jpg"))}, 2


def _damage_cityscapes(root: Path) -> tuple[set[tuple[str, str]], int]:
    train = root / "leftImg8bit" / "train"
    (root / "gtFine" / "train" / "bochum" / "bochum_000001_000019_gtFine_labelIds.png").unlink()
    _truncate(train / "aachen" / "aachen_000000_000019_leftImg8bit.png")
    return {("unpaired", str(train / "bochum" / "bochum_000001_000019_leftImg8bit.png")),
            ("corrupt", str(train / "aachen" / "aachen_000000_000019_leftImg8bit.png"))}, 3


def _damage_pet(root: Path) -> tuple[set[tuple[str, str]], int]:
    (root / "annotations" / "trimaps" / "Abyssinian_2.png").unlink()
    _truncate(root / "images" / "beagle_1.jpg")
    return {("missing", str(root / "annotations" / "trimaps" / "Abyssinian_2.png")),
            ("corrupt", str(root / "images" / "beagle_1.jpg"))}, 2


def _damage_image_label(root: Path) -> tuple[set[tuple[str, str]], int]:
    (root / "label" / "0.png").unlink()
    _truncate(root / "image" / "4.png")
    return {("unpaired", str(root / "image" / "0.png")), ("corrupt", str(root / "image" / "4.png"))}, 4


@pytest.mark.parametrize(("maker", "damage"), [
    (lambda r: make_camvid(r, {"train": 5, "val": 2}), _damage_camvid), (make_voc, _damage_voc),
    (make_cityscapes, _damage_cityscapes), (make_oxford_pet, _damage_pet), (make_image_label, _damage_image_label)])
def test_check_lists_every_problem_of_a_public_format(tmp_path: Path, maker: Maker,
                                                      damage: Callable[[Path], tuple[set[tuple[str, str]], int]],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """An unpaired image does not hide a truncated one: both are reported and every pair is decoded."""
    root = maker(tmp_path / "data")
    expected, pairs = damage(root)
    decoded: list[Path] = []
    real_read = check.read_image
    monkeypatch.setattr(check, "read_image", lambda path, channels: decoded.append(path) or real_read(path, channels))
    report = check.check_dataset(root, progress=False)
    assert {(p.kind, p.path) for p in report} == expected, check.format_problems(report)
    assert report.images["train"] == pairs
    train = get_format(report.format).listing(root, "train").samples
    reported = {Path(p.path) for p in report}
    assert len(train) == pairs and {s.image for s in train} - reported <= set(decoded)


def test_listing_returns_the_pairs_and_every_problem(tmp_path: Path) -> None:
    root = make_camvid(tmp_path, {"train": 4})
    (root / "trainannot" / "f001.png").unlink()
    (root / "train" / "f002.png").unlink()
    _image(root / "train" / "f003.png", 3, suffix=".jpg")  # a second file with stem f003
    fmt = get_format("camvid")
    listing = fmt.listing(root, "train")
    assert [s.image.name for s in listing.samples] == ["f000.png", "f003.jpg"]
    assert [(e.kind, e.path) for e in listing.problems] == [
        ("duplicate", root / "train" / "f003.png"), ("unpaired", root / "train" / "f001.png"),
        ("unpaired", root / "trainannot" / "f002.png")]
    with pytest.raises(DataError, match="f003.png: duplicate name") as info:
        fmt.samples(root, "train")
    assert info.value.kind == "duplicate"
    missing = fmt.listing(root, "val")
    assert missing.samples == [] and [e.kind for e in missing.problems] == ["missing", "missing"]


def test_check_cityscapes_whose_first_label_is_corrupt(tmp_path: Path) -> None:
    root = make_cityscapes(tmp_path)
    first = root / "gtFine" / "train" / "aachen" / "aachen_000000_000019_gtFine_labelIds.png"
    first.write_bytes(b"not a png")
    report = check.check_dataset(root, progress=False)
    assert {(p.kind, p.path) for p in report} == {("corrupt", str(first))}
    assert report.images == {"train": 4, "val": 2}
