"""What it costs to bring a large value across the sandbox boundary: a check that records ~100 MB of tensors.

    python -m benchmarks.boundary_transfer [--megabytes 100] [--rounds 3]

One warm worker (numpy, torch) runs a two-cell job: the first cell builds a state_dict of float32 tensors
(``--megabytes`` in all), the second (a test cell, as the harness runs it) records it with
`check_close`. The transfer is timed from the moment the check is called in the child (its own clock,
printed by the cell) to the moment `run_job` returned in the parent, with the event parsed (an upper
bound: the runner's exit is included), and the decoding
(`autograder.wire.values.decode`, what scoring does) separately. Also printed: whether the value arrived
intact (every tensor equal), and the cell's own duration as the child measured it.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from autograder.sandbox.launch import run_job
from autograder.sandbox.limits import Limits
from autograder.sandbox.scratch import fresh_workdir, remove_workdir
from autograder.sandbox.warm import WarmInterpreter
from autograder.wire import values
from benchmarks.common import machine

#: Tensors of 4 MiB each (1,048,576 float32), so a state_dict of N MB has about N/4 entries, like a real model's.
TENSOR_ELEMENTS = 1 << 20


def job(megabytes: int) -> dict:
    count = max(1, round(megabytes * 1e6 / (4 * TENSOR_ELEMENTS)))
    build = (f"import torch\ng = torch.Generator().manual_seed(0)\n"
             f"state = {{f'layer{{i}}.weight': torch.randn({TENSOR_ELEMENTS}, generator=g) for i in range({count})}}\n"
             "sum(t.numel() * 4 for t in state.values())")
    record = "import time\nfrom autograder import checks as ag\nprint(time.time())\nag.check_close('model.state', state)"
    return {"mode": "record", "cells": [{"index": 0, "source": build},
                                        {"index": 1, "source": record, "harness_exec": True, "kind": "test", "seed": 0}]}


def _intact(value: dict, sent: int) -> bool:
    """The same tensors, bit for bit, as the child made them (same generator, same seed)."""
    import torch

    g = torch.Generator().manual_seed(0)
    count = round(sent / (4 * TENSOR_ELEMENTS))
    return len(value) == count and all(
        np.array_equal(value[f"layer{i}.weight"].data, torch.randn(TENSOR_ELEMENTS, generator=g).numpy()) for i in range(count))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megabytes", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    limits = Limits(cell_timeout=120, total_timeout=600, memory=8 * 2**30)
    worker = WarmInterpreter(["numpy", "torch"])
    worker.start(limits)
    transfers, decodes = [], []
    try:
        for round_number in range(1, args.rounds + 1):
            workdir = fresh_workdir()
            try:
                began = time.perf_counter()
                run = run_job(job(args.megabytes), workdir, limits, worker=worker)
                wall = time.perf_counter() - began
            finally:
                remove_workdir(workdir)
            assert run.finished and all(end.ok for end in run.cells.values()), (run.message, run.cells)
            sent = int(run.cells[0].outputs[-1]["data"]["text/plain"])
            called_at = float(run.cells[1].stream("stdout").split()[0])
            arrived_at = time.time()  # an upper bound: the run's end (the runner's exit) is included
            (_, record), = run.checks
            started = time.perf_counter()
            value = values.decode(record.value)
            decode = time.perf_counter() - started
            intact = _intact(value, sent)
            transfer = arrived_at - called_at
            transfers.append(transfer)
            decodes.append(decode)
            print(f"round {round_number}: sent {sent / 1e6:.1f} MB of tensors ({len(value)} x {TENSOR_ELEMENTS * 4 / 2**20:.0f} MiB float32); "
                  f"check called -> event parsed in the grader {transfer:.2f} s; decode {decode:.2f} s; "
                  f"test cell as timed by the child {run.cells[1].duration:.2f} s; whole run {wall:.2f} s; intact: {intact}")
    finally:
        worker.close()
    print(f"median over {args.rounds} rounds: transfer {statistics.median(transfers):.2f} s, decode {statistics.median(decodes):.2f} s, "
          f"transfer + decode {statistics.median(t + d for t, d in zip(transfers, decodes)):.2f} s")


if __name__ == "__main__":
    main()
