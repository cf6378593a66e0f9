"""`segen report RUNDIR`: a run folder's self-contained HTML report; also written after every `train`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from segen.cli.options import DEVICES, POSITIVE_INT
from segen.errors import one_line
from segen.runtime import process_info

if TYPE_CHECKING:
    from segen.training import RunResult

#: `--no-report` of the `train` commands.
no_report_option = click.option("--no-report", is_flag=True, help="Do not write report.html into the run folder "
                                "when training ends (`segen report RUNDIR` writes it later).")


@click.command("report")
@click.argument("run_dir", metavar="RUNDIR", type=click.Path())
@click.option("--worst", type=POSITIVE_INT, default=4, show_default=True, metavar="K",
              help="Segmentation: show the best and the worst K validation images by mean IoU.")
@click.option("--device", type=DEVICES, default="auto", show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def report(run_dir: str, worst: int, device: str, quiet: bool) -> None:
    """Write RUNDIR/report.html: one self-contained page (images embedded, no scripts, readable offline).

    It holds the run's summary, curves and config; for segmentation, the per-class scores, the confusion
    matrix and the best and worst validation images of best.pt (else last.pt) on the split the run validated
    on; for GANs, the sample grids over training and the scores of any RUNDIR/eval*.json written by
    `segen gan evaluate --json`.
    """
    from segen.inference.run_report import write_run_report

    path = write_run_report(run_dir, worst=worst, device=device, progress=not quiet)
    click.echo(f"report: {path}")


def report_after_training(result: RunResult | None, no_report: bool, device: str | None, quiet: bool) -> None:
    """After a `train` command: write the run's report, unless `no_report` or this process did not train
    (--dry-run, the launcher of --nproc, whose rank 0 writes it) or is not rank 0. The run is saved already, so
    a report that cannot be made is one `warning:` line and the command still succeeds."""
    if result is None or no_report or not process_info().is_main:
        return
    from segen.inference.run_report import write_run_report

    try:
        path = write_run_report(result.out, device=device or "auto", progress=not quiet)
    except Exception as exc:  # the run is saved: a report problem must not fail the command
        click.echo(f"warning: report not written: {one_line(exc)}", err=True)
        return
    click.echo(f"report: {path}")
