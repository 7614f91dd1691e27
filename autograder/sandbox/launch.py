"""The parent side of a run: start the runner in a fresh process, watch it, collect its events.

The job (cells to run, mode) goes to the child on its standard input, never through a file, so no test
code lies on disk next to the submission. Events come back on a pipe as JSON lines; the parent parses
them as plain data, enforces the time limits from outside (a cell that ignores its in-process alarm is
killed), and kills the child's whole process group when the run ends, whatever the child started.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import autograder

#: How long after a cell's own timeout the parent waits before killing the process.
KILL_GRACE_SECONDS = 3.0
#: Bytes of events one run may send back (values of checks included) before it is stopped.
MAX_CHANNEL_BYTES = 512 * 1024 * 1024


@dataclass
class Limits:
    cell_timeout: float = 60.0  # seconds per cell (0 = none)
    total_timeout: float = 0.0  # seconds for the whole run (0 = no budget beyond the per-cell limits)
    output_limit: int = 20000  # characters of stdout/stderr kept per cell (head and tail)
    device: str = "cpu"  # "cpu" (GPUs hidden) or "cuda" (the harness sets the determinism switches)


@dataclass
class RunResult:
    cells: dict[int, dict] = field(default_factory=dict)  # cell index -> its cell_end event
    checks: list[tuple[int | None, dict]] = field(default_factory=list)  # (cell index, record)
    status: str = "ok"  # ok | crashed | timeout | error
    message: str = ""
    finished: bool = False  # the runner reached the end of the job
    duration: float = 0.0
    stderr_tail: str = ""


_BOOTSTRAP = (
    "import os, sys\n"
    "course = {course!r}\n"
    "sys.path[:] = [p for p in sys.path if p and not (course and os.path.realpath(p).startswith(course))]\n"
    "sys.path.insert(0, {shim!r})\n"
    "{entry}\n"
)
_SPAWN_ENTRY = "from autograder.sandbox.runner import main; main(['-', sys.argv[1]])"
_WARM_ENTRY = "from autograder.sandbox.warm import main; main()"


def _bootstrap(entry: str, course_root: Path | None) -> str:
    course = str(course_root.resolve()) if course_root else ""
    return _BOOTSTRAP.format(course=course, shim=str(_Shim.path()), entry=entry)


class _Shim:
    """A directory holding only a link to this autograder package: the child imports it, nothing else of ours."""

    _path: Path | None = None

    @classmethod
    def path(cls) -> Path:
        if cls._path is None or not cls._path.exists():
            directory = Path(tempfile.mkdtemp(prefix="autograder-shim-"))
            (directory / "autograder").symlink_to(Path(autograder.__file__).resolve().parent)
            cls._path = directory
        return cls._path


def child_environment(workdir: Path, device: str = "cpu", gpu: int | None = None) -> dict[str, str]:
    """A small, explicit environment: nothing of the grader's (database URLs, tokens) reaches the child.

    On "cpu" no GPU is visible; on "cuda" only the GPU this run holds (one run per GPU at a time), with
    TF32 off at the library level and cuBLAS in its deterministic workspace mode.
    """
    home = workdir / ".home"
    home.mkdir(exist_ok=True)
    gpu_settings = {
        "CUDA_VISIBLE_DEVICES": "" if device != "cuda" else str(gpu if gpu is not None else 0),
        "NVIDIA_TF32_OVERRIDE": "0",
    }
    return gpu_settings | {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "TMPDIR": str(home),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "MPLBACKEND": "Agg",
        "IPYTHONDIR": str(home / ".ipython"),
        "MPLCONFIGDIR": str(home / ".matplotlib"),
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "CUBLAS_WORKSPACE_CONFIG": ":4096:8",
        "PYTHONWARNINGS": "ignore",
    }


class _Spawned:
    """A run in a fresh interpreter (no warm worker)."""

    def __init__(self, job_bytes: bytes, workdir: Path, env: dict, events_fd: int, stderr_fd: int, course_root: Path | None):
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-c", _bootstrap(_SPAWN_ENTRY, course_root), str(events_fd)],
            cwd=workdir,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=stderr_fd,
            pass_fds=(events_fd,),
            start_new_session=True,
        )
        self.pid = self.process.pid
        try:
            self.process.stdin.write(job_bytes)
            self.process.stdin.close()
        except BrokenPipeError:
            pass

    def poll(self) -> int | None:
        return self.process.poll()

    def wait(self, timeout: float) -> int | None:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None


class WarmWorker:
    """The parent's handle on one warm interpreter (see `autograder.sandbox.warm`); one run at a time."""

    def __init__(self, preload: list[str] | tuple[str, ...] = (), course_root: Path | None = None):
        self.preload = [m for m in preload]
        self.course_root = course_root
        self.process: subprocess.Popen | None = None
        self.sock: socket.socket | None = None
        self._buffer = b""

    def _start(self) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        env = child_environment(Path(tempfile.gettempdir()))
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-c", _bootstrap(_WARM_ENTRY, self.course_root), str(child.fileno()), ",".join(self.preload)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            pass_fds=(child.fileno(),),
            start_new_session=True,
        )
        child.close()
        self.sock = parent
        ready = self._receive(timeout=300)
        if not ready or "ready" not in ready:
            self.close()
            raise RuntimeError("the warm worker did not start")

    def _receive(self, timeout: float | None) -> dict | None:
        """The next message, or None on timeout or when the warm process is gone."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self._buffer:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            self.sock.settimeout(remaining)  # 0.0: a non-blocking look
            try:
                chunk = self.sock.recv(1 << 16)
            except (socket.timeout, BlockingIOError):
                return None
            except OSError:
                return {"gone": True}
            if not chunk:
                return {"gone": True}
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start_run(self, job_bytes: bytes, workdir: Path, env: dict, events_fd: int, stderr_fd: int) -> "_Forked":
        if not self.alive():
            self._start()
        job_read, job_write = os.pipe()
        try:
            socket.send_fds(self.sock, [json.dumps({"workdir": str(workdir), "env": env}).encode() + b"\n"],
                            [job_read, events_fd, stderr_fd])
        finally:
            os.close(job_read)
        started = self._receive(timeout=60)
        if not started or "pid" not in started:
            os.close(job_write)
            self.close()
            raise RuntimeError(f"the warm worker could not start a run: {started}")
        run = _Forked(self, started["pid"])
        with os.fdopen(job_write, "wb") as handle:
            try:
                handle.write(job_bytes)
            except BrokenPipeError:
                pass
        return run

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.process.wait()
            self.process = None


class _Forked:
    """A run forked from a warm worker; the warm process reaps it and reports its exit code."""

    def __init__(self, worker: WarmWorker, pid: int):
        self.worker, self.pid = worker, pid
        self.code: int | None = None

    def poll(self) -> int | None:
        return self.wait(0.0)

    def wait(self, timeout: float) -> int | None:
        if self.code is None:
            message = self.worker._receive(timeout=timeout)
            if message and "exit" in message:
                self.code = int(message["code"])
            elif message and message.get("gone"):
                self.code = -signal.SIGKILL
        return self.code


def run_job(
    job: dict,
    workdir: Path,
    limits: Limits,
    *,
    course_root: Path | None = None,
    env: dict | None = None,
    worker: WarmWorker | None = None,
) -> RunResult:
    """Run ``job`` in a new process with ``workdir`` as its working directory; return what it reported.

    With a `WarmWorker` the process is forked from it; otherwise a fresh interpreter is started.
    """
    job = dict(job, cell_timeout=limits.cell_timeout, output_limit=limits.output_limit, device=limits.device)
    job_bytes = json.dumps(job).encode("utf-8")
    env = env if env is not None else child_environment(workdir, limits.device)
    read_fd, write_fd = os.pipe()
    stderr_file = tempfile.TemporaryFile()
    started = time.monotonic()
    result = RunResult()
    try:
        if worker is not None:
            process = worker.start_run(job_bytes, workdir, env, write_fd, stderr_file.fileno())
        else:
            process = _Spawned(job_bytes, workdir, env, write_fd, stderr_file.fileno(), course_root)
    except BaseException:
        os.close(read_fd)
        stderr_file.close()
        raise
    finally:
        os.close(write_fd)
    try:
        _watch(process, read_fd, limits, result, started)
    finally:
        os.close(read_fd)
        _kill_group(process)
        result.duration = time.monotonic() - started
        stderr_file.seek(0, os.SEEK_END)
        size = stderr_file.tell()
        stderr_file.seek(max(0, size - 4000))
        result.stderr_tail = stderr_file.read().decode("utf-8", "replace")
        stderr_file.close()
    return result


def _kill_group(process) -> None:
    # The group takes everything the notebook started; the pid itself covers a child killed before its setsid.
    for kill in (os.killpg, os.kill):
        try:
            kill(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    process.wait(10)


def _watch(process, read_fd: int, limits: Limits, result: RunResult, started: float) -> None:
    selector = selectors.DefaultSelector()
    selector.register(read_fd, selectors.EVENT_READ)
    buffer = b""
    received = 0
    current: int | None = None
    cell_started = started
    while not result.finished:
        deadlines = []
        if current is not None and limits.cell_timeout > 0:
            deadlines.append((cell_started + limits.cell_timeout + KILL_GRACE_SECONDS,
                              f"the cell ran longer than {limits.cell_timeout:g} s and was stopped"))
        if limits.total_timeout > 0:
            deadlines.append((started + limits.total_timeout, f"the submission used up its {limits.total_timeout:g} s budget"))
        if deadlines:
            deadline, why = min(deadlines)
            if time.monotonic() >= deadline:
                _kill_group(process)
                if current is not None:
                    result.cells[current] = _synthetic_end(current, "timeout", why)
                result.status, result.message = "timeout", why
                return
        if not selector.select(timeout=0.5):
            # A grandchild the notebook forked may hold the pipe open after the runner died: poll the runner itself.
            if process.poll() is not None and not selector.select(timeout=0.2):
                break
            continue
        chunk = os.read(read_fd, 1 << 20)
        if not chunk:
            break  # end of stream: the runner is gone
        received += len(chunk)
        if received > MAX_CHANNEL_BYTES:
            _kill_group(process)
            result.status, result.message = "error", "the submission sent back more data than the grader accepts"
            return
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            event = _parse(line)
            kind = event.get("event") if event else None
            if kind == "cell_start":
                current, cell_started = event.get("index"), time.monotonic()
            elif kind == "check" and isinstance(event.get("record"), dict):
                result.checks.append((event.get("index"), event["record"]))
            elif kind == "cell_end" and isinstance(event.get("index"), int):
                result.cells[event["index"]] = event
                current = None
            elif kind == "done":
                result.finished = True
    if not result.finished:
        code = process.wait(5)
        if code is not None and code < 0:
            how = f"was killed by signal {signal.Signals(-code).name}"
        else:
            how = f"exited with code {code}"
        why = f"the Python process running the notebook {how} before the notebook finished"
        if current is not None:
            result.cells[current] = _synthetic_end(current, "crashed", why)
        result.status, result.message = "crashed", why


def _parse(line: bytes) -> dict | None:
    try:
        event = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    return event if isinstance(event, dict) else None


def _synthetic_end(index: int, status: str, message: str) -> dict:
    return {
        "event": "cell_end",
        "index": index,
        "status": status,
        "outputs": [{"output_type": "error", "ename": status.capitalize(), "evalue": message, "traceback": [message]}],
        "duration": None,
    }


def fresh_workdir(prefix: str = "autograder-run-") -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))


def remove_workdir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
