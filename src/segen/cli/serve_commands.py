"""`segen serve`: the web app over the checkpoints and run folders named here (the `segen[ui]` extra)."""

from __future__ import annotations

import click

from segen.cli.options import DEVICES, POSITIVE_FLOAT, POSITIVE_INT
from segen.runtime import resolve_device


@click.command("serve")
@click.option("--checkpoint", "checkpoints", multiple=True, type=click.Path(), help="A segmentation checkpoint "
              "(repeat for more; the page lets you choose).")
@click.option("--gan", "gans", multiple=True, type=click.Path(), help="A GAN checkpoint: dcgan, cgan or pix2pix "
              "(repeatable).")
@click.option("--runs", type=click.Path(), help="A folder of run folders for the Runs tab (searched at any depth).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on; 0.0.0.0 opens the "
              "page to your network.")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default: the first free one from 7860).")
@click.option("--device", type=DEVICES, default="auto", show_default=True)
@click.option("--max-upload-mb", type=POSITIVE_FLOAT, default=50.0, show_default=True, help="Largest upload.")
@click.option("--max-pixels", type=POSITIVE_INT, default=40_000_000, show_default=True,
              help="Largest image (width x height) accepted; larger ones are refused with a message.")
@click.option("--concurrency", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Requests run at once; others wait in the queue.")
@click.option("--queue-size", type=click.IntRange(1, 10_000), default=64, show_default=True,
              help="Requests that may wait; beyond that a request is turned away with a message.")
def serve(checkpoints: tuple[str, ...], gans: tuple[str, ...], runs: str | None, host: str, port: int | None,
          device: str, max_upload_mb: float, max_pixels: int, concurrency: int, queue_size: int) -> None:
    """Serve a web page to segment images, generate images and look at runs. Only the checkpoints and the
    run folder named here are reachable from the page."""
    from segen.serve import Catalog, Limits, ServeSettings, require_gradio, start

    require_gradio()
    limits = Limits(max_upload_mb=max_upload_mb, max_pixels=max_pixels)
    catalog = Catalog.load(checkpoints, gans, runs, str(resolve_device(device)), max_pixels)
    what = (f"{len(catalog.segmenters)} segmentation and {len(catalog.generators)} GAN checkpoint(s)"
            + (f" and the runs in {catalog.runs_root}" if catalog.runs_root else ""))
    start(catalog, limits, ServeSettings(host, port, concurrency, queue_size),
          on_ready=lambda url: click.echo(f"serving {what} on {url} (Ctrl-C stops)", err=True))
