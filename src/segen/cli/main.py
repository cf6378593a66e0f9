"""`segen` entry point: error handling shared by every command, and the command tree."""

from __future__ import annotations

import os
import sys
import traceback

import click

from segen.cli.commands import cli
from segen.errors import SegenError
from segen.runtime import process_info


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; bad input ends in one `error:` line and a non-zero exit, never a traceback."""
    try:
        args = sys.argv[1:] if argv is None else list(argv)
        cli.main(args=args, prog_name="segen", standalone_mode=False, obj={"argv": args})
    except click.exceptions.Abort:
        _fail("aborted", 130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        _fail(exc.format_message(), exc.exit_code)
    except SegenError as exc:
        _fail(str(exc), 1, quiet=not (_is_main_process() or exc.kind == "distributed"))
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except Exception as exc:  # a bug or an unforeseen input: still one line, unless debugging
        if os.environ.get("SEGEN_DEBUG"):
            traceback.print_exc()
        detail = str(exc).splitlines()[0] if str(exc) else ""
        _fail(f"unexpected {type(exc).__name__}: {detail} (set SEGEN_DEBUG=1 for the traceback)", 1)


def _is_main_process() -> bool:
    """Whether this process speaks for the run (rank 0, or no torchrun); malformed rank variables count as yes,
    so their own error is still said."""
    try:
        return process_info().is_main
    except SegenError:
        return True


def _fail(message: str, code: int, quiet: bool = False) -> None:
    """Print `message` as one `error:` line (line breaks in it, e.g. from a file name, shown as \\n) and exit;
    `quiet`: exit without a line (the ranks of a distributed run other than rank 0, which says it)."""
    one_line = message.replace("\r", "\\r").replace("\n", "\\n")
    if not quiet:
        click.echo(f"error: {one_line}", err=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
