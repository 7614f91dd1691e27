"""The coordinator's peak memory while `autograder grade` grades 10,000 small submissions.

    python -m benchmarks.coordinator_memory [--submissions 10000] [--workers 2] [--dir DIR]

Builds a course with one tiny notebook (two questions: one graded by a check against solutions/, one by
plain asserts) and N submissions of it (correct, wrong, raising, untouched, in turn), then runs the real
command, `autograder grade tiny SUBMISSIONS --workers 2` (progress bar and final table included, written
to a file), in a process whose own peak resident set size it reports:

* ``VmHWM`` (peak resident set size) of the coordinator process itself, read from ``/proc/self/status`` by
  the process as it exits; its children, the warm workers and the runs they fork, are other processes
  and not counted. (Not ``getrusage``'s ``ru_maxrss``: Linux carries it across ``exec`` from the process
  that started the command, here the benchmark itself.)
* ``VmHWM`` from ``/proc/<pid>/status``, sampled every half second from outside, as a cross-check, with
  ``VmRSS`` at each tenth of the batch to show whether memory grows with the number graded.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_notebook

from benchmarks.common import KERNELSPEC, machine, markdown, nbgrader_cell, work_directory

ASSIGNMENT = "tiny"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
SOLUTIONS = "def add(a, b):\n    return a + b\n\n\ndef halve(x):\n    return x / 2\n"
ANSWERS = {
    "add": {
        "correct": "def add(a, b):\n    return a + b",
        "wrong": "def add(a, b):\n    return a - b",
        "raises": "def add(a, b):\n    raise RuntimeError('no idea')",
        "untouched": None,
    },
    "halve": {
        "correct": "def halve(x):\n    return x * 0.5",
        "wrong": "def halve(x):\n    return x // 2",
        "raises": "def halve(x):\n    return x / '2'",
        "untouched": None,
    },
}

# The coordinator under measurement: the real CLI, reporting its own peak RSS as it exits.
WRAPPER = (
    "import sys\n"
    "from autograder.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "hwm = next(line for line in open('/proc/self/status') if line.startswith('VmHWM'))\n"
    "sys.stderr.write(f'COORDINATOR_VMHWM_KB {hwm.split()[1]}\\n')\n"
    "sys.exit(code)\n"
)


def source_notebook():
    cells = [
        markdown("# A tiny notebook (memory benchmark)"),
        nbgrader_cell("locked", "from autograder import checks as ag", "setup"),
        nbgrader_cell("answer", "def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION", "add"),
        nbgrader_cell("test", "ag.check_close('add.ints', add(2, 3))\nag.check_close('add.floats', add(0.5, 0.25))", "add_test", points=1),
        nbgrader_cell("answer", "def halve(x):\n    ### BEGIN SOLUTION\n    return x / 2\n    ### END SOLUTION", "halve"),
        nbgrader_cell("test", "assert halve(3) == 1.5\nassert halve(-1) == -0.5", "halve_test", points=1),
    ]
    return new_notebook(cells=cells, metadata=dict(KERNELSPEC))


def build_course(root: Path, count: int) -> Path:
    from autograder.course import Course
    from autograder.prepare.publish import release_assignment

    (root / "source" / ASSIGNMENT).mkdir(parents=True)
    (root / "solutions").mkdir()
    nbformat.write(source_notebook(), root / "source" / ASSIGNMENT / NOTEBOOK)
    (root / "solutions" / f"{ASSIGNMENT}.py").write_text(SOLUTIONS)
    release_assignment(Course.at(root).assignment(ASSIGNMENT))
    released = nbformat.read(root / "release" / ASSIGNMENT / NOTEBOOK, as_version=4)
    variants = []  # the 16 combinations of answers, each written once and reused
    for add_name, add_source in ANSWERS["add"].items():
        for halve_name, halve_source in ANSWERS["halve"].items():
            notebook = nbformat.from_dict(released)
            for cell in notebook.cells:
                grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
                replacement = {"add": add_source, "halve": halve_source}.get(grade_id)
                if replacement is not None:
                    cell.source = replacement
            variants.append(nbformat.writes(notebook))
    submissions = root / "submissions"
    submissions.mkdir()
    for index in range(count):
        (submissions / f"s{index:05d}.ipynb").write_text(variants[index % len(variants)], encoding="utf-8")
    return submissions


def _status(pid: int) -> dict[str, int]:
    values = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmHWM", "VmRSS")):
                name, amount = line.split(":", 1)
                values[name] = int(amount.split()[0])
    except (OSError, ValueError):
        pass
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.coordinator_memory", description=__doc__.split("\n\n")[0])
    parser.add_argument("--submissions", type=int, default=10000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--dir", help="build the course here (default: a new temporary directory, kept)")
    parser.add_argument("--limit-mb", type=float, default=300.0, help="the target (default: 300 MB)")
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # progress shows as it happens, also in a log file

    base = work_directory(args.dir, "bench-memory-")
    root = base / "course"
    print(f"machine: {machine()}")
    started = time.perf_counter()
    submissions = build_course(root, args.submissions)
    print(f"course: {root}, {args.submissions} submissions of a two-question notebook in {submissions} "
          f"(built in {time.perf_counter() - started:.0f} s)")
    gradebook = f"sqlite:///{base / 'gradebook.db'}"
    argv_ = [sys.executable, "-c", WRAPPER, "grade", ASSIGNMENT, str(submissions), "--course", str(root),
             "--workers", str(args.workers), "--gradebook", gradebook]
    print(f"running: autograder {' '.join(argv_[3:])}  (the CLI's main() in a process that reports its own peak RSS)", flush=True)
    log = base / "grade-output.txt"
    samples: list[tuple[float, int, int]] = []  # (seconds, VmRSS kB, VmHWM kB)
    with log.open("w") as out:
        started = time.perf_counter()
        process = subprocess.Popen(argv_, stdout=out, stderr=subprocess.PIPE, text=True)
        while process.poll() is None:
            status = _status(process.pid)
            if status:
                samples.append((time.perf_counter() - started, status.get("VmRSS", 0), status.get("VmHWM", 0)))
            time.sleep(0.5)
        wall = time.perf_counter() - started
        stderr = process.stderr.read()
    if process.returncode != 0:
        print(stderr[-3000:])
        sys.exit(f"autograder grade failed (exit {process.returncode}); its output is in {log}")
    peak_kb = next(int(line.split()[1]) for line in stderr.splitlines() if line.startswith("COORDINATOR_VMHWM_KB"))
    sampled_hwm = max((hwm for _, _, hwm in samples), default=0)

    from autograder.results.gradebook import Gradebook

    with Gradebook(gradebook) as book:
        rows = book.submissions(ASSIGNMENT)
    statuses: dict[str, int] = {}
    for row in rows:
        statuses[row.status] = statuses.get(row.status, 0) + 1
    print()
    print(f"graded {len(rows)} submissions with {args.workers} workers in {wall:.0f} s "
          f"({len(rows) / wall:.1f} per second); statuses: {statuses}")
    print(f"coordinator peak RSS (its own VmHWM as it exits): {peak_kb / 1024:.0f} MiB = {peak_kb * 1024 / 1e6:.0f} MB  "
          f"(target: under {args.limit_mb:g} MB)")
    print(f"coordinator VmHWM sampled from /proc every 0.5 s: {sampled_hwm / 1024:.0f} MiB")
    if samples:
        marks = [samples[min(len(samples) - 1, int(len(samples) * tenth / 10))] for tenth in range(1, 11)]
        print("coordinator VmRSS over the run: " + ", ".join(f"{t:.0f}s {rss / 1024:.0f}MiB" for t, rss, _ in marks))
    print(f"the command's output (progress, table of {len(rows)} rows): {log}")
    return 0 if peak_kb * 1024 / 1e6 < args.limit_mb else 1


if __name__ == "__main__":
    sys.exit(main())
