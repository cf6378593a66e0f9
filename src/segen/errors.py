"""Errors that segen reports to users as one clear line (no traceback).

Each error carries a `kind` (a short machine-readable word such as "missing" or "corrupt") and,
when one file is at fault, its `path`, so callers classify problems without reading the message.
"""

from __future__ import annotations

from pathlib import Path


class SegenError(Exception):
    """A problem with the user's input: a file, an argument or a configuration value.

    The message names the file or argument and says what is wrong with it.

    Args:
        message: the one line shown to the user.
        kind: what went wrong, e.g. "missing", "corrupt", "unpaired", "duplicate", "mismatch",
            "values", "invalid" (the default), "too-large", "interrupted".
        path: the file or folder at fault, when there is one.
    """

    default_kind = "invalid"

    def __init__(self, message: str, kind: str | None = None, path: str | Path | None = None) -> None:
        super().__init__(message)
        self.kind = kind or self.default_kind
        self.path = Path(path) if path is not None else None


class DataError(SegenError):
    """A data file or folder is missing, unreadable or inconsistent."""


class ConfigError(SegenError):
    """A configuration value or command-line argument is invalid."""


class CheckpointError(SegenError):
    """A file is not a usable segen checkpoint."""


class ExportError(SegenError):
    """An exported model could not be written, or disagrees with PyTorch beyond the tolerance."""

    default_kind = "parity"


class TrainingStopped(SegenError):
    """Training stopped on a fault (a non-finite loss, an unreadable image); the last good checkpoint is kept."""

    default_kind = "stopped"


class PeerLost(TrainingStopped):
    """Another process of a distributed run stopped or stopped answering (a collective failed or timed out)."""

    default_kind = "distributed"


def one_line(error: BaseException) -> str:
    """The message of `error` as one line; an error re-raised from a DataLoader worker gives its original line."""
    text = str(error).strip()
    if text.startswith("Caught ") and "Original Traceback" in text:
        last = [line for line in text.splitlines() if line.strip()][-1].strip()
        head, sep, rest = last.partition(": ")
        text = rest if sep and "." in head and " " not in head else last
    return text.splitlines()[0] if text else type(error).__name__
