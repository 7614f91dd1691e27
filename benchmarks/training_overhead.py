"""What grading adds to a notebook that trains for about 5 s of CPU: graded time against the bare run.

    python -m benchmarks.training_overhead [--seconds 5] [--rounds 5] [--dir DIR]

The notebook has two questions, each training a small PyTorch model for STEPS full-batch steps (an MLP
regression, an MLP classifier); STEPS is calibrated first so that the bare run of both takes about
``--seconds``. The submission is the solution. Two times are compared, in alternating rounds:

* **bare**: the source notebook's code cells (setup, solutions, tests), in order, executed with ``exec`` in
  one namespace by plain ``python``, with one torch thread and ``OMP_NUM_THREADS=MKL_NUM_THREADS=1`` (the
  thread settings every graded run has); timed from just before the first cell to just after the last,
  with torch and torch._dynamo already imported (as they are in a warm worker).
* **graded**: ``autograder grade`` of a batch of two copies of the submission with one worker; the time
  of the second copy, as the gradebook stores it (``duration_s``: read and restore the notebook, fork from
  the warm worker, run every cell through the harness, score): the first copy pays for starting the warm
  worker, once per worker and batch.

Also printed, for the whole picture: each command's wall time from start to exit (``python bare.py``
including the interpreter and ``import torch``; ``autograder grade`` of the batch of two).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_notebook

from benchmarks.common import KERNELSPEC, autograder_command, machine, markdown, nbgrader_cell, require_success, run_timed, work_directory

ASSIGNMENT = "training"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
THREADS = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}

SETUP = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\nSTEPS = {steps}"
REGRESSION = """def train_regression(steps):
    ### BEGIN SOLUTION
    torch.manual_seed(0)
    x = torch.randn(1024, 32)
    y = x @ torch.randn(32, 1) + 0.1 * torch.randn(1024, 1)
    model = nn.Sequential(nn.Linear(32, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
    return loss.item(), y.var().item()
    ### END SOLUTION"""
REGRESSION_TEST = "final_loss, variance = train_regression(STEPS)\nassert final_loss < 0.5 * variance"
CLASSIFIER = """def train_classifier(steps):
    ### BEGIN SOLUTION
    torch.manual_seed(1)
    x = torch.randn(1024, 32)
    labels = (x[:, :4].sum(dim=1) > 0).long() + (x[:, 4] > 1).long()
    model = nn.Sequential(nn.Linear(32, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), labels)
        loss.backward()
        optimizer.step()
    return (model(x).argmax(dim=1) == labels).float().mean().item()
    ### END SOLUTION"""
CLASSIFIER_TEST = "assert train_classifier(STEPS) > 0.8"

BARE = """import json, sys, time
import torch
import torch._dynamo  # what a warm worker preloads for torch (autograder.sandbox.pool.LAZY_IMPORTS): the first optimizer imports it
torch.set_num_threads(1)
cells = json.loads(open(sys.argv[1], encoding="utf-8").read())
namespace = {"__name__": "__main__"}
started = time.perf_counter()
for index, source in enumerate(cells):
    exec(compile(source, f"<cell {index}>", "exec"), namespace)
print(json.dumps({"cells_s": time.perf_counter() - started}))
"""


def source_notebook(steps: int):
    return new_notebook(cells=[
        markdown("# Training for a few seconds (overhead benchmark)"),
        nbgrader_cell("locked", SETUP.format(steps=steps), "setup"),
        nbgrader_cell("answer", REGRESSION, "regression"),
        nbgrader_cell("test", REGRESSION_TEST, "regression_test", points=1),
        nbgrader_cell("answer", CLASSIFIER, "classifier"),
        nbgrader_cell("test", CLASSIFIER_TEST, "classifier_test", points=1),
    ], metadata=dict(KERNELSPEC))


def run_bare(base: Path, steps: int) -> tuple[float, float]:
    """(seconds in the cells, seconds of the whole `python bare.py` process)."""
    cells = [cell.source for cell in source_notebook(steps).cells if cell.cell_type == "code"]
    (base / "cells.json").write_text(json.dumps(cells))
    (base / "bare.py").write_text(BARE)
    timed = run_timed([sys.executable, str(base / "bare.py"), str(base / "cells.json")], env=os.environ | THREADS)
    require_success(timed, "the bare run")
    return json.loads(timed.output.strip().splitlines()[-1])["cells_s"], timed.wall


def build_course(root: Path, steps: int) -> Path:
    from autograder.course import Course
    from autograder.prepare.publish import release_assignment

    (root / "source" / ASSIGNMENT).mkdir(parents=True)
    nbformat.write(source_notebook(steps), root / "source" / ASSIGNMENT / NOTEBOOK)
    release_assignment(Course.at(root).assignment(ASSIGNMENT))
    released = nbformat.read(root / "release" / ASSIGNMENT / NOTEBOOK, as_version=4)
    solutions = {"regression": REGRESSION, "classifier": CLASSIFIER}
    for cell in released.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in solutions:
            cell.source = solutions[grade_id]
    submissions = root / "submissions"
    submissions.mkdir()
    for student in ("first", "second"):  # graded in this order with one worker
        nbformat.write(released, submissions / f"{student}.ipynb")
    return submissions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.training_overhead", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="bare training time to calibrate to (default: 5)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating bare/graded rounds (default: 5)")
    parser.add_argument("--dir", help="work here (default: a new temporary directory, kept)")
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # progress shows as it happens, also in a log file

    base = work_directory(args.dir, "bench-training-")
    print(f"machine: {machine()}")
    probe_steps = 100
    probe, _ = run_bare(base, probe_steps)
    steps = max(1, round(probe_steps * args.seconds / probe))
    print(f"calibration: {probe_steps} steps per question took {probe:.2f} s bare -> STEPS = {steps} (about {args.seconds:g} s)")
    root = base / "course"
    submissions = build_course(root, steps)
    gradebook = f"sqlite:///{base / 'gradebook.db'}"
    grade = autograder_command() + ["grade", ASSIGNMENT, str(submissions), "--course", str(root), "--workers", "1",
                                    "--force", "--gradebook", gradebook, "--quiet"]
    print(f"bare:   python bare.py cells.json  (env {' '.join(f'{k}={v}' for k, v in THREADS.items())}, torch.set_num_threads(1))")
    print(f"graded: {' '.join(['autograder'] + grade[3:])}")

    from autograder.results.gradebook import Gradebook

    rounds = []
    for number in range(1, args.rounds + 1):
        bare_cells, bare_process = run_bare(base, steps)
        timed = run_timed(grade)
        require_success(timed, "autograder grade")
        with Gradebook(gradebook) as book:
            rows = {row.student_id: row for row in book.submissions(ASSIGNMENT)}
        scores = {student: (sum(r.score or 0 for r in row.results), row.max_score) for student, row in rows.items()}
        if any(score != maximum for score, maximum in scores.values()):
            sys.exit(f"the solution did not score full marks: {scores}")
        graded = rows["second"].duration_s
        rounds.append((bare_cells, graded, bare_process, timed.wall, rows["first"].duration_s))
        print(f"round {number}: bare {bare_cells:.3f} s, graded {graded:.3f} s -> overhead {100 * (graded / bare_cells - 1):+.1f}%   "
              f"(whole commands: python bare.py {bare_process:.2f} s; autograder grade of two {timed.wall:.2f} s, "
              f"first copy {rows['first'].duration_s:.2f} s with the worker start)  [load {timed.load_after}]")
    print()
    for label, pick in (("median", statistics.median), ("best", min)):
        bare, graded = pick(r[0] for r in rounds), pick(r[1] for r in rounds)
        print(f"{label} of {len(rounds)} rounds: bare {bare:.3f} s, graded {graded:.3f} s, "
              f"overhead {100 * (graded / bare - 1):+.1f}% (target: within 5%)")
    print("(on a machine other processes also load, the best of several rounds is the least disturbed of each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
