"""The web app's work without a page: masks equal to `segen seg predict`, limits, bad uploads, generation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from conftest import TINY_UNET, seg_checkpoint
from segen.data.io import read_mask
from segen.errors import ConfigError, DataError
from segen.inference import Segmenter, predict_files
from segen.inference.generator import Generator
from segen.reports.palette import label_map_colors, snap_to_palette
from segen.serve import generate
from segen.serve.catalog import Catalog, display_names
from segen.serve.runs import metrics_table, read_history, sample_grids
from segen.serve.segment import Limits, class_shares, segment_upload, with_tta
from serving import LABEL_COLORS


def _same_as_predict(segmenter: Segmenter, image: Path, tmp_path: Path, **kwargs: object) -> None:
    result = segment_upload(segmenter, image, image.name, tmp_path, Limits(**kwargs), probabilities=True)  # type: ignore[arg-type]
    predict_files(segmenter, image, tmp_path / "cli", probabilities=True, progress=False)
    np.testing.assert_array_equal(read_mask(result.mask_file), read_mask(tmp_path / "cli" / f"{image.stem}.png"))
    assert result.mask_file.read_bytes() == (tmp_path / "cli" / f"{image.stem}.png").read_bytes()
    assert result.probabilities_file is not None
    expected = np.load(tmp_path / "cli" / f"{image.stem}_prob.npy")
    np.testing.assert_array_equal(np.load(result.probabilities_file), expected)


def test_a_png_upload_gives_predicts_mask_and_probabilities(trained_run: Path, multiclass_root: Path,
                                                            tmp_path: Path) -> None:
    segmenter = Segmenter.from_checkpoint(trained_run / "best.pt")
    _same_as_predict(segmenter, sorted((multiclass_root / "test" / "images").glob("*.png"))[0], tmp_path)


def test_a_16_bit_tiff_upload_is_read_at_its_depth(tmp_path: Path) -> None:
    checkpoint = seg_checkpoint(tmp_path / "deep.pt", channels=1, max_value=4095, **TINY_UNET)
    image = tmp_path / "deep.tif"
    tifffile.imwrite(image, np.random.default_rng(1).integers(0, 4096, (40, 50), dtype=np.uint16))
    _same_as_predict(Segmenter.from_checkpoint(checkpoint), image, tmp_path)


def test_a_large_upload_is_tiled_with_progress_and_still_equals_predict(tmp_path: Path) -> None:
    checkpoint = seg_checkpoint(tmp_path / "small.pt", **TINY_UNET)
    image = tmp_path / "large.png"
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (2100, 2050, 3), dtype=np.uint8)).save(image)
    segmenter = Segmenter.from_checkpoint(checkpoint)
    seen: list[float] = []
    result = segment_upload(segmenter, image, image.name, tmp_path, Limits(max_upload_mb=50), on_progress=seen.append)
    assert result.tiled and result.size == (2100, 2050)
    assert max(result.preview.shape[:2]) == Limits().preview_side  # a downscaled preview
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) > 1
    predict_files(segmenter, image, tmp_path / "cli", progress=False)
    np.testing.assert_array_equal(read_mask(result.mask_file), read_mask(tmp_path / "cli" / "large.png"))


def test_tta_changes_the_copy_not_the_loaded_model(trained_run: Path) -> None:
    segmenter = Segmenter.from_checkpoint(trained_run / "best.pt")
    flipped = with_tta(segmenter, "d4")
    assert flipped.tta == "d4" and segmenter.tta == "none" and flipped.model is segmenter.model
    with pytest.raises(ValueError):
        with_tta(segmenter, "rotate")


@pytest.mark.parametrize(("content", "message"), [
    (b"not an image at all", "cannot read image"),
    (None, "truncated"),
])
def test_bad_uploads_name_the_file_not_the_servers_copy(content: bytes | None, message: str, trained_run: Path,
                                                        multiclass_root: Path, tmp_path: Path) -> None:
    upload = tmp_path / "cache-7f3a" / "photo.png"
    upload.parent.mkdir()
    good = sorted((multiclass_root / "test" / "images").glob("*.png"))[0].read_bytes()
    upload.write_bytes(content if content is not None else good[:300])
    with pytest.raises(DataError, match=message) as error:
        segment_upload(Segmenter.from_checkpoint(trained_run / "best.pt"), upload, "photo.png", tmp_path, Limits())
    assert str(error.value).startswith("photo.png:") and "cache-7f3a" not in str(error.value)


def test_wrong_channels_and_limits_are_refused(trained_run: Path, tmp_path: Path) -> None:
    segmenter = Segmenter.from_checkpoint(trained_run / "best.pt")
    five = tmp_path / "five.tif"
    tifffile.imwrite(five, np.zeros((5, 16, 16), dtype=np.uint8), photometric="minisblack", planarconfig="separate")
    with pytest.raises(DataError, match="five.tif"):
        segment_upload(segmenter, five, "five.tif", tmp_path, Limits())
    wide = tmp_path / "wide.png"
    Image.fromarray(np.zeros((100, 120, 3), dtype=np.uint8)).save(wide)
    with pytest.raises(DataError, match="wide.png"):
        segment_upload(segmenter, wide, "wide.png", tmp_path, Limits(max_pixels=100 * 119))
    with pytest.raises(DataError, match="upload limit"):
        segment_upload(segmenter, wide, "wide.png", tmp_path, Limits(max_upload_mb=1e-4))


def test_class_shares_count_every_pixel() -> None:
    mask = np.array([[0, 1], [1, 2]], dtype=np.uint8)
    shares = class_shares(mask, ["a", "b", "c", "d"], [(0, 0, 0)] * 4)
    assert [s[2] for s in shares] == [1, 2, 1, 0]
    assert sum(s[3] for s in shares) == pytest.approx(1.0)


def test_samples_follow_the_seed_and_the_class(gan_checkpoints: dict[str, Path], tmp_path: Path) -> None:
    dcgan = Generator.from_checkpoint(gan_checkpoints["dcgan"])
    first, _ = generate.sample(dcgan, 3, 4, None, tmp_path)
    again, _ = generate.sample(dcgan, 3, 4, None, tmp_path)
    other, _ = generate.sample(dcgan, 4, 4, None, tmp_path)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    cgan = Generator.from_checkpoint(gan_checkpoints["cgan"])
    k1, _ = generate.sample(cgan, 0, 1, "k1", tmp_path)
    k2, _ = generate.sample(cgan, 0, 1, "k2", tmp_path)
    assert k1.shape == (32, 32, 3) and not np.array_equal(k1, k2)
    with pytest.raises(ConfigError, match="unknown class"):
        generate.sample(cgan, 0, 1, "k9", tmp_path)
    with pytest.raises(ConfigError, match="1..64"):
        generate.sample(dcgan, 0, 65, None, tmp_path)


def test_pix2pix_translates_an_upload_and_a_drawing(gan_checkpoints: dict[str, Path], tmp_path: Path) -> None:
    pix2pix = Generator.from_checkpoint(gan_checkpoints["pix2pix"])
    palette = [tuple(c) for c in LABEL_COLORS]
    assert pix2pix.info.palette == palette
    canvas = generate.blank_canvas(pix2pix, palette)  # type: ignore[arg-type]
    assert canvas.shape == (32, 32, 3) and (canvas == 0).all()
    canvas[8:20, 8:20] = (225, 58, 47)  # off-palette, as brush edges are
    drawn, path = generate.translate_drawing(pix2pix, canvas, palette, tmp_path, Limits())  # type: ignore[arg-type]
    assert drawn.shape == (32, 32, 3) and path.is_file()
    snapped = snap_to_palette(canvas, palette)  # type: ignore[arg-type]
    assert {tuple(c) for c in snapped.reshape(-1, 3)} == {(0, 0, 0), (220, 60, 50)}
    upload = tmp_path / "labels.png"
    Image.fromarray(snapped).save(upload)
    translated, _ = generate.translate_upload(pix2pix, upload, "labels.png", tmp_path, Limits())
    np.testing.assert_array_equal(translated, drawn)  # the same input, drawn or uploaded
    with pytest.raises(DataError, match="draw a label map"):
        generate.translate_drawing(pix2pix, None, palette, tmp_path, Limits())  # type: ignore[arg-type]


def test_label_map_colors_find_a_palette_and_refuse_photos() -> None:
    maps = np.zeros((2, 20, 20, 3), dtype=np.uint8)
    maps[:, :10] = (220, 60, 50)
    maps[1, 15:] = (60, 170, 230)
    assert label_map_colors(maps) == [(220, 60, 50), (0, 0, 0), (60, 170, 230)]  # most frequent first
    photos = np.random.default_rng(0).integers(0, 256, (2, 20, 20, 3), dtype=np.uint8)
    assert label_map_colors(photos) == []


def test_the_catalog_reaches_only_what_it_was_given(trained_run: Path, gan_checkpoints: dict[str, Path],
                                                    tmp_path: Path) -> None:
    catalog = Catalog.load([trained_run / "best.pt"], [gan_checkpoints["dcgan"]], trained_run.parent)
    assert list(catalog.segmenters) == ["best.pt"] and catalog.run_names() == [trained_run.name]
    assert catalog.run(trained_run.name) == trained_run.resolve()
    for name in ("..", "../" + trained_run.parent.name, str(trained_run), "/etc", None):
        with pytest.raises(ConfigError, match="no run named"):
            catalog.run(name)
    with pytest.raises(ConfigError, match="unknown segmentation checkpoint"):
        catalog.segmenter(str(trained_run / "best.pt"))
    assert display_names(["a/x/best.pt", "b/x/best.pt", "c/last.pt"]) == ["a/x/best.pt", "b/x/best.pt", "c/last.pt"]
    assert display_names(["a/best.pt", "b/last.pt"]) == ["best.pt", "last.pt"]
    with pytest.raises(ConfigError, match="nothing to serve"):
        Catalog.load()


def test_the_runs_view_reads_a_run_folder(trained_run: Path, tmp_path: Path) -> None:
    history = read_history(trained_run)
    headers, rows = metrics_table(history)
    assert headers[:3] == ["epoch", "step", "time_s"] and len(rows) == len(history) == 2
    assert sample_grids(trained_run) == []
    run = tmp_path / "gan-run"
    (run / "samples").mkdir(parents=True)
    for step in range(0, 200, 10):
        Image.fromarray(np.full((4, 4, 3), step, dtype=np.uint8)).save(run / "samples" / f"step-{step}.png")
    grids = sample_grids(run)
    assert [caption for _, caption in grids] == [f"step {s}" for s in (0, 30, 50, 80, 110, 140, 160, 190)]
    (run / "metrics.jsonl").write_text('{"epoch": 1}\n{oops\n')
    with pytest.raises(DataError, match="line 2"):
        read_history(run)

