"""Overlays, sample grids, plots and the HTML run report."""

from __future__ import annotations

from segen.reports.grid import fit_within, image_grid, png_bytes, save_png, to_uint8_image
from segen.reports.html import data_uri, write_page, write_report
from segen.reports.palette import colorize, default_palette, overlay, save_indexed_png, tiff_colormap
from segen.reports.plots import plot_curves

__all__ = [
    "colorize",
    "data_uri",
    "default_palette",
    "fit_within",
    "image_grid",
    "overlay",
    "plot_curves",
    "png_bytes",
    "save_indexed_png",
    "save_png",
    "tiff_colormap",
    "to_uint8_image",
    "write_page",
    "write_report",
]
