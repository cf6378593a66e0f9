"""Errors that segen reports to users as one clear line (no traceback)."""

from __future__ import annotations


class SegenError(Exception):
    """A problem with the user's input: a file, an argument or a configuration value.

    The message names the file or argument and says what is wrong with it.
    """


class DataError(SegenError):
    """A data file or folder is missing, unreadable or inconsistent."""


class ConfigError(SegenError):
    """A configuration value or command-line argument is invalid."""


class CheckpointError(SegenError):
    """A file is not a usable segen checkpoint."""
