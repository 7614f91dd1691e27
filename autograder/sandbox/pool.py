"""Warm workers for a batch: which libraries they preload, and one worker per grading thread.

A batch starts its workers before anything else (`WarmPool.prestart`), from the libraries the source
notebooks import, so that their start-up (seconds of importing IPython and torch) runs while the
coordinator reads the course, the gradebook and the submissions rather than after.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from autograder.course import CourseError
from autograder.sandbox.limits import Limits
from autograder.sandbox.warm import WarmInterpreter
from autograder.sandbox.scratch import release_scratch

if TYPE_CHECKING:
    from autograder.course import Assignment
    from autograder.prepare.manifest import NotebookManifest


class WarmPool:
    """One warm worker per grading thread, closed with the pool.

    A worker is created on its thread's first use, or taken from those `prestart` began: a batch starts
    its workers before it builds its plan, so their start-up (seconds of importing IPython and torch)
    runs while the coordinator reads the course instead of after it.
    """

    def __init__(self, preload: list[str], course_root: Path | None = None, warm: bool = True):
        self.preload, self.course_root, self.warm = preload, course_root, warm
        self._local = threading.local()
        self._all: list[WarmInterpreter] = []
        self._starting: list[concurrent.futures.Future] = []  # prestarted, not yet handed out
        self._prestarted: list[tuple[WarmInterpreter, concurrent.futures.Future]] = []
        self._closed = threading.Event()
        self._lock = threading.Lock()

    def prestart(self, count: int, limits: Limits) -> None:
        """Begin starting ``count`` workers in the background; `current` hands them out as they are needed."""
        if not self.warm or count < 1:
            return
        with self._lock:
            for _ in range(count):
                worker, started = WarmInterpreter(self.preload, self.course_root), concurrent.futures.Future()
                self._all.append(worker)
                self._starting.append(started)
                self._prestarted.append((worker, started))
                # The starting thread lives as long as the pool: bubblewrap's --die-with-parent follows the
                # thread that started it, and a thread that ended would take its worker with it.
                threading.Thread(target=self._start_and_hold, args=(worker, limits, started), daemon=True,
                                 name=f"warm-start-{worker.slot}").start()

    def _start_and_hold(self, worker: WarmInterpreter, limits: Limits, started: concurrent.futures.Future) -> None:
        try:
            worker.start(limits)
        except Exception:  # it could not start: its first run tries again, and reports why
            worker.close()
        started.set_result(worker)
        self._closed.wait()

    def current(self) -> WarmInterpreter | None:
        if not self.warm:
            return None
        worker = getattr(self._local, "worker", None)
        if worker is None:
            with self._lock:
                starting = self._starting.pop(0) if self._starting else None
            if starting is not None:
                worker = starting.result()
            else:
                worker = WarmInterpreter(self.preload, self.course_root)
                with self._lock:
                    self._all.append(worker)
            self._local.worker = worker
        return worker

    def close(self) -> None:
        """Stop every worker, those still starting included (a batch with nothing to grade waits for none)."""
        with self._lock:
            prestarted, self._prestarted, self._starting = self._prestarted, [], []
        for worker, started in prestarted:
            if not started.done():
                worker.cancel()
        for _, started in prestarted:
            started.result()
        with self._lock:
            for worker in self._all:
                worker.close()
            self._all.clear()
        self._closed.set()
        release_scratch()  # unless another pool of this process still works there

    def __enter__(self) -> "WarmPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


#: Libraries worth importing once in a warm interpreter rather than in every run.
HEAVY_MODULES = ("numpy", "pandas", "scipy", "sklearn", "matplotlib", "torch", "torchvision")
_IMPORT = re.compile(r"^\s*(?:import|from)\s+([A-Za-z_][A-Za-z0-9_]*)", re.MULTILINE)

#: What a heavy library imports on first use rather than at its own import, where nearly every notebook
#: using it gets there: torch's first optimizer (`torch.optim.SGD(...)`) imports torch._dynamo, about 900
#: modules and seconds of CPU, which a run forked from a warm worker would otherwise pay every time.
LAZY_IMPORTS = {"torch": ("torch._dynamo",)}


def heavy_imports(manifests: Iterable[NotebookManifest]) -> list[str]:
    """The heavy libraries an assignment's notebooks import: what a warm worker should import once."""
    sources = []
    for manifest in manifests:
        sources += [cell.solution_source for cell in manifest.cells] + [source for _, _, source in manifest.plain_cells]
    return _heavy_in(sources)


def heavy_imports_of_sources(assignment: Assignment) -> list[str]:
    """`heavy_imports` read straight from the source notebooks' JSON, before any manifest is built (so
    workers can start first); a notebook that cannot be read adds nothing here and fails in `build_plan`."""
    sources = []
    for name in assignment.notebook_names:
        try:
            notebook = json.loads(assignment.source_notebook_path(name).read_text(encoding="utf-8"))
            for cell in notebook.get("cells", []):
                if cell.get("cell_type") == "code":
                    source = cell.get("source", "")
                    sources.append("".join(source) if isinstance(source, list) else str(source))
        except (OSError, ValueError, AttributeError):
            continue
    return _heavy_in(sources)


def _heavy_in(sources: Iterable[str]) -> list[str]:
    found = set()
    for source in sources:
        found.update(_IMPORT.findall(source))
    heavy = [name for name in HEAVY_MODULES if name in found]
    return heavy + [lazy for name in heavy for lazy in LAZY_IMPORTS.get(name, ())]


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


#: Where a GPU driver shows itself (NVIDIA, ROCm, WSL2); with none of them torch.cuda sees no device.
GPU_DRIVER_NODES = ("/dev/nvidiactl", "/proc/driver/nvidia", "/dev/kfd", "/dev/dxg")


def resolve_device(device: str) -> str:
    """``auto`` is ``cuda`` when the grader sees a GPU, else ``cpu``."""
    if device not in ("auto", "cpu", "cuda"):
        raise CourseError(f"unknown device {device!r}: use auto, cpu or cuda")
    if device == "cpu":
        return "cpu"
    if device == "auto" and not any(os.path.exists(node) for node in GPU_DRIVER_NODES):
        return "cpu"  # no GPU driver: torch would say so too, after seconds of importing it
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if device == "cuda":
        raise CourseError("--device cuda: no CUDA device is visible to the grader")
    return "cpu"
