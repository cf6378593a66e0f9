"""Value types and output checks shared by the commands: ranges are checked before any work starts."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import click

from segen.config import load_yaml
from segen.errors import ConfigError

#: Seeds go to Python, NumPy and torch generators; torch takes at most 64 bits.
MAX_SEED = 2**63 - 1


class FiniteFloatRange(click.FloatRange):
    """A FloatRange that also refuses nan and inf (which no range comparison catches)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


POSITIVE_INT = click.IntRange(min=1)
POSITIVE_FLOAT = FiniteFloatRange(min=0, min_open=True)
NON_NEGATIVE_FLOAT = FiniteFloatRange(min=0)
SEED = click.IntRange(0, MAX_SEED)
DEVICES = click.Choice(["auto", "cpu", "cuda", "mps"])


def check_output_file(path: str | Path, flag: str) -> Path:
    """`path` as a file to write: refused (ConfigError naming it) when it is a folder or lies under a file."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: {flag} is a folder; give a file name", path=path)
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"{parent}: {flag} {path} lies under this file, which is not a folder", path=parent)
            break
    return path


def check_output_folder(path: str | Path, flag: str, names: list[str] | None = None) -> Path:
    """`path` as a folder to write `names` into: refused when it is a file, lies under a file, or already holds
    one of `names` (segen never replaces a file it did not write in this run)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{path}: {flag} is a file, not a folder", path=path)
    check_output_file(path / "_", flag)
    for name in names or []:
        if (path / name).exists():
            raise ConfigError(f"{path / name}: already exists; segen does not replace files in {flag}: choose a new "
                              f"or empty {flag} folder", kind="exists", path=path / name)
    return path


def base_config(config_file: str | None, out: str | None, resume: bool) -> tuple[dict[str, Any], str]:
    """The settings a run starts from, and the file they came from: the YAML file given, the run's own
    config.yaml when resuming without one, else none."""
    if config_file:
        return load_yaml(config_file), config_file
    if not resume:
        return {}, "config"
    if not out:
        raise ConfigError("--resume needs --out RUNDIR")
    saved = Path(out) / "config.yaml"
    if not saved.is_file():
        raise ConfigError(f"{saved}: nothing to resume (no config.yaml in {out})")
    return load_yaml(saved), str(saved)
