"""`--nproc N`: run a training command as N torchrun processes on this machine (torch's elastic agent, the
engine behind torchrun, started in this process so its outcome is one line rather than a traceback)."""

from __future__ import annotations

import os
import sys
import uuid

from segen.errors import TrainingStopped

INTERRUPTED = 130  # the exit code of a run stopped by Ctrl-C or SIGTERM, with a resumable checkpoint


def without_nproc(argv: list[str]) -> list[str]:
    """The command line `argv` with its `--nproc N` (or `--nproc=N`) removed: what each process runs."""
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            kept.append(arg)
    return kept


def launch_local(nproc: int, argv: list[str], max_restarts: int = 0) -> None:
    """Run `segen *argv` in `nproc` processes of one torchrun group on this machine; each process gets an
    equal share of the CPU threads unless OMP_NUM_THREADS says otherwise.

    Raises:
        TrainingStopped: a process failed (its own error line has been printed by it).
    """
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=str(uuid.uuid4()),
                          rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=max_restarts,
                          monitor_interval=0.5)
    try:
        elastic_launch(config, sys.executable)("-m", "segen", *argv)
    except ChildFailedError as exc:
        rank, failure = exc.get_first_failure()
        if failure.exitcode == INTERRUPTED:
            raise SystemExit(INTERRUPTED) from None  # Ctrl-C: rank 0 has said how to continue
        raise TrainingStopped(f"process {rank} of {nproc} exited with code {failure.exitcode}; "
                              "the run folder keeps its last checkpoint (continue with --resume)",
                              kind="distributed") from None
