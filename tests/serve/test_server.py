"""The running server over HTTP: loopback by default, answers to the page's API, nothing else of the disk."""

from __future__ import annotations

import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from conftest import run_segen, segen_command
from segen.data.io import read_mask
from segen.inference import Segmenter, predict_files
from serving import Served


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_the_server_listens_on_loopback_only(served: Served) -> None:
    assert served.url.startswith("http://127.0.0.1:")


def test_the_api_segments_like_predict(served: Served, multiclass_root: Path, tmp_path: Path) -> None:
    from gradio_client import Client, handle_file

    image = sorted((multiclass_root / "test" / "images").glob("*.png"))[3]
    client = Client(served.url, verbose=False)
    _, status, legend, files = client.predict(None, handle_file(str(image)), "hflip", False, 0.5,
                                                 api_name="/segment")
    assert status == "" and "class" in legend
    predict_files(Segmenter.from_checkpoint(served.segmentation, tta="hflip"), image, tmp_path, progress=False)
    np.testing.assert_array_equal(read_mask(Path(files[0])), read_mask(tmp_path / f"{image.stem}.png"))


@pytest.mark.parametrize("target", ["/etc/passwd", "{checkpoint}", "{runs}/config.yaml"])
def test_no_path_from_the_browser_reaches_the_disk(served: Served, target: str) -> None:
    path = target.format(checkpoint=served.segmentation, runs=served.segmentation.parent)
    for url in (f"{served.url}gradio_api/file={path}", f"{served.url}file={path}"):
        assert _status(url) in (403, 404)


def test_a_server_path_given_as_an_upload_is_refused(served: Served) -> None:
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    client = Client(served.url, verbose=False)
    forged = {"path": str(served.segmentation), "meta": {"_type": "gradio.FileData"}}
    with pytest.raises((AppError, ValueError)):
        client.predict(None, forged, "none", False, 0.5, api_name="/segment")


@pytest.mark.parametrize(("args", "message"), [
    ([], "nothing to serve"),
    (["--checkpoint", "{tmp}/missing.pt"], "missing.pt: checkpoint not found"),
    (["--runs", "{tmp}/no-runs"], "--runs is not a folder"),
    (["--gan", "{checkpoint}"], "a segmentation checkpoint, expected gan"),
])
def test_bad_serve_arguments_are_one_line(args: list[str], message: str, served: Served, tmp_path: Path) -> None:
    result = run_segen("serve", *[a.format(tmp=tmp_path, checkpoint=served.segmentation) for a in args])
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0]


def test_without_gradio_serve_says_how_to_install(tmp_path: Path) -> None:
    blocker = tmp_path / "gradio.py"
    blocker.write_text("raise ImportError('no gradio here')\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "PYTHONWARNINGS": "ignore"}
    result = subprocess.run([*segen_command(), "serve", "--runs", str(tmp_path)], capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip() == "error: segen serve needs Gradio: pip install 'segen[ui]'"
