"""What the web app may reach: the checkpoints and run folders named when it started, by display name.

The browser only ever sends one of these names; a name maps to an object loaded at start (or a run folder
checked at start), never to a path the browser chose.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from segen.errors import CheckpointError, ConfigError
from segen.inference import Segmenter
from segen.inference.generator import Generator

T = TypeVar("T")

#: What marks a folder as a run folder.
RUN_MARKERS = ("config.yaml", "metrics.jsonl")


@dataclass
class Catalog:
    """The named segmenters, generators and run folders a server offers."""

    segmenters: dict[str, Segmenter] = field(default_factory=dict)
    generators: dict[str, Generator] = field(default_factory=dict)
    runs_root: Path | None = None

    @classmethod
    def load(cls, checkpoints: Sequence[str | Path] = (), gans: Sequence[str | Path] = (),
             runs: str | Path | None = None, device: str = "cpu", max_pixels: int | None = None) -> Catalog:
        """Load every checkpoint now (a bad one is one error naming it, before the server starts)."""
        catalog = cls(runs_root=check_runs_root(runs) if runs is not None else None)
        for path, name in zip(checkpoints, display_names(checkpoints), strict=True):
            catalog.segmenters[name] = Segmenter.from_checkpoint(_existing(path), device, max_pixels=max_pixels)
        for path, name in zip(gans, display_names(gans), strict=True):
            catalog.generators[name] = Generator.from_checkpoint(_existing(path), device)
        if not (catalog.segmenters or catalog.generators or catalog.runs_root):
            raise ConfigError("segen serve: nothing to serve; give --checkpoint, --gan or --runs")
        return catalog

    def segmenter(self, name: str | None) -> Segmenter:
        return _pick(self.segmenters, name, "segmentation checkpoint")

    def generator(self, name: str | None) -> Generator:
        return _pick(self.generators, name, "GAN checkpoint")

    def run_names(self) -> list[str]:
        """The run folders under the runs root (at any depth), as paths relative to it, sorted."""
        if self.runs_root is None or not self.runs_root.is_dir():
            return []
        found = {p.parent for p in self.runs_root.rglob(RUN_MARKERS[0]) if (p.parent / RUN_MARKERS[1]).is_file()}
        return sorted(str(p.relative_to(self.runs_root)) for p in found)

    def run(self, name: str | None) -> Path:
        """The run folder of `name`, one of `run_names()` (nothing else resolves)."""
        if self.runs_root is None or name not in self.run_names():
            raise ConfigError(f"no run named {name!r}; choose one of the listed runs")
        return self.runs_root / name


def display_names(paths: Sequence[str | Path]) -> list[str]:
    """Short unique names for `paths`: the fewest trailing path parts that tell them apart."""
    parts = [Path(p).parts for p in paths]
    for depth in range(1, max((len(p) for p in parts), default=1) + 1):
        names = ["/".join(p[-depth:]) for p in parts]
        if len(set(names)) == len(names):
            return names
    raise ConfigError("the same checkpoint is given twice: " + ", ".join(str(p) for p in paths))


def check_runs_root(path: str | Path) -> Path:
    root = Path(path)
    if not root.is_dir():
        raise ConfigError(f"{root}: --runs is not a folder", kind="missing", path=root)
    return root.resolve()


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found", kind="missing", path=path)
    return path


def _pick(table: dict[str, T], name: str | None, what: str) -> T:
    if not table:
        raise ConfigError(f"this server has no {what}; start it with one")
    if name is None and len(table) == 1:
        return next(iter(table.values()))
    if name not in table:
        raise ConfigError(f"unknown {what} {name!r}; choose one of: {', '.join(table)}")
    return table[name]
