"""What confinement costs per run: a one-cell notebook run N times on one warm worker, per isolation mode.

    python -m benchmarks.sandbox_overhead [--runs 40]

`auto` is bubblewrap (where it runs) + cgroups + uid drop; `none` is no bubblewrap (cgroups, rlimits and the
uid drop still apply). Prints the median and the 90th percentile wall time of `run_job` per mode, and the
start of a warm worker (its imports included) per mode.
"""

from __future__ import annotations

import argparse
import statistics
import time

from autograder.sandbox.limits import Limits

from autograder.sandbox.warm import WarmInterpreter

from autograder.sandbox.launch import run_job
from autograder.sandbox.scratch import fresh_workdir, remove_workdir
from benchmarks.common import machine

JOB = {"mode": "record", "cells": [{"index": 0, "source": "import numpy as np\nx = np.arange(10).sum()\nx"}]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    for isolation in ("none", "auto"):
        limits = Limits(cell_timeout=30, isolation=isolation)
        worker = WarmInterpreter(["numpy"])
        started = time.perf_counter()
        worker._start(limits)
        start = time.perf_counter() - started
        times = []
        for _ in range(args.runs):
            workdir = fresh_workdir()
            began = time.perf_counter()
            result = run_job(JOB, workdir, limits, worker=worker)
            times.append(time.perf_counter() - began)
            remove_workdir(workdir)
            assert result.finished and result.cells[0].ok, result.message
        worker.close()
        times.sort()
        print(f"{isolation:>5}: warm worker start {start * 1000:.0f} ms; per run median {statistics.median(times) * 1000:.1f} ms, "
              f"p90 {times[int(0.9 * len(times))] * 1000:.1f} ms ({args.runs} runs)")


if __name__ == "__main__":
    main()
