"""Tests for segen.reports: palettes, PNGs, overlays, grids, plots and the HTML report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segen.reports import (
    colorize,
    default_palette,
    image_grid,
    overlay,
    plot_curves,
    save_indexed_png,
    save_png,
    to_uint8_image,
    write_report,
)


def test_default_palette_is_distinct_and_starts_black() -> None:
    palette = default_palette(256)
    assert palette[0] == (0, 0, 0)
    assert len(set(palette)) == 256
    assert palette[:3] == [(0, 0, 0), (128, 0, 0), (0, 128, 0)]
    assert default_palette(5) == palette[:5]
    with pytest.raises(ValueError):
        default_palette(257)


def test_colorize_ignore_white_and_unknown_grey() -> None:
    palette = default_palette(3)
    mask = np.array([[0, 1], [255, 7]])
    out = colorize(mask, palette)
    assert out.dtype == np.uint8 and out.shape == (2, 2, 3)
    assert tuple(out[0, 0]) == (0, 0, 0)
    assert tuple(out[0, 1]) == palette[1]
    assert tuple(out[1, 0]) == (255, 255, 255)
    assert tuple(out[1, 1]) == (128, 128, 128)


def test_save_indexed_png_round_trip(tmp_path: Path) -> None:
    palette = default_palette(4)
    mask = np.array([[0, 1, 2], [3, 255, 1]], dtype=np.int64)
    path = tmp_path / "sub" / "mask.png"
    save_indexed_png(mask, path, palette)
    assert not path.with_name("mask.png.tmp").exists()
    with Image.open(path) as image:
        assert image.mode == "P"
        ids = np.array(image)
        colours = image.getpalette()
    assert colours is not None
    np.testing.assert_array_equal(ids, mask)
    for index, colour in enumerate(palette):
        assert tuple(colours[3 * index : 3 * index + 3]) == colour
    assert tuple(colours[3 * 255 : 3 * 256]) == (255, 255, 255)


def test_save_indexed_png_rejects_out_of_range(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        save_indexed_png(np.array([[0, 256]]), tmp_path / "bad.png", default_palette(2))
    with pytest.raises(ValueError):
        save_indexed_png(np.array([[-1, 0]]), tmp_path / "bad.png", default_palette(2))


def test_overlay_blends_only_foreground() -> None:
    palette = [(0, 0, 0), (255, 0, 0), (0, 0, 200)]
    image = np.full((2, 2), 100, dtype=np.uint8)
    mask = np.array([[0, 1], [255, 2]])
    out = overlay(image, mask, palette, alpha=0.25)
    assert out.shape == (2, 2, 3) and out.dtype == np.uint8
    assert tuple(out[0, 0]) == (100, 100, 100)
    assert tuple(out[1, 0]) == (100, 100, 100)
    assert tuple(out[0, 1]) == (139, 75, 75)  # 0.75 * 100 + 0.25 * 255 = 138.75
    assert tuple(out[1, 1]) == (75, 75, 125)
    blended_background = overlay(image[:, :, None], mask, palette, alpha=0.25, skip_background=False)
    assert tuple(blended_background[0, 0]) == (75, 75, 75)


def test_image_grid_mixed_sizes_and_greyscale() -> None:
    grey = np.zeros((4, 6), dtype=np.uint8)
    colour = np.full((8, 2, 3), 7, dtype=np.uint8)
    grid = image_grid([[grey, colour], [colour]], pad=1, background=255)
    assert grid.shape == (2 * 8 + 3, 2 * 6 + 3, 3)
    assert grid.dtype == np.uint8
    assert (grid[1 + 2 : 1 + 6, 1 : 1 + 6] == 0).all()  # greyscale centred vertically
    assert (grid[1, 1:7] == 255).all()
    assert (grid[1 : 1 + 8, 1 + 6 + 1 + 2 : 1 + 6 + 1 + 4] == 7).all()  # colour centred horizontally
    assert (grid[10:18, 8:14] == 255).all()  # missing cell stays background
    with pytest.raises(ValueError):
        image_grid([])


def test_to_uint8_image_and_save_png(tmp_path: Path) -> None:
    chw = np.stack([np.full((2, 5), v) for v in (0.0, 0.5, 1.5)]).astype(np.float32)
    rgb = to_uint8_image(chw)
    assert rgb.shape == (2, 5, 3) and rgb.dtype == np.uint8
    assert tuple(rgb[0, 0]) == (0, 128, 255)
    assert to_uint8_image(np.full((1, 3, 4), 0.2)).shape == (3, 4)
    assert to_uint8_image(np.zeros((3, 4, 3), dtype=np.uint8)).shape == (3, 4, 3)
    save_png(rgb, tmp_path / "x.png")
    with Image.open(tmp_path / "x.png") as image:
        np.testing.assert_array_equal(np.array(image), rgb)


def test_plot_curves_writes_png_with_missing_values(tmp_path: Path) -> None:
    history: list[dict] = [
        {"epoch": 1, "train/loss": 1.0, "val/loss": 1.2, "val/mean_iou": 0.3},
        {"epoch": 2, "train/loss": 0.8, "val/loss": None, "val/mean_iou": 0.4, "val/mean_dice": 0.5},
        {"epoch": 3, "train/loss": 0.6},
    ]
    path = tmp_path / "curves.png"
    plot_curves(history, path)
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size[0] > image.size[1] > 100


@pytest.mark.parametrize("history", [[], [{"epoch": 1}], [{"epoch": 1, "val/loss": None}]])
def test_plot_curves_without_data(tmp_path: Path, history: list[dict]) -> None:
    path = tmp_path / "empty.png"
    plot_curves(history, path)
    with Image.open(path) as image:
        assert image.format == "PNG"


def test_write_report_contents(tmp_path: Path) -> None:
    path = write_report(
        tmp_path / "report.html",
        "Run <1> & co",
        summary={"mean_iou": 0.123456, "epochs": 3, "model": "unet"},
        per_class={"background": {"iou": 0.9, "dice": None}, "cat": {"iou": 0.5, "dice": 0.6667}},
        images=[("Curves <train>", "plots/curves.png")],
        notes=["a < b"],
    )
    assert path == tmp_path / "report.html"
    text = path.read_text(encoding="utf-8")
    assert "<h1>Run &lt;1&gt; &amp; co</h1>" in text
    assert "0.1235" in text and ">3<" in text and ">unet<" in text
    assert "<th>iou</th>" in text and "<th>dice</th>" in text
    assert "0.9000" in text and "0.6667" in text
    assert "—" in text
    assert '<img src="plots/curves.png"' in text
    assert "<figcaption>Curves &lt;train&gt;</figcaption>" in text
    assert "<p>a &lt; b</p>" in text
    assert "<script" not in text and "http" not in text
    assert not (tmp_path / "report.html.tmp").exists()


def test_png_bytes_data_uri_and_embedded_report_images(tmp_path: Path) -> None:
    import base64
    import io

    from segen.reports import data_uri, fit_within, png_bytes

    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    encoded = png_bytes(rgb)
    save_png(rgb, tmp_path / "x.png")
    assert (tmp_path / "x.png").read_bytes() == encoded  # one encoder for files and pages
    uri = data_uri(rgb)
    assert uri.startswith("data:image/png;base64,") and base64.b64decode(uri.partition(",")[2]) == encoded
    with pytest.raises(ValueError):
        data_uri(b"GIF89a")
    with pytest.raises(ValueError):
        png_bytes(rgb.astype(np.float32))
    assert fit_within(np.zeros((400, 100, 3), np.uint8), 200).shape == (200, 50, 3)
    small = np.zeros((10, 20), np.uint8)
    assert fit_within(small, 200) is small
    curves = plot_curves([{"epoch": 1, "train/loss": 1.0}, {"epoch": 2, "train/loss": 0.5}])
    with Image.open(io.BytesIO(curves)) as image:
        assert image.format == "PNG"
    text = write_report(tmp_path / "r.html", "t", summary={"a": 1},
                        images=[("array", rgb), ("bytes", curves)]).read_text()
    assert f'<img src="{uri}"' in text and text.count('src="data:image/png;base64,') == 2


def test_confusion_and_config_sections() -> None:
    from segen.reports.html import config_block, confusion_table

    table = confusion_table(["bg", "<cat>"], [[90, 10], [0, 0]])
    assert "&lt;cat&gt;" in table and "90.0%" in table and "10.0%" in table
    assert '<td class="num">100</td>' in table and "—" in table  # a class absent from the truth: no shares
    assert 'class="vertical"' not in table
    assert 'class="vertical"' in confusion_table([f"c{i}" for i in range(32)], [[1] * 32] * 32)
    assert config_block("a: <b> & 'c'\n") == "<h2>Config</h2>\n<pre>a: &lt;b&gt; &amp; &#x27;c&#x27;\n</pre>"
