"""Screenshots of `segen serve`'s three tabs, taken in headless Chromium with a request made in each.

    segen demo   # then, over its models and runs:
    python benchmarks/serve_screenshots.py --checkpoint segen-demo/run/best.pt --gan segen-demo/gan/best.pt \\
        --runs segen-demo --image segen-demo/data/test/images/IMAGE.png --label-map segen-demo/pairs/A/ID.png

Writes serve_segment.png, serve_generate.png and serve_runs.png (palette PNGs, to keep them small).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from PIL import Image

from bench_serve import serving

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from serving import CHROMIUM_ARGS, find_chromium

TIMEOUT_MS = 120_000


def _segment(page: Any, image: Path) -> None:
    page.set_input_files("#seg-upload input[type=file]", str(image))
    page.wait_for_selector("#seg-upload .file-preview")
    page.click("#seg-run")
    page.wait_for_selector("#seg-legend table")


def _generate(page: Any, label_map: Path | None) -> None:
    page.get_by_role("tab", name="Generate").click()
    if page.locator("#gen-upload").is_visible():  # pix2pix: translate a label map
        if label_map is None:
            raise SystemExit("the first --gan is pix2pix: give --label-map")
        page.set_input_files("#gen-upload input[type=file]", str(label_map))
        page.wait_for_selector("#gen-upload .file-preview")
        page.click("#gen-translate")
    else:
        page.click("#gen-run")
    page.wait_for_selector("#gen-image img")


def _runs(page: Any) -> None:
    page.get_by_role("tab", name="Runs").click()
    page.wait_for_selector("#runs-curves img")
    page.wait_for_selector("#runs-table table")


def _save_small(shot: Path, out: Path, width: int) -> None:
    """The screenshot scaled to `width` pixels and stored with a 256-colour palette."""
    image = Image.open(shot).convert("RGB")
    image = image.resize((width, round(image.height * width / image.width)), Image.Resampling.LANCZOS)
    image.quantize(256, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
    print(f"{out}: {image.width}x{image.height}, {out.stat().st_size / 1024:.0f} KiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="A segmentation checkpoint.")
    parser.add_argument("--gan", required=True, help="A GAN checkpoint (the Generate tab opens on it).")
    parser.add_argument("--runs", required=True, help="The runs folder of the Runs tab.")
    parser.add_argument("--image", type=Path, required=True, help="The image to segment.")
    parser.add_argument("--label-map", type=Path, help="The label map to translate (a pix2pix --gan).")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/images"))
    parser.add_argument("--width", type=int, default=960, help="Width of the saved screenshots.")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    executable = find_chromium()
    if executable is None:
        raise SystemExit("no Chromium: apt-get install chromium")
    arguments = ["--checkpoint", args.checkpoint, "--gan", args.gan, "--runs", args.runs]
    steps = {"segment": lambda page: _segment(page, args.image),
             "generate": lambda page: _generate(page, args.label_map),
             "runs": _runs}
    with serving(arguments) as (url, _), sync_playwright() as playwright, tempfile.TemporaryDirectory() as tmp:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(url)
        page.wait_for_selector("#seg-run")
        args.out.mkdir(parents=True, exist_ok=True)
        for name, step in steps.items():
            step(page)
            page.wait_for_timeout(500)  # let images finish drawing
            shot = Path(tmp) / f"{name}.png"
            page.screenshot(path=str(shot), full_page=True)
            _save_small(shot, args.out / f"serve_{name}.png", args.width)
        browser.close()


if __name__ == "__main__":
    main()
