"""The self-contained HTML run report (inline CSS, no scripts, no network): images embedded as PNG data URIs.

A page is a list of HTML fragments (`summary_table`, `config_block`, `figure`, ...), each escaped when it is
made, written by `write_page`; `write_report` is the short form with a summary, a per-class table, figures
and notes.
"""

from __future__ import annotations

import base64
import numbers
import os
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path

import numpy as np

from segen.reports.grid import png_bytes
from segen.runtime import write_atomic

_DASH = "—"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Above this many classes the confusion matrix's column headers are written vertically.
_VERTICAL_HEADERS = 8

ImageSource = str | bytes | np.ndarray
"""A figure's image: PNG bytes or a uint8 HxW / HxWx3 array (both embedded), or a path relative to the page."""

_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #ddd; padding-bottom: .3em; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: .3em .7em; }
th { background: #f3f3f3; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1.5em 0; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figure img.pixels { image-rendering: pixelated; min-width: min(100%, 512px); }
figcaption { color: #555; font-size: .9em; }
pre { background: #f7f7f7; border: 1px solid #ddd; padding: .8em; overflow-x: auto; font-size: .85em; }
.scroll { overflow-x: auto; }
.gallery { display: flex; flex-wrap: wrap; gap: 0 1.5em; align-items: flex-start; }
table.confusion td { text-align: center; padding: .2em .4em; font-size: .85em; min-width: 3em; }
table.confusion small { color: inherit; opacity: .8; }
th.vertical { writing-mode: vertical-rl; transform: rotate(180deg); text-align: left; }
"""


def _format(value: object) -> str:
    """Format a table value: floats to 4 decimals, None as a dash."""
    if value is None:
        return _DASH
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        return f"{float(value):.4f}"
    return str(value)


def _cell(value: object) -> str:
    css = ' class="num"' if isinstance(value, numbers.Real) and not isinstance(value, bool) else ""
    return f"<td{css}>{escape(_format(value))}</td>"


def data_uri(image: bytes | np.ndarray) -> str:
    """PNG bytes, or a uint8 HxW / HxWx3 array (encoded as PNG), as a `data:image/png;base64,` URI.

    Raises:
        ValueError: bytes that are not a PNG, or an array of the wrong dtype or shape.
    """
    data = png_bytes(image) if isinstance(image, np.ndarray) else bytes(image)
    if not data.startswith(_PNG_SIGNATURE):
        raise ValueError("an embedded image must be a PNG")
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def heading(text: str, level: int = 2) -> str:
    """A section heading."""
    return f"<h{level}>{escape(text)}</h{level}>"


def paragraph(text: str) -> str:
    """A paragraph of plain text."""
    return f"<p>{escape(text)}</p>"


def summary_table(summary: Mapping[str, object], title: str = "Summary") -> str:
    """A titled table of key -> value rows."""
    rows = "".join(f"<tr><th>{escape(str(key))}</th>{_cell(value)}</tr>" for key, value in summary.items())
    return f"{heading(title)}\n<table>{rows}</table>"


def per_class_table(per_class: Mapping[str, Mapping[str, float | None]], title: str = "Per class") -> str:
    """A titled table with one row per class and one column per score (None shown as a dash)."""
    columns = list(dict.fromkeys(name for scores in per_class.values() for name in scores))
    head = "<tr><th>class</th>" + "".join(f"<th>{escape(name)}</th>" for name in columns) + "</tr>"
    body = "".join(
        f"<tr><th>{escape(str(name))}</th>" + "".join(_cell(scores.get(c)) for c in columns) + "</tr>"
        for name, scores in per_class.items()
    )
    return f"{heading(title)}\n<div class=\"scroll\"><table>{head}{body}</table></div>"


def _compact(count: int) -> str:
    """A pixel count in at most 5 characters: 9876, 12.3k, 4.56M, 7.89G."""
    for above, size, unit in ((10**9, 10**9, "G"), (10**6, 10**6, "M"), (10**4, 10**3, "k")):
        if count >= above:
            value = count / size
            return f"{value:.{2 if value < 10 else 1 if value < 100 else 0}f}{unit}"
    return str(count)


def _confusion_cell(count: int, total: int) -> str:
    if total == 0:
        return f"<td>{_DASH}</td>"
    share = count / total
    colour = "#fff" if share > 0.55 else "#222"
    return (f'<td style="background: rgba(31, 94, 180, {share:.3f}); color: {colour}" title="{count} pixels">'
            f"{share:.1%}<br><small>{_compact(count)}</small></td>")


def confusion_table(names: Sequence[str], matrix: Sequence[Sequence[int]], title: str = "Confusion matrix") -> str:
    """A titled confusion matrix (rows: true class, columns: predicted class): each cell shows its share of the
    row's pixels, shaded by it, and its pixel count; readable from 2 to a few dozen classes."""
    vertical = ' class="vertical"' if len(names) > _VERTICAL_HEADERS else ""
    head = ("<tr><th>truth \\ prediction</th>" + "".join(f"<th{vertical}>{escape(n)}</th>" for n in names)
            + "<th>pixels</th></tr>")
    rows = []
    for name, row in zip(names, matrix, strict=True):
        total = int(sum(row))
        cells = "".join(_confusion_cell(int(count), total) for count in row)
        rows.append(f"<tr><th>{escape(name)}</th>{cells}<td class=\"num\">{total}</td></tr>")
    note = paragraph("Rows: true class; columns: predicted class. Each cell: its share of the row's pixels "
                     "(recall on the diagonal), and the pixel count.")
    return f"{heading(title)}\n{note}\n<div class=\"scroll\"><table class=\"confusion\">{head}{''.join(rows)}" \
           "</table></div>"


def config_block(text: str, title: str = "Config") -> str:
    """A titled preformatted block (the run's resolved YAML)."""
    return f"{heading(title)}\n<pre>{escape(text)}</pre>"


def figure(caption: str, image: ImageSource, pixels: bool = False) -> str:
    """An image with its caption; `pixels`: small images (masks, samples) are shown enlarged without blur."""
    src = image if isinstance(image, str) else data_uri(image)
    css = ' class="pixels"' if pixels else ""
    return (
        f'<figure><img src="{escape(src, quote=True)}"{css} alt="{escape(caption, quote=True)}">'
        f"<figcaption>{escape(caption)}</figcaption></figure>"
    )


def gallery(figures: Sequence[str]) -> str:
    """Figures side by side, wrapping onto new lines."""
    return '<div class="gallery">' + "".join(figures) + "</div>"


def write_page(path: str | os.PathLike[str], title: str, parts: Sequence[str]) -> Path:
    """Write a page of `parts` (HTML fragments from this module) under heading `title` (atomic write).

    Returns:
        The path written.
    """
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join([heading(title, 1), *parts])
        + "\n</body>\n</html>\n"
    )
    return write_atomic(path, page.encode("utf-8"))


def write_report(
    path: str | os.PathLike[str],
    title: str,
    *,
    summary: Mapping[str, object],
    per_class: Mapping[str, Mapping[str, float | None]] | None = None,
    images: Sequence[tuple[str, ImageSource]] = (),
    notes: Sequence[str] = (),
) -> Path:
    """Write a self-contained HTML report (atomic write).

    Args:
        path: Destination ``.html`` file.
        title: Page title and heading.
        summary: Key -> value rows of the summary table.
        per_class: Class name -> score name -> value; None is shown as a dash.
        images: (caption, image) pairs: PNG bytes or uint8 arrays are embedded; a str is a path relative to
            the report's folder (the page is then no longer self-contained).
        notes: Paragraphs shown at the end.

    Returns:
        The path written.
    """
    parts = [summary_table(summary)]
    if per_class:
        parts.append(per_class_table(per_class))
    parts.extend(figure(caption, image) for caption, image in images)
    parts.extend(paragraph(note) for note in notes)
    return write_page(path, title, parts)
