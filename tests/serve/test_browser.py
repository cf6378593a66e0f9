"""The web app in a real browser (headless Chromium through Playwright): what a user clicks and downloads."""

from __future__ import annotations

import io
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from conftest import run_segen
from segen.data.io import read_mask
from serving import Served, noise_png

TIMEOUT_MS = 60_000


@pytest.fixture()
def page(browser: Any, served: Served) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1200, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(served.url)
    page.wait_for_selector("#seg-run")
    yield page
    context.close()


def _upload(page: Any, image: Path) -> None:
    """Put `image` in the upload box (clearing the one there)."""
    clear = page.locator('#seg-upload button[aria-label="Clear"]')
    if clear.count():
        clear.click()
    page.set_input_files("#seg-upload input[type=file]", str(image))


def _segment(page: Any, image: Path) -> None:
    _upload(page, image)
    page.wait_for_selector("#seg-upload .file-preview")  # uploaded
    page.click("#seg-run")


def _image_bytes(page: Any, selector: str) -> bytes:
    src = page.get_attribute(selector, "src")
    with urllib.request.urlopen(src, timeout=30) as response:
        return bytes(response.read())


def test_the_downloaded_mask_is_the_one_segen_seg_predict_writes(page: Any, served: Served,
                                                                  multiclass_root: Path, tmp_path: Path) -> None:
    image = sorted((multiclass_root / "test" / "images").glob("*.png"))[0]
    _segment(page, image)
    page.wait_for_selector("#seg-legend table")
    assert "background" in page.inner_text("#seg-legend")
    with page.expect_download() as download:
        page.click(f'#seg-downloads a[download="{image.stem}.png"]')
    downloaded = tmp_path / "downloaded.png"
    download.value.save_as(downloaded)
    result = run_segen("seg", "predict", "--checkpoint", str(served.segmentation), "--input", str(image),
                       "--out", str(tmp_path / "cli"))
    assert result.returncode == 0, result.stderr
    expected = read_mask(tmp_path / "cli" / f"{image.stem}.png")
    np.testing.assert_array_equal(read_mask(downloaded), expected)
    assert Image.open(downloaded).mode == "P"  # paletted, as predict writes it


def test_the_same_seed_gives_the_same_image(page: Any) -> None:
    page.get_by_role("tab", name="Generate").click()
    seed = page.locator("#gen-seed input")

    def generate(value: int) -> bytes:
        seed.fill(str(value))
        previous = page.get_attribute("#gen-image img", "src") if page.locator("#gen-image img").count() else None
        page.click("#gen-run")
        page.wait_for_function(
            "prev => { const img = document.querySelector('#gen-image img'); return img && img.src !== prev; }",
            arg=previous)
        return _image_bytes(page, "#gen-image img")

    first, other, again = generate(7), generate(8), generate(7)
    assert first == again
    assert first != other


def test_an_oversize_upload_shows_an_error_and_the_next_request_works(page: Any, tmp_path: Path,
                                                                      multiclass_root: Path) -> None:
    _upload(page, noise_png(tmp_path / "big.png"))
    error = page.get_by_text("exceed the maximum allowed size")
    error.wait_for()
    assert error.is_visible()
    _segment(page, sorted((multiclass_root / "test" / "images").glob("*.png"))[1])
    page.wait_for_selector("#seg-legend table")


def test_a_corrupt_file_shows_one_line_and_the_server_keeps_serving(page: Any, tmp_path: Path,
                                                                    multiclass_root: Path) -> None:
    good = sorted((multiclass_root / "test" / "images").glob("*.png"))[2]
    broken = tmp_path / "broken.png"
    broken.write_bytes(good.read_bytes()[:200])
    _segment(page, broken)
    page.wait_for_selector("#seg-status .status-error")
    line = page.inner_text("#seg-status").strip()
    assert line.startswith("error: broken.png:") and "\n" not in line
    _segment(page, good)
    page.wait_for_selector("#seg-legend table")
    assert page.inner_text("#seg-status").strip() == ""


def test_the_runs_tab_shows_a_runs_curves_and_metrics(page: Any, served: Served) -> None:
    page.get_by_role("tab", name="Runs").click()
    page.wait_for_selector("#runs-curves img")
    curves = Image.open(io.BytesIO(_image_bytes(page, "#runs-curves img")))
    assert curves.width > 300
    table = page.inner_text("#runs-table")
    assert "val/mean_iou" in table and "epoch" in table
    assert not page.locator("#runs-grids").is_visible()  # a segmentation run has no sample grids


@pytest.mark.parametrize("kind", ["segmentation", "dcgan", "pix2pix"])
def test_a_report_opens_offline_with_every_image(kind: str, browser: Any, trained_run: Path,
                                                 gan_runs: dict[str, Path], tmp_path: Path) -> None:
    source = trained_run if kind == "segmentation" else gan_runs[kind]
    run = Path(shutil.copytree(source, tmp_path / "run"))
    result = run_segen("report", str(run))
    assert result.returncode == 0, result.stderr
    context = browser.new_context(offline=True)
    fetched: list[str] = []
    context.route("**/*", lambda route: (fetched.append(route.request.url), route.continue_()))
    page = context.new_page()
    page.goto((run / "report.html").as_uri())
    page.wait_for_load_state("load")
    images = page.eval_on_selector_all("img", "els => els.map(e => [e.complete, e.naturalWidth])")
    assert images and all(done and width > 0 for done, width in images)
    assert [url for url in fetched if not url.startswith(("file:", "data:"))] == []
    assert page.title() and page.locator("h2").count() >= 3
    context.close()
