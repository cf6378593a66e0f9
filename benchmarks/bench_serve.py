"""Load on `segen serve`: N requests from C concurrent clients (gradio_client on loopback) against a checkpoint.

Every answer's mask is compared with `segen seg predict`'s for the same image; reports answered / lost / wrong,
p50 and p95 latency, and the server process's peak RSS (VmHWM).

    python benchmarks/bench_serve.py --checkpoint RUN/best.pt --images DIR [--requests 100 --clients 20]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextmanager
def serving(arguments: list[str]) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`segen serve ARGUMENTS` on a free loopback port, as a subprocess: yields its URL and the process."""
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "segen", "serve", *arguments, "--port", str(port)],
                              stderr=subprocess.PIPE, text=True)
    try:
        assert server.stderr is not None
        line = server.stderr.readline()
        if "serving" not in line:
            raise SystemExit(f"server did not start: {line}")
        yield f"http://127.0.0.1:{port}/", server
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--images", required=True, help="A folder of test images.")
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=600, help="Seconds the whole load may take.")
    parser.add_argument("--json", help="Write the figures here.")
    args = parser.parse_args()
    from gradio_client import Client, handle_file

    from segen.data.io import read_mask
    from segen.inference import Segmenter, predict_files

    images = sorted(p for p in Path(args.images).iterdir() if p.suffix.lower() in (".png", ".jpg", ".tif"))
    expected_dir = Path(tempfile.mkdtemp())
    predict_files(Segmenter.from_checkpoint(args.checkpoint), Path(args.images), expected_dir, progress=False)
    with serving(["--checkpoint", args.checkpoint, "--queue-size", str(args.requests)]) as (url, server):

        def one(index: int) -> tuple[float, bool]:
            image = images[index % len(images)]
            client = Client(url, verbose=False)
            start = time.perf_counter()
            files = client.predict(None, handle_file(str(image)), "none", False, 0.5, api_name="/segment")[3]
            elapsed = time.perf_counter() - start
            expected = read_mask(expected_dir / f"{image.stem}.png")
            ok = bool(files) and np.array_equal(read_mask(Path(files[0])), expected)
            return elapsed, ok

        began = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            futures = [pool.submit(one, i) for i in range(args.requests)]
            results = []
            for future in futures:
                try:
                    results.append(future.result(timeout=max(1.0, args.timeout - (time.perf_counter() - began))))
                except Exception as exc:  # a lost or failed request counts as lost
                    print(f"lost: {type(exc).__name__}: {exc}", file=sys.stderr)
        wall = time.perf_counter() - began
        latencies = np.array([t for t, _ in results])
        figures = {"requests": args.requests, "clients": args.clients, "answered": len(results),
                   "correct": sum(ok for _, ok in results), "lost": args.requests - len(results),
                   "p50_s": round(float(np.percentile(latencies, 50)), 3) if len(latencies) else None,
                   "p95_s": round(float(np.percentile(latencies, 95)), 3) if len(latencies) else None,
                   "wall_s": round(wall, 1), "server_peak_rss_mb": round(_peak_rss_mb(server.pid), 1),
                   "images": len(images), "cpus": os.cpu_count()}
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
