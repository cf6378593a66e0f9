"""GAN datasets: image folders, class folders, IDX files, image pairs, the layout registry and their errors."""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from segen.data import readers
from segen.data.gan import (
    FASHION_MNIST_CLASSES,
    ClassFolderImages,
    GanDataInfo,
    GanRequest,
    IdxImages,
    PairedImages,
    UnlabelledImages,
    detect_gan_layout,
    find_idx_split,
    get_gan_layout,
    layouts,
    list_gan_layouts,
    open_gan_dataset,
    parse_id_range,
    read_idx,
)
from segen.errors import ConfigError, DataError


def _save(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def _grey(value: int, height: int = 10, width: int = 12) -> np.ndarray:
    return np.full((height, width), value, dtype=np.uint8)


def _rgb(seed: int, height: int = 10, width: int = 12) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _idx_bytes(array: np.ndarray, code: int = 0x08) -> bytes:
    header = struct.pack(">HBB", 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(">u1").tobytes()


def _write_idx(path: Path, array: np.ndarray, gz: bool = False) -> Path:
    data = _idx_bytes(array)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def _mnist(root: Path, split: str = "train", count: int = 6, labels: bool = True, gz: bool = True) -> np.ndarray:
    """An MNIST-style folder; image i is filled with value 10 * i and has label i % 3."""
    root.mkdir(parents=True, exist_ok=True)
    prefix, suffix = ("train" if split == "train" else "t10k"), (".gz" if gz else "")
    images = np.stack([np.full((28, 28), 10 * i, dtype=np.uint8) for i in range(count)])
    _write_idx(root / f"{prefix}-images-idx3-ubyte{suffix}", images, gz)
    if labels:
        _write_idx(root / f"{prefix}-labels-idx1-ubyte{suffix}", np.arange(count, dtype=np.uint8) % 3, gz)
    return images


def _class_folders(root: Path) -> Path:
    for name, count in (("cat", 2), ("dog", 3)):
        for i in range(count):
            _save(root / name / f"{i}.png", _grey(40 * i))
    return root


def _side_by_side(root: Path, count: int = 3, width: int = 16) -> Path:
    """Pairs 1..count, A dark (10) on the left, B bright (240) on the right."""
    for i in range(1, count + 1):
        _save(root / f"{i}.png", np.concatenate([_grey(10, 8, width // 2), _grey(240, 8, width - width // 2)], 1))
    return root


def _ab_folders(root: Path, stems: tuple[str, ...] = ("x", "y")) -> Path:
    for stem in stems:
        _save(root / "A" / f"{stem}.png", _grey(10, 8, 8))
        _save(root / "B" / f"{stem}.jpg", np.full((8, 8, 3), 240, dtype=np.uint8))
    return root


# ------------------------------------------------------------------------------------------ image folders


def test_unlabelled_images_recursive_sorted_and_resized(tmp_path: Path) -> None:
    _save(tmp_path / "b.PNG", _grey(5))
    _save(tmp_path / "a" / "c.jpg", _rgb(0))
    _save(tmp_path / "a" / "d.webp", _rgb(1))
    _save(tmp_path / ".hidden" / "e.png", _grey(1))
    (tmp_path / "notes.txt").write_text("not an image")
    data = UnlabelledImages(tmp_path, (16, 20), 3)
    assert [p.name for p in data.paths] == ["c.jpg", "d.webp", "b.PNG"]
    image = data[2]
    assert image.dtype == torch.uint8 and image.shape == (3, 16, 20)
    assert torch.equal(image[0], image[1]) and int(image.float().mean().round()) == 5
    grey = UnlabelledImages(tmp_path, 8, 1)[0]
    assert grey.dtype == torch.uint8 and grey.shape == (1, 8, 8)


def test_own_size_and_channels_when_none(tmp_path: Path) -> None:
    _save(tmp_path / "grey" / "a.png", _grey(0, 10, 12))
    _save(tmp_path / "grey" / "b.png", _rgb(0, 20, 30))
    data = UnlabelledImages(tmp_path / "grey", None, None)
    assert (data.image_size, data.channels) == ((10, 12), 1) and data[1].shape == (1, 10, 12)
    classes = ClassFolderImages(_class_folders(tmp_path / "classes"), None, None)
    assert (classes.image_size, classes.channels) == ((10, 12), 1)
    pairs = PairedImages(_side_by_side(tmp_path / "sbs", width=16), None)
    assert (pairs.image_size, pairs.channels_a, pairs.channels_b) == ((8, 8), 1, 1)


def test_unlabelled_images_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"missing: no such file or directory"):
        UnlabelledImages(tmp_path / "missing", 8, 3)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"empty: no images found"):
        UnlabelledImages(tmp_path / "empty", 8, 3)
    (tmp_path / "bad" / "broken.png").parent.mkdir()
    (tmp_path / "bad" / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DataError, match=r"broken\.png: cannot read image"):  # the first image's header is read
        UnlabelledImages(tmp_path / "bad", 8, 3)
    _save(tmp_path / "bad" / "a.png", _grey(0))
    data = UnlabelledImages(tmp_path / "bad", 8, 3)
    with pytest.raises(DataError, match=r"broken\.png: cannot read image"):
        data[1]
    with pytest.raises(ConfigError, match="channels must be 1 or 3"):
        UnlabelledImages(tmp_path / "bad", 8, 2)


def test_class_folders(tmp_path: Path) -> None:
    data = ClassFolderImages(_class_folders(tmp_path), (6, 6), 3)
    assert data.class_names == ["cat", "dog"] and len(data) == 5
    image, label = data[3]
    assert image.shape == (3, 6, 6) and image.dtype == torch.uint8
    assert label.dtype == torch.int64 and int(label) == 1
    assert [int(data[i][1]) for i in range(5)] == [0, 0, 1, 1, 1]


def test_class_folders_errors(tmp_path: Path) -> None:
    _save(tmp_path / "one" / "only" / "0.png", _grey(0))
    with pytest.raises(DataError, match="one: need at least 2 class sub-folders, found 1"):
        ClassFolderImages(tmp_path / "one", 8, 1)
    _class_folders(tmp_path / "two")
    (tmp_path / "two" / "empty").mkdir()
    with pytest.raises(DataError, match=r"two/empty: class folder has no images"):
        ClassFolderImages(tmp_path / "two", 8, 1)


# ---------------------------------------------------------------------------------------------- IDX files


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_plain_and_gzipped(tmp_path: Path, gz: bool) -> None:
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    result = read_idx(_write_idx(tmp_path / "x-idx3-ubyte", array, gz))
    assert result.dtype == np.uint8 and np.array_equal(result, array) and result.flags.writeable
    wide = np.array([1, -2, 300], dtype=">i4")
    header = struct.pack(">HBBI", 0, 0x0C, 1, 3)
    (tmp_path / "w").write_bytes(header + wide.tobytes())
    assert read_idx(tmp_path / "w").tolist() == [1, -2, 300]


def test_read_idx_errors(tmp_path: Path) -> None:
    good = _idx_bytes(np.zeros((4, 5, 5), dtype=np.uint8))
    cases = {
        "truncated": (good[:-7], r"truncated: the header gives shape \(4, 5, 5\) \(100 data bytes\), "
                                 "the file holds 93"),
        "extra": (good + b"\0", "has extra bytes"),
        "magic": (b"\x12\x34" + good[2:], r"not an IDX file \(magic number 0x12340803"),
        "dtype": (good[:2] + b"\x07" + good[3:], "unknown IDX data type 0x07"),
        "header": (good[:10], "truncated IDX header"),
        "tiny": (b"\0\0", "too short for an IDX header"),
        "gzip": (gzip.compress(good)[:-10], "corrupt or truncated gzip data"),
    }
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(DataError, match=rf"{name}: {message}"):
            read_idx(tmp_path / name)
    with pytest.raises(DataError, match="nothing: no such file or directory"):
        read_idx(tmp_path / "nothing")


def test_idx_images_with_labels_and_class_names(tmp_path: Path) -> None:
    images = _mnist(tmp_path)
    data = IdxImages(*find_idx_split(tmp_path, "train"), (32, 32), 3)
    assert len(data) == 6 and data.class_names == tuple("0123456789")
    image, label = data[4]
    assert image.shape == (3, 32, 32) and image.dtype == torch.uint8 and bool((image == 40).all())
    assert label.dtype == torch.int64 and int(label) == 1
    fashion = IdxImages(*find_idx_split(tmp_path, "train"), 28, 1, class_names="fashion-mnist")
    assert fashion.class_names == FASHION_MNIST_CLASSES and fashion.class_names[0] == "T-shirt/top"
    named = IdxImages(*find_idx_split(tmp_path, "train"), 28, 1, class_names=["a", "b", "c"])
    assert named.class_names == ("a", "b", "c")
    with pytest.raises(DataError, match="label 2 >= number of class names 2"):
        IdxImages(*find_idx_split(tmp_path, "train"), 28, 1, class_names=["a", "b"])
    unlabelled = IdxImages(find_idx_split(tmp_path, "train")[0], None, 28, 1)
    assert torch.equal(unlabelled[5], torch.from_numpy(images[5])[None])


def test_idx_same_size_is_not_resized(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _mnist(tmp_path, gz=False)

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("resize called")

    monkeypatch.setattr(readers, "resize", fail)
    data = IdxImages(*find_idx_split(tmp_path, "train"), (28, 28), 1)
    assert data[0][0].shape == (1, 28, 28)


def test_find_idx_split_and_label_mismatch(tmp_path: Path) -> None:
    _mnist(tmp_path, "test", count=3, labels=False, gz=False)
    images, labels = find_idx_split(tmp_path, "test")
    assert images.name == "t10k-images-idx3-ubyte" and labels is None
    with pytest.raises(DataError, match=r"no train-images-idx3-ubyte\[\.gz\] for split 'train'"):
        find_idx_split(tmp_path, "train")
    with pytest.raises(ConfigError, match="split must be 'train' or 'test'"):
        find_idx_split(tmp_path, "val")
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(4, dtype=np.uint8))
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte: 4 labels for 3 images"):
        IdxImages(*find_idx_split(tmp_path, "test"), 28, 1)


# ---------------------------------------------------------------------------------------------- pairs


def test_side_by_side_pairs_and_direction(tmp_path: Path) -> None:
    _side_by_side(tmp_path)
    data = PairedImages(tmp_path, (8, 8), channels_a=1, channels_b=3)
    assert data.layout == "side-by-side" and len(data) == 3
    source, target = data[0]
    assert source.shape == (1, 8, 8) and target.shape == (3, 8, 8) and source.dtype == target.dtype == torch.uint8
    assert bool((source == 10).all()) and bool((target == 240).all())
    source, target = PairedImages(tmp_path, 8, 1, 3, direction="BtoA")[0]
    assert source.shape == (3, 8, 8) and bool((source == 240).all()) and bool((target == 10).all())
    with pytest.raises(ConfigError, match="direction must be"):
        PairedImages(tmp_path, 8, direction="sideways")


def test_paired_folders(tmp_path: Path) -> None:
    data = PairedImages(_ab_folders(tmp_path), (4, 6), 3, 1)
    assert data.layout == "paired-folders" and data.stems == ["x", "y"]
    source, target = data[1]
    assert source.shape == (3, 4, 6) and target.shape == (1, 4, 6)
    assert int(source.max()) < 30 and int(target.min()) > 220


def test_paired_errors(tmp_path: Path) -> None:
    _save(tmp_path / "odd" / "1.png", _grey(0, 8, 15))
    with pytest.raises(DataError, match=r"1\.png: width 15 is odd"):
        PairedImages(tmp_path / "odd", 8)
    _ab_folders(tmp_path / "ab", ("a", "b", "c", "d", "e"))
    for stem in "bcde":
        (tmp_path / "ab" / "B" / f"{stem}.jpg").unlink()
    _save(tmp_path / "ab" / "B" / "z.png", _grey(0))
    with pytest.raises(DataError, match=r"ab: files without a partner .*: A/b\.png, A/c\.png, A/d\.png and 2 more"):
        PairedImages(tmp_path / "ab", 8)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty: no images found"):
        PairedImages(tmp_path / "empty", 8)
    with pytest.raises(DataError, match="gone: no such file or directory"):
        PairedImages(tmp_path / "gone", 8)


def test_parse_id_range() -> None:
    assert parse_id_range("1-3") == ["1", "2", "3"]
    assert parse_id_range(" 1, 2,5-7 ") == ["1", "2", "5", "6", "7"]
    assert len(parse_id_range("1-350")) == 350
    for bad in ("", "a-3", "5-2", "1-", "1,,2"):
        with pytest.raises(ConfigError, match="invalid id range"):
            parse_id_range(bad)


def test_ids_select_pairs(tmp_path: Path) -> None:
    _side_by_side(tmp_path, count=12)
    train = PairedImages(tmp_path, 8, ids=parse_id_range("1-10"))
    held_out = PairedImages(tmp_path, 8, ids=parse_id_range("11-12"))
    assert len(train) == 10 and sorted(held_out.stems) == ["11", "12"]
    assert not set(train.stems) & set(held_out.stems)
    (tmp_path / "7.png").rename(tmp_path / "007.png")
    assert PairedImages(tmp_path, 8, ids=["7", 8]).stems == ["007", "8"]
    with pytest.raises(DataError, match=r"no image for id\(s\) 13, 14"):
        PairedImages(tmp_path, 8, ids=parse_id_range("10-14"))


@pytest.mark.parametrize("layout", ["side-by-side", "paired-folders"])
def test_jitter_keeps_pairs_aligned(tmp_path: Path, layout: str) -> None:
    content = _rgb(3, 16, 16)
    if layout == "side-by-side":
        _save(tmp_path / "p.png", np.concatenate([content, content], 1))
    else:
        _save(tmp_path / "A" / "p.png", content)
        _save(tmp_path / "B" / "p.png", content)
    data = PairedImages(tmp_path, (16, 16), jitter=True)
    plain = PairedImages(tmp_path, (16, 16))[0][0]
    outputs = set()
    for seed in range(12):
        torch.manual_seed(seed)
        source, target = data[0]
        assert source.shape == (3, 16, 16) and torch.equal(source, target)
        outputs.add(source.numpy().tobytes())
    assert len(outputs) > 2 and plain.numpy().tobytes() not in outputs


# -------------------------------------------------------------------------------------- layout and opening


def test_detect_gan_layout(tmp_path: Path) -> None:
    _mnist(tmp_path / "idx")
    _class_folders(tmp_path / "classes")
    _ab_folders(tmp_path / "ab")
    _side_by_side(tmp_path / "sbs")
    _save(tmp_path / "mixed" / "top.png", _grey(0))
    _class_folders(tmp_path / "mixed")
    assert detect_gan_layout(tmp_path / "idx") == "idx"
    assert detect_gan_layout(tmp_path / "classes") == "class-folders"
    assert detect_gan_layout(tmp_path / "ab") == "paired-folders"
    assert detect_gan_layout(tmp_path / "sbs") == "images"
    assert detect_gan_layout(tmp_path / "mixed") == "images"
    with pytest.raises(DataError, match="nope: no such file or directory"):
        detect_gan_layout(tmp_path / "nope")


def test_open_unconditional_drops_labels(tmp_path: Path) -> None:
    _mnist(tmp_path / "idx")
    _class_folders(tmp_path / "classes")
    _ab_folders(tmp_path / "ab")
    dataset, info = open_gan_dataset(tmp_path / "idx", "none", 28, 1)
    assert isinstance(dataset[0], torch.Tensor)
    assert info == GanDataInfo(6, 1, (28, 28), 0, (), "idx")
    assert open_gan_dataset(tmp_path / "idx", "none", None, None)[1] == info
    dataset, info = open_gan_dataset(tmp_path / "classes", "none", 8, 3)
    assert len(dataset) == 5 and dataset[0].shape == (3, 8, 8) and info.layout == "class-folders"
    dataset, info = open_gan_dataset(tmp_path / "ab", "none", 8, 3)
    assert len(dataset) == 2 and int(dataset[0].min()) > 220  # the target folder B
    with pytest.raises(ConfigError, match="ids select image pairs"):
        open_gan_dataset(tmp_path / "classes", "none", 8, 3, ids="1-2")


def test_open_class(tmp_path: Path) -> None:
    _mnist(tmp_path / "idx")
    _class_folders(tmp_path / "classes")
    _side_by_side(tmp_path / "plain")
    dataset, info = open_gan_dataset(tmp_path / "idx", "class", 28, 1, class_names="fashion-mnist")
    assert info.num_classes == 10 and info.class_names == FASHION_MNIST_CLASSES and int(dataset[2][1]) == 2
    dataset, info = open_gan_dataset(tmp_path / "classes", "class", 8, 1)
    assert info.class_names == ("cat", "dog") and info.num_classes == 2 and int(dataset[4][1]) == 1
    with pytest.raises(DataError, match=r"plain: class-conditional data needs labels .* layout is 'images'"):
        open_gan_dataset(tmp_path / "plain", "class", 8, 1)
    _mnist(tmp_path / "nolabels", labels=False)
    with pytest.raises(DataError, match=r"nolabels: class-conditional data needs labels, but there is no train-labels"):
        open_gan_dataset(tmp_path / "nolabels", "class", 28, 1)


def test_open_paired(tmp_path: Path) -> None:
    _side_by_side(tmp_path / "sbs", count=4)
    _ab_folders(tmp_path / "ab")
    _class_folders(tmp_path / "classes")
    dataset, info = open_gan_dataset(tmp_path / "sbs", "image", 8, (1, 3), direction="BtoA", ids="2-3")
    assert info == GanDataInfo(2, 3, (8, 8), 0, (), "side-by-side", in_channels=1)
    source, target = dataset[0]
    assert source.shape == (1, 8, 8) and bool((source == 240).all())
    assert target.shape == (3, 8, 8) and bool((target == 10).all())
    dataset, info = open_gan_dataset(tmp_path / "ab", "image", None, None, jitter=True)
    assert info == GanDataInfo(2, 3, (8, 8), 0, (), "paired-folders", in_channels=1)
    assert dataset[0][0].shape == (1, 8, 8) and dataset[0][1].shape == (3, 8, 8)
    _, info = open_gan_dataset(tmp_path / "ab", "image", 16, 1, direction="BtoA")
    assert (info.channels, info.in_channels, info.image_size) == (1, 3, (16, 16))
    with pytest.raises(DataError, match="classes: paired data needs side-by-side"):
        open_gan_dataset(tmp_path / "classes", "image", 8, 3)
    with pytest.raises(DataError, match="missing: no such file or directory"):
        open_gan_dataset(tmp_path / "missing", "image", 8, 3)
    with pytest.raises(ConfigError, match="kind must be one of"):
        open_gan_dataset(tmp_path / "sbs", "conditional", 8, 3)


def test_open_split_folders(tmp_path: Path) -> None:
    _side_by_side(tmp_path / "facades" / "train", count=3)
    _side_by_side(tmp_path / "facades" / "test", count=2)
    assert open_gan_dataset(tmp_path / "facades", "image", 8, 3)[1].num_images == 3
    assert open_gan_dataset(tmp_path / "facades", "image", 8, 3, split="test")[1].num_images == 2
    with pytest.raises(DataError, match=r"facades: no val/ folder \(found test, train\)"):
        open_gan_dataset(tmp_path / "facades", "image", 8, 3, split="val")
    _mnist(tmp_path / "idx", "test", count=2)
    assert open_gan_dataset(tmp_path / "idx", "class", 28, 1, split="test")[1].num_images == 2


def test_layout_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert list_gan_layouts() == ["idx", "paired-folders", "class-folders", "images"]
    assert get_gan_layout("idx").kinds == ("none", "class")
    with pytest.raises(ConfigError, match=r"unknown GAN data layout 'mnist'; valid: auto, idx, paired-folders, "
                                          r"class-folders, images"):
        get_gan_layout("mnist")
    _class_folders(tmp_path / "classes")
    with pytest.raises(ConfigError, match="unknown GAN data layout 'nope'"):
        open_gan_dataset(tmp_path / "classes", "none", 8, 1, layout="nope")
    _, info = open_gan_dataset(tmp_path / "classes", "none", 8, 1, layout="images")  # named, not detected
    assert info.layout == "images" and info.num_images == 5

    @dataclass
    class Opened:
        root: Path
        request: GanRequest

    class Everything:
        name, priority, kinds, file_splits = "everything", 0, ("none", "class", "image"), False

        def detect(self, root: Path) -> bool:
            return (root / "everything.txt").is_file()

        def open(self, root: Path, request: GanRequest) -> tuple[Any, GanDataInfo]:
            return Opened(root, request), GanDataInfo(1, 3, (4, 4), 0, (), self.name)

    monkeypatch.setitem(layouts._LAYOUTS.members, "everything", Everything())
    (tmp_path / "classes" / "everything.txt").write_text("")
    assert detect_gan_layout(tmp_path / "classes") == "everything"
    opened, info = open_gan_dataset(tmp_path / "classes", "image", 4, (1, 3), ids="1-2", direction="BtoA")
    assert info.layout == "everything" and isinstance(opened, Opened)
    assert opened.request == GanRequest("image", (4, 4), 3, 1, "train", "BtoA", False, ("1", "2"), None)
