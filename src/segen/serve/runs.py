"""The Runs tab's work, without the page: a run folder's curves, metrics table, sample grids and report."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from segen.errors import DataError
from segen.reports import plot_curves

#: The sample grids shown at most (evenly spaced over the run, the first and last included).
MAX_GRIDS = 8


def read_history(run: Path) -> list[dict[str, Any]]:
    """The epoch records of `run`'s metrics.jsonl; a corrupt line is one error naming the file and line."""
    path = run / "metrics.jsonl"
    records = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise DataError(f"{path.name} of run {run.name}: line {number} is not JSON", kind="corrupt") from None
        if isinstance(record, dict):
            records.append(record)
    return records


def metrics_table(history: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """(headers, rows) of the per-epoch records: epoch, step, time and every logged number."""
    keys = list(dict.fromkeys(k for r in history for k, v in r.items() if _number(v)))
    rows = [[_round(r.get(k)) for k in keys] for r in history]
    return keys, rows


def curves(history: list[dict[str, Any]], out_dir: Path) -> Path:
    """The run's curves as a PNG in a new folder under `out_dir`."""
    path = Path(tempfile.mkdtemp(prefix="curves-", dir=out_dir)) / "curves.png"
    plot_curves(history, path)
    return path


def sample_grids(run: Path) -> list[tuple[np.ndarray, str]]:
    """(image, caption) of the run's sample grids over time: `samples/step-N.png` in step order (at most
    MAX_GRIDS, evenly spaced), then the final `samples.png`."""
    steps = sorted((int(m.group(1)), p) for p in (run / "samples").glob("step-*.png")
                   if (m := re.fullmatch(r"step-(\d+)\.png", p.name)))
    if len(steps) > MAX_GRIDS:
        picks = np.linspace(0, len(steps) - 1, MAX_GRIDS).round().astype(int)
        steps = [steps[i] for i in sorted(set(picks.tolist()))]
    grids = [(_read_png(path), f"step {step}") for step, path in steps]
    if (run / "samples.png").is_file():
        grids.append((_read_png(run / "samples.png"), "latest epoch"))
    return grids


def report_html(run: Path) -> str | None:
    """The run's report.html, or None when it has none yet."""
    path = run / "report.html"
    return path.read_text(encoding="utf-8") if path.is_file() else None


def _read_png(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _round(value: object) -> object:
    return round(value, 5) if isinstance(value, float) else value
