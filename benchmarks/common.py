"""What every benchmark needs: a description of the machine, and a timed run of a command."""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from nbformat.v4 import new_code_cell, new_markdown_cell


def work_directory(given: str | None, prefix: str) -> Path:
    """Where a benchmark builds its course: ``--dir`` (made if missing), else a new temporary directory
    that is kept for a look afterwards."""
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        return path.resolve()
    return Path(tempfile.mkdtemp(prefix=prefix)).resolve()


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def machine() -> str:
    """One paragraph: CPU, cores, memory, load, versions. Timings on a shared machine depend on its load."""
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        total_kb = int(next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")).split()[1])
        memory = f", {total_kb / 2**20:.0f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    versions = [f"Python {platform.python_version()}"]
    for name in ("torch", "nbgrader", "IPython"):
        try:
            module = __import__(name)
            versions.append(f"{name} {module.__version__}")
        except ImportError:
            pass
    return f"{model}, {cores()} core(s){memory}; load average {load_average()}; " + ", ".join(versions)


CPUACCT = Path("/sys/fs/cgroup/cpuacct")


@dataclass
class Timed:
    """A finished command: wall seconds, and CPU seconds of it and of every process it started."""

    argv: list[str]
    returncode: int
    wall: float
    cpu: float
    cpu_how: str  # "cgroup" (exact) or "rusage" (misses processes the command did not reap itself)
    output: str
    load_before: str
    load_after: str
    began_at: float = 0.0  # time.time() when the command was started


def run_timed(argv: list[str], cwd: Path | None = None, env: dict | None = None) -> Timed:
    """Run a command to the end and time it.

    CPU time comes from a cpuacct cgroup made for the command where this process may make one (every
    descendant is counted, whoever reaps it: warm workers killed at the end, runs inside bubblewrap);
    otherwise from the rusage of reaped children, which misses processes orphaned on the way.
    """
    group = _cpu_group()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load_before = load_average()
    began_at = time.time()
    started = time.perf_counter()

    def join_group() -> None:  # runs in the child, before exec
        (group / "cgroup.procs").write_text(str(os.getpid()))

    completed = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               preexec_fn=join_group if group else None)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if group is not None:
        cpu, how = _cpu_seconds(group), "cgroup"
    else:
        cpu, how = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), "rusage"
    return Timed(argv, completed.returncode, wall, cpu, how, completed.stdout, load_before, load_average(), began_at)


def _cpu_group() -> Path | None:
    try:
        group = CPUACCT / f"autograder-bench-{os.getpid()}-{time.monotonic_ns()}"
        group.mkdir()
        return group
    except OSError:
        return None


def _cpu_seconds(group: Path) -> float:
    for _ in range(50):  # processes killed at the end may take a moment to leave the group
        if not (group / "cgroup.procs").read_text().strip():
            break
        time.sleep(0.1)
    seconds = int((group / "cpuacct.usage").read_text()) / 1e9
    try:
        group.rmdir()
    except OSError:
        pass
    return seconds


def require_success(timed: Timed, what: str) -> None:
    if timed.returncode != 0:
        tail = "\n".join(timed.output.splitlines()[-40:])
        sys.exit(f"{what} failed (exit {timed.returncode}): {' '.join(timed.argv)}\n{tail}")


def autograder_command() -> list[str]:
    """`autograder` as this interpreter runs it (the console script may not be on PATH)."""
    return [sys.executable, "-m", "autograder"]


def nbgrader_cell(kind: str, source: str, grade_id: str, points: float | None = None):
    """A code cell with nbgrader metadata; kind is answer | test | locked."""
    flags = {
        "answer": dict(solution=True, grade=False, locked=False),
        "test": dict(solution=False, grade=True, locked=True),
        "locked": dict(solution=False, grade=False, locked=True),
    }[kind]
    meta = {"grade_id": grade_id, "schema_version": 3, **flags}
    if points is not None:
        meta["points"] = points
    return new_code_cell(source, metadata={"nbgrader": meta})


def markdown(text: str):
    return new_markdown_cell(text)


KERNELSPEC = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
              "language_info": {"name": "python"}}
