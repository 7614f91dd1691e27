"""What a student's `autograder check` costs, against running the same notebook top to bottom in a kernel.

    python -m benchmarks.check_vs_kernel          # [--rounds 3] [--student ada_lovelace] [--dir DIR]

Both are timed as a student meets them, whole, in alternating rounds: `autograder check NOTEBOOK` (a new
process: read and restore the notebook against release/, start a sandboxed interpreter, run every cell with
the visible tests, print the table) and a fresh Jupyter kernel running every cell of the same notebook
(nbclient, as "Restart & Run All" does, the kernel's start included). The notebook is a sample submission
of the Deep MLPs set with every answer filled in, in a copy of the released course (what a student has).
It prints each round, the medians and their ratio (target: at most 1.5).

Measured 2026-12-03 (`PYTHONPATH=. python -m benchmarks.check_vs_kernel --rounds 3`, 2 shared cores at load
12-17, samples/deep_mlps/ada_lovelace): kernel 49.17 / 55.96 / 37.96 s, check 49.33 / 42.46 / 33.31 s;
medians kernel 49.17 s, check 42.46 s, check / kernel = 0.86. `check` runs in one sandboxed interpreter with
no kernel or ZMQ round trips, so it stays under the kernel's time; nothing needed speeding up.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import load_average, machine, work_directory

ASSIGNMENT = "deep_mlps"
REPO = Path(__file__).resolve().parent.parent


def _kernel_run(notebook: Path) -> float:
    code = ("import sys, nbformat\nfrom nbclient import NotebookClient\n"
            "nb = nbformat.read(sys.argv[1], 4)\n"
            "NotebookClient(nb, timeout=600, kernel_name='python3', allow_errors=True,"
            " resources={'metadata': {'path': sys.argv[2]}}).execute()\n")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, str(notebook), str(notebook.parent)], check=True, capture_output=True)
    return time.perf_counter() - started


def _check_run(notebook: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "autograder", "check", str(notebook)], cwd=notebook.parent, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"autograder check failed:\n{done.stdout}\n{done.stderr}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--student", default="ada_lovelace")
    parser.add_argument("--dir")
    args = parser.parse_args(argv)
    root = work_directory(args.dir, "check-vs-kernel-")
    course = root / "course"
    shutil.rmtree(course, ignore_errors=True)
    shutil.copytree(REPO / "release", course / "release")
    shutil.copy(REPO / "pyproject.toml", course / "pyproject.toml")
    work = course / "work"
    work.mkdir()
    notebook = work / f"{ASSIGNMENT}.ipynb"
    shutil.copy(REPO / "samples" / ASSIGNMENT / args.student / f"{ASSIGNMENT}.ipynb", notebook)
    for data in (course / "release" / ASSIGNMENT).iterdir():  # the public files a student has next to the notebook
        if data.is_dir():
            shutil.copytree(data, work / data.name, dirs_exist_ok=True)
    print(f"machine: {machine()}")
    print(f"notebook: {notebook} (samples/{ASSIGNMENT}/{args.student}, every answer filled in)")
    checks, kernels = [], []
    for round_number in range(1, args.rounds + 1):
        kernel = _kernel_run(notebook)
        check = _check_run(notebook)
        kernels.append(kernel)
        checks.append(check)
        print(f"round {round_number}: kernel, Restart & Run All {kernel:.2f} s; autograder check {check:.2f} s  [load {load_average()}]")
    kernel, check = statistics.median(kernels), statistics.median(checks)
    print(f"median: kernel {kernel:.2f} s, check {check:.2f} s; check / kernel = {check / kernel:.2f} (target: at most 1.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
