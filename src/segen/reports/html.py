"""The self-contained HTML run report (inline CSS, no scripts, no network)."""

from __future__ import annotations

import numbers
import os
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path

from segen.runtime import write_atomic

_DASH = "—"

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
figcaption { color: #555; font-size: .9em; }
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


def _summary_table(summary: Mapping[str, object]) -> str:
    rows = "".join(f"<tr><th>{escape(str(key))}</th>{_cell(value)}</tr>" for key, value in summary.items())
    return f"<h2>Summary</h2>\n<table>{rows}</table>"


def _per_class_table(per_class: Mapping[str, Mapping[str, float | None]]) -> str:
    columns = list(dict.fromkeys(name for scores in per_class.values() for name in scores))
    head = "<tr><th>class</th>" + "".join(f"<th>{escape(name)}</th>" for name in columns) + "</tr>"
    body = "".join(
        f"<tr><th>{escape(str(name))}</th>" + "".join(_cell(scores.get(c)) for c in columns) + "</tr>"
        for name, scores in per_class.items()
    )
    return f"<h2>Per class</h2>\n<table>{head}{body}</table>"


def _figure(caption: str, src: str) -> str:
    return (
        f'<figure><img src="{escape(src, quote=True)}" alt="{escape(caption, quote=True)}">'
        f"<figcaption>{escape(caption)}</figcaption></figure>"
    )


def write_report(
    path: str | os.PathLike[str],
    title: str,
    *,
    summary: Mapping[str, object],
    per_class: Mapping[str, Mapping[str, float | None]] | None = None,
    images: Sequence[tuple[str, str]] = (),
    notes: Sequence[str] = (),
) -> Path:
    """Write a self-contained HTML report (atomic write).

    Args:
        path: Destination ``.html`` file.
        title: Page title and heading.
        summary: Key -> value rows of the summary table.
        per_class: Class name -> score name -> value; None is shown as a dash.
        images: (caption, path relative to the report's folder) pairs.
        notes: Paragraphs shown at the end.

    Returns:
        The path written.
    """
    parts = [f"<h1>{escape(title)}</h1>", _summary_table(summary)]
    if per_class:
        parts.append(_per_class_table(per_class))
    parts.extend(_figure(caption, src) for caption, src in images)
    parts.extend(f"<p>{escape(note)}</p>" for note in notes)
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(parts)
        + "\n</body>\n</html>\n"
    )
    return write_atomic(path, page.encode("utf-8"))
