"""The web app (`segen serve`, the `segen[ui]` extra): segment uploads, generate images, look at runs.

Built on Gradio; nothing here imports it until the server is built, so the rest of segen works without it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from segen.errors import ConfigError
from segen.serve.catalog import Catalog
from segen.serve.segment import Limits

UI_HINT = "pip install 'segen[ui]'"


@dataclass(frozen=True)
class ServeSettings:
    """Where the server listens and how much it takes on."""

    host: str = "127.0.0.1"
    port: int | None = None  # None: the first free port from 7860
    concurrency: int = 1  # requests predicted at once (the model already uses every core)
    queue_size: int = 64  # requests waiting beyond those; more are turned away with a message


def require_gradio() -> None:
    """ConfigError with the install line when Gradio is missing. Gradio and the Hugging Face hub it loads send
    usage telemetry unless told not to: the server stays quiet (a user's environment can still turn them on)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise ConfigError(f"segen serve needs Gradio: {UI_HINT}", kind="missing") from None


def start(catalog: Catalog, limits: Limits, settings: ServeSettings, block: bool = True,
          on_ready: Callable[[str], None] | None = None) -> Any:
    """Build the page and serve it, calling `on_ready(url)` once it listens; with `block`, until Ctrl-C.
    Returns the Gradio app (still serving when `block` is False: `app.close()` stops it)."""
    require_gradio()
    from segen.serve.app import CSS, build_app

    workdir = Path(tempfile.mkdtemp(prefix="segen-serve-"))
    app = build_app(catalog, limits, workdir, settings.concurrency, settings.queue_size)
    app.launch(server_name=settings.host, server_port=settings.port, max_file_size=int(limits.max_upload_mb * 2**20),
               prevent_thread_lock=True, quiet=True, show_error=False, ssr_mode=False, css=CSS,
               footer_links=["api"], mcp_server=False)
    if on_ready is not None:
        on_ready(str(app.local_url))
    if block:
        app.block_thread()
    return app


__all__ = ["Catalog", "Limits", "ServeSettings", "require_gradio", "start"]
