"""The parent side of a run: start the runner in a fresh process, watch it, collect its events.

The job (cells to run, mode) goes to the child on its standard input, never through a file, so no test
code lies on disk next to the submission. Events come back on a pipe as JSON lines; the parent parses
them as plain data, enforces the time limits from outside (a cell that ignores its in-process alarm is
killed), and kills the child's whole process group when the run ends, whatever the child started.
"""

from __future__ import annotations

import atexit
import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import autograder
from autograder import lifeline
from autograder.sandbox.confine import UID_BASE, Cgroup, Confinement, chown_tree, next_slot

#: How long after a cell's own timeout the parent waits before killing the process.
KILL_GRACE_SECONDS = 3.0
#: Bytes of events one run may send back (values of checks included) before it is stopped.
MAX_CHANNEL_BYTES = 512 * 1024 * 1024
#: How many times a run stopped from outside (killed, crashed, timed out) is resumed at the next cell.
MAX_RESUMES = 8


@dataclass
class Limits:
    """What one submission may use. Every limit can be switched off with 0."""

    cell_timeout: float = 60.0  # seconds per cell
    total_timeout: float = 600.0  # seconds for the whole submission, resumed runs included
    output_limit: int = 20000  # characters of stdout/stderr kept per cell (head and tail)
    # "cpu" (GPUs hidden) or "cuda" (the harness sets the determinism switches); "auto" only in a plan
    # shipped to a Dask cluster, where each worker resolves it for itself
    device: str = "cpu"
    memory: int = 4 * 2**30  # bytes (cgroup where available, else RLIMIT_DATA)
    processes: int = 256  # processes and threads (cgroup pids.max, else RLIMIT_NPROC)
    file_size: int = 256 * 2**20  # bytes per file the notebook writes (RLIMIT_FSIZE)
    isolation: str = "auto"  # auto | bwrap | none, see `autograder.sandbox.confine`

    def confinement(self) -> Confinement:
        return Confinement.detect(self.isolation)


@dataclass
class RunResult:
    cells: dict[int, dict] = field(default_factory=dict)  # cell index -> its cell_end event
    checks: list[tuple[int | None, dict]] = field(default_factory=list)  # (cell index, record)
    status: str = "ok"  # ok | crashed | timeout | error
    message: str = ""
    finished: bool = False  # the runner reached the end of the job
    duration: float = 0.0
    stderr_tail: str = ""
    resumed: int = 0  # how many times the run went on in a fresh process after one was stopped
    stopped_at: int | None = None  # internal: the cell during which the last attempt was stopped


_BOOTSTRAP = (
    "import os, sys\n"
    "course = {course!r}\n"
    "sys.path[:] = [p for p in sys.path if p and not (course and os.path.realpath(p).startswith(course))]\n"
    "sys.path.insert(0, {shim!r})\n"
    "{entry}\n"
)
_SPAWN_ENTRY = ("import json\nfrom autograder.sandbox.confine import confine_self\nconfine_self(json.loads(sys.argv[2]))\n"
                "from autograder.sandbox.runner import main; main(['-', sys.argv[1]])")
_WARM_ENTRY = "from autograder.sandbox.warm import main; main()"


def _bootstrap(entry: str, course_root: Path | None) -> str:
    course = str(course_root.resolve()) if course_root else ""
    return _BOOTSTRAP.format(course=course, shim=str(_Shim.path()), entry=entry)


class _Shim:
    """A directory holding only a link to this autograder package: the child imports it, nothing else of ours."""

    _path: Path | None = None
    _lock = threading.Lock()

    @classmethod
    def path(cls) -> Path:
        with cls._lock:  # workers start on several threads at once: one shim for all of them
            if cls._path is None or not cls._path.exists():
                directory = Path(tempfile.mkdtemp(prefix="autograder-shim-"))
                directory.chmod(0o755)
                (directory / "autograder").symlink_to(Path(autograder.__file__).resolve().parent)
                atexit.register(shutil.rmtree, directory, True)
                lifeline.adopt(directory)  # and if this process is killed
                cls._path = directory
            return cls._path

    @classmethod
    def remove(cls) -> None:
        with cls._lock:
            if cls._path is not None:
                shutil.rmtree(cls._path, ignore_errors=True)
                lifeline.forget(cls._path)
                cls._path = None

    @classmethod
    def readonly_paths(cls) -> list[Path]:
        """What a sandbox must see of ours: the shim and the package it links to (not the repository around it)."""
        return [cls.path(), Path(autograder.__file__).resolve().parent]


#: The home (and TMPDIR) of whatever runs in a directory: a run's, or a warm worker's in the scratch root.
HOME_DIR = ".home"

_scratch_root: Path | None = None
_scratch_lock = threading.RLock()
_scratch_users: set = set()  # warm workers of this process started (or starting) in the scratch root


def scratch_root() -> Path:
    """The directory all of this grader's runs work in; sandboxes see it, and only it, writable.

    Runs of different workers run as different uids and each working directory is 0700, so a run cannot
    read a concurrent run's directory; the root itself cannot be listed by runs.
    """
    global _scratch_root
    with _scratch_lock:  # grading threads start their workers at the same moment: one root for all of them
        if _scratch_root is None or not _scratch_root.is_dir():
            _scratch_root = Path(tempfile.mkdtemp(prefix="autograder-scratch-"))
            _scratch_root.chmod(0o711)
            atexit.register(shutil.rmtree, _scratch_root, True)
            lifeline.adopt(_scratch_root)
        return _scratch_root


def _use_scratch(user: object) -> Path:
    with _scratch_lock:
        _scratch_users.add(user)
        return scratch_root()


def _leave_scratch(user: object) -> None:
    with _scratch_lock:
        _scratch_users.discard(user)


def release_scratch() -> bool:
    """Remove this process's scratch root and package shim now if nothing of this process uses them: no
    warm worker started in them and no run's working directory left in the root. True if removed.

    A process that exits removes both anyway (atexit); this is for one that lives on after its batch and
    may never exit cleanly: a Dask worker, whose process its own shutdown can leave to a SIGKILL. The next
    batch makes new ones.
    """
    global _scratch_root
    with _scratch_lock:
        if _scratch_users:
            return False
        if _scratch_root is not None:
            if _scratch_root.is_dir() and any(entry.name != HOME_DIR for entry in _scratch_root.iterdir()):
                return False  # a run (a fresh interpreter, a reference) is working there
            shutil.rmtree(_scratch_root, ignore_errors=True)
            lifeline.forget(_scratch_root)
            _scratch_root = None
        _Shim.remove()
        return True


def child_environment(workdir: Path, device: str = "cpu", gpu: int | None = None) -> dict[str, str]:
    """A small, explicit environment: nothing of the grader's (database URLs, tokens) reaches the child.

    On "cpu" no GPU is visible; on "cuda" only the GPU this run holds (one run per GPU at a time), with
    TF32 off at the library level and cuBLAS in its deterministic workspace mode.
    """
    home = workdir / HOME_DIR
    home.mkdir(exist_ok=True)
    gpu_settings = {
        "CUDA_VISIBLE_DEVICES": "" if device != "cuda" else str(gpu if gpu is not None else 0),
        "NVIDIA_TF32_OVERRIDE": "0",
    }
    return gpu_settings | {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "TMPDIR": str(home),
        "USER": "student",  # the run's uid has no passwd entry; getpass.getuser() reads this
        "LOGNAME": "student",
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


def _confine_settings(confinement: Confinement, limits: Limits, uid: int | None, cgroup_dirs: list[str]) -> dict:
    return {
        "uid": uid,
        "cgroups": cgroup_dirs,
        "file_size": limits.file_size,
        "rlimit_memory": limits.memory if "memory" not in confinement.cgroup_roots else 0,
        "rlimit_processes": limits.processes if "pids" not in confinement.cgroup_roots else 0,
    }


def _set_cgroup_limits(cgroup: Cgroup | None, limits: Limits, baseline_tasks: int = 0) -> None:
    """A run's limits; ``baseline_tasks``: the warm process's own threads in the pids group, not the run's."""
    if cgroup is None:
        return
    if cgroup.memory is not None:
        value = str(limits.memory) if limits.memory else "-1"
        for name in ("memory.memsw.limit_in_bytes", "memory.limit_in_bytes", "memory.memsw.limit_in_bytes"):
            try:  # memsw must stay >= the plain limit: writing it on both sides of the plain one keeps that true
                (cgroup.memory / name).write_text(value)
            except OSError:
                pass
    if cgroup.pids is not None:
        (cgroup.pids / "pids.max").write_text(str(limits.processes + baseline_tasks) if limits.processes else "max")


def _cgroup_name(kind: str) -> str:
    return f"autograder-{os.getpid()}-{kind}-{next_slot()}-{time.monotonic_ns() % 10**9}"


class _Spawned:
    """A run in a fresh interpreter (no warm worker), inside its own bubblewrap sandbox where there is one."""

    def __init__(self, job_bytes: bytes, workdir: Path, env: dict, events_fd: int, stderr_fd: int, course_root: Path | None,
                 limits: Limits, confined: bool):
        confinement = limits.confinement() if confined else None
        self.cgroup: Cgroup | None = None
        self.sandboxed = bool(confinement and confinement.bwrap)
        command = [sys.executable, "-I", "-c", _bootstrap(_SPAWN_ENTRY, course_root), str(events_fd)]
        settings: dict = {}
        if confinement is not None:
            if confinement.cgroup_roots:
                self.cgroup = Cgroup.create(confinement.cgroup_roots, _cgroup_name("run"), limits.memory, limits.processes)
            uid = UID_BASE + 999 if confinement.separate_uid else None
            if uid is not None:
                chown_tree(workdir, uid)
            dirs = [] if self.cgroup is None else self.cgroup.seen_from(self.sandboxed)
            settings = _confine_settings(confinement, limits, uid, dirs) | {"workdir": str(workdir)}
            if self.sandboxed:
                command = confinement.bwrap_command(scratch_root(), self.cgroup, _Shim.readonly_paths()) + command
        command.append(json.dumps(settings))
        self.process = subprocess.Popen(
            command,
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
        return self._code(self.process.poll())

    def wait(self, timeout: float) -> int | None:
        try:
            return self._code(self.process.wait(timeout=timeout))
        except subprocess.TimeoutExpired:
            return None

    def _code(self, code: int | None) -> int | None:
        # bubblewrap reports a command killed by signal N as exit code 128 + N
        if code is not None and self.sandboxed and code > 128:
            return -(code - 128)
        return code

    def kill(self) -> None:
        # The group takes everything the notebook started; bubblewrap's death takes its whole pid namespace.
        for kill in (os.killpg, os.kill):
            try:
                kill(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self.cgroup is not None:
            self.cgroup.kill_all()
        self.process.wait(10)

    def finish(self) -> None:
        """After the notebook's end: let the runner exit, then take whatever it left running."""
        self.wait(5)
        self.kill()

    def release(self) -> None:
        if self.cgroup is not None:
            self.cgroup.remove()


class WarmWorker:
    """The parent's handle on one warm interpreter (see `autograder.sandbox.warm`); one run at a time.

    Where bubblewrap is available the warm interpreter itself lives in a sandbox that sees the scratch
    root as its only writable directory; each run it forks joins the worker's cgroup, takes the worker's
    uid and moves into its own working directory.
    """

    def __init__(self, preload: list[str] | tuple[str, ...] = (), course_root: Path | None = None):
        self.preload = [m for m in preload]
        self.course_root = course_root
        self.process: subprocess.Popen | None = None
        self.sock: socket.socket | None = None
        self._buffer = b""
        self.slot = next_slot()
        self.cgroup: Cgroup | None = None
        self.confinement: Confinement | None = None
        self.isolation: str | None = None
        self.scratch: Path | None = None
        self._cancelled = False
        self._process_lock = threading.Lock()
        self.in_cgroup = False  # the warm process joined the worker's cgroups (its runs are born in them)
        self.baseline_tasks = 0  # the warm process's own tasks in the pids cgroup

    @property
    def uid(self) -> int | None:
        return UID_BASE + self.slot if self.confinement and self.confinement.separate_uid else None

    def start(self, limits: Limits) -> None:
        """Start the warm interpreter now (it would start with the first run otherwise) and wait until it is ready."""
        if not self.alive():
            self._start(limits)

    def _start(self, limits: Limits) -> None:
        self.confinement = limits.confinement()
        self.isolation = limits.isolation
        if self.confinement.cgroup_roots and self.cgroup is None:
            self.cgroup = Cgroup.create(self.confinement.cgroup_roots, _cgroup_name(f"worker{self.slot}"), limits.memory, limits.processes)
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.scratch = _use_scratch(self)
        env = child_environment(self.scratch)
        command = [sys.executable, "-I", "-c", _bootstrap(_WARM_ENTRY, self.course_root), str(child.fileno()), ",".join(self.preload),
                   "sandboxed" if self.confinement.bwrap else "plain", json.dumps(self._cgroup_dirs())]
        if self.confinement.bwrap:
            # The warm process keeps CAP_DAC_OVERRIDE/CAP_FOWNER to clean /tmp between runs; its runs drop everything.
            command = self.confinement.bwrap_command(self.scratch, self.cgroup, _Shim.readonly_paths()) + [
                "--cap-add", "CAP_DAC_OVERRIDE", "--cap-add", "CAP_FOWNER"] + command
        with self._process_lock:
            if self._cancelled:
                child.close()
                parent.close()
                raise RuntimeError("the warm worker was cancelled before it started")
            self.process = subprocess.Popen(
                command,
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
        self.in_cgroup = bool(ready.get("in_cgroup"))
        self.baseline_tasks = self.cgroup.tasks() if self.in_cgroup and self.cgroup is not None else 0

    def _cgroup_dirs(self) -> list[str]:
        return [] if self.cgroup is None else self.cgroup.seen_from(bool(self.confinement.bwrap))

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

    def start_run(self, job_bytes: bytes, workdir: Path, env: dict, events_fd: int, stderr_fd: int, limits: Limits | None = None) -> "_Forked":
        limits = limits or Limits()
        if self.alive() and (limits.isolation != self.isolation or not Path(workdir).resolve().is_relative_to(self.scratch.resolve())):
            self.close()  # another isolation, or a working directory its sandbox cannot see
        if not self.alive():
            self._start(limits)
        _set_cgroup_limits(self.cgroup, limits, self.baseline_tasks)
        if self.uid is not None:
            chown_tree(workdir, self.uid)
        # A run forked from a warm process that is in the cgroups is born in them; joining them costs a run
        # a wait of its own (the kernel waits for an RCU grace period on every cgroup migration).
        cgroup_dirs = [] if self.in_cgroup else self._cgroup_dirs()
        settings = _confine_settings(self.confinement, limits, self.uid, cgroup_dirs)
        job_read, job_write = os.pipe()
        try:
            socket.send_fds(self.sock, [json.dumps({"workdir": str(workdir), "env": env, "confine": settings}).encode() + b"\n"],
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

    def cancel(self) -> None:
        """From another thread, while `start` may be waiting: stop the worker's start (it raises there);
        `close` stays for the thread that started it."""
        with self._process_lock:
            self._cancelled = True
            process = self.process
        if process is not None:
            try:
                os.killpg(process.pid, signal.SIGKILL)  # its end of the socket closes: `start` stops waiting
            except (ProcessLookupError, PermissionError):
                pass

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
        if self.cgroup is not None:
            self.cgroup.remove()
            self.cgroup = None
        _leave_scratch(self)


class _Forked:
    """A run forked from a warm worker; the warm process reaps it, kills what it left behind, reports its exit code.

    Its pid may be one of the sandbox's pid namespace: the parent never signals it directly, it asks the
    warm process (and, if that does not answer, kills the whole worker).
    """

    def __init__(self, worker: WarmWorker, pid: int):
        self.worker, self.pid = worker, pid
        self.code: int | None = None
        self.cgroup = worker.cgroup

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

    def kill(self) -> None:
        if self.code is not None:
            return
        try:
            self.worker.sock.sendall(b'{"kill": true}\n')
        except (OSError, AttributeError):
            pass
        if self.wait(10) is None:
            self.worker.close()  # the warm process did not answer: its whole sandbox goes
            self.code = -signal.SIGKILL

    def finish(self) -> None:
        """After the notebook's end: the warm process reaps the runner and kills what it left running."""
        if self.wait(5) is None:
            self.kill()

    def release(self) -> None:
        pass


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

    With a `WarmWorker` the process is forked from it; otherwise a fresh interpreter is started. Every run
    but the trusted reference pass (mode "reference", which imports solutions/) is confined (see
    `autograder.sandbox.confine`).

    A process stopped from outside in the middle of a cell (killed, crashed, out of time or memory) costs
    that cell: the cells after it run in a fresh process that first replays, silently, the earlier
    non-test cells that succeeded, so later questions are still graded. The whole-submission budget
    covers every attempt; test cells are never replayed, so no check is recorded twice.
    """
    env = env if env is not None else child_environment(workdir, limits.device)
    started = time.monotonic()
    result = RunResult()
    cells = list(job["cells"])
    tests = {c["index"] for c in cells if c.get("harness_exec")}
    pending, replay = cells, []
    try:
        while True:
            attempt = _run_attempt(job, replay + pending, {c["index"] for c in replay}, workdir, env, limits, course_root,
                                   worker, started, result)
            if attempt.finished or attempt.stopped_at is None or attempt.status not in ("crashed", "timeout"):
                break
            if result.resumed >= MAX_RESUMES or (limits.total_timeout and time.monotonic() - started >= limits.total_timeout):
                break
            position = next((i for i, c in enumerate(pending) if c["index"] == attempt.stopped_at), None)
            if position is None:  # stopped inside a replayed cell: it behaves differently now, give up
                result.message += "; the rest of the notebook could not be resumed (a replayed cell failed)"
                break
            done = pending[:position]
            replay = replay + [c for c in done if c["index"] not in tests and result.cells.get(c["index"], {}).get("status") == "ok"]
            pending = pending[position + 1:]
            if not pending:
                break
            result.resumed += 1
    finally:
        result.duration = time.monotonic() - started
    if result.resumed and result.finished:
        result.message += f"; the cells after it ran in a fresh process (earlier cells replayed{'' if result.resumed == 1 else f', {result.resumed} times'})"
    return result


def _run_attempt(job: dict, cells: list[dict], silent: set[int], workdir: Path, env: dict, limits: Limits,
                 course_root: Path | None, worker: WarmWorker | None, started: float, result: RunResult) -> RunResult:
    """One process: run ``cells`` (``silent`` ones are replays whose events are ignored); merge into ``result``."""
    confined = job.get("mode") != "reference"
    if confined and limits.confinement().bwrap and not Path(workdir).resolve().is_relative_to(scratch_root().resolve()):
        raise ValueError(f"{workdir} is outside the scratch root the sandbox sees: make working directories with fresh_workdir()")
    attempt_job = dict(job, cells=cells, cell_timeout=limits.cell_timeout, output_limit=limits.output_limit, device=limits.device)
    job_bytes = json.dumps(attempt_job).encode("utf-8")
    read_fd, write_fd = os.pipe()
    stderr_file = tempfile.TemporaryFile()
    attempt = RunResult()
    try:
        if worker is not None and confined:
            process = worker.start_run(job_bytes, workdir, env, write_fd, stderr_file.fileno(), limits)
        else:
            process = _Spawned(job_bytes, workdir, env, write_fd, stderr_file.fileno(), course_root, limits, confined)
    except BaseException:
        os.close(read_fd)
        stderr_file.close()
        raise
    finally:
        os.close(write_fd)
    oom_before = process.cgroup.oom_kills() if process.cgroup is not None else 0
    try:
        _watch(process, read_fd, limits, attempt, started, [c["index"] for c in cells], silent, oom_before)
    finally:
        os.close(read_fd)
        if attempt.finished:
            process.finish()
        else:
            process.kill()
        process.release()
        stderr_file.seek(0, os.SEEK_END)
        size = stderr_file.tell()
        stderr_file.seek(max(0, size - 4000))
        attempt.stderr_tail = stderr_file.read().decode("utf-8", "replace")
        stderr_file.close()
    if attempt.message.endswith("exited with code 70 before the notebook finished") and attempt.stderr_tail.strip():
        # 70: the harness itself failed before or between cells; its last words tell the grader why
        attempt.message += f" (the harness said: {attempt.stderr_tail.strip().splitlines()[-1][:300]})"
    result.cells.update(attempt.cells)
    result.checks.extend(attempt.checks)
    result.finished = attempt.finished
    result.stderr_tail = attempt.stderr_tail
    if attempt.status != "ok" and result.status == "ok":
        result.status, result.message = attempt.status, attempt.message
    elif attempt.status != "ok" and attempt.message not in result.message:
        result.message += f"; {attempt.message}"
    return attempt


def _watch(process, read_fd: int, limits: Limits, result: RunResult, started: float, order: list[int],
           silent: set[int], oom_before: int = 0) -> None:
    """Read the run's events, trusting only what fits the job: each cell in job order, started once, ended
    once, its checks between the two. Anything else (a notebook writing on the channel itself, a forked
    copy of the runner) stops the run and is reported."""
    selector = selectors.DefaultSelector()
    selector.register(read_fd, selectors.EVENT_READ)
    buffer = b""
    received = 0
    position = 0  # the next cell in `order` that may start
    current: int | None = None
    cell_started = started
    while not result.finished:
        deadlines = []
        if current is not None and limits.cell_timeout > 0:
            deadlines.append((cell_started + limits.cell_timeout + KILL_GRACE_SECONDS,
                              f"the cell ran longer than {limits.cell_timeout:g} s and was stopped", True))
        if limits.total_timeout > 0:
            deadlines.append((started + limits.total_timeout, f"the submission used up its {limits.total_timeout:g} s budget", False))
        if deadlines:
            deadline, why, resumable = min(deadlines)
            if time.monotonic() >= deadline:
                process.kill()
                if current is not None and current not in silent:
                    result.cells[current] = _synthetic_end(current, "timeout", why)
                result.status, result.message = "timeout", why
                result.stopped_at = current if resumable else None
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
            process.kill()
            result.status, result.message = "error", "the submission sent back more data than the grader accepts"
            return
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            event = _parse(line)
            kind = event.get("event") if event else None
            index = event.get("index") if event else None
            if kind == "start" and current is None and position == 0:
                continue
            if kind == "cell_start" and current is None and position < len(order) and index == order[position]:
                current, cell_started = index, time.monotonic()
            elif kind == "check" and current is not None and index == current and isinstance(event.get("record"), dict):
                if current not in silent:
                    result.checks.append((index, event["record"]))
            elif kind == "cell_end" and current is not None and index == current:
                if current not in silent:
                    result.cells[current] = event
                current = None
                position += 1
            elif kind == "done" and current is None and position == len(order):
                result.finished = True
            else:
                # Only the notebook writing on the channel itself gets here, and whatever it wrote before may be
                # forged too: nothing of this attempt counts.
                process.kill()
                what = (line[:80].decode("utf-8", "replace") + "...") if len(line) > 80 else line.decode("utf-8", "replace")
                why = f"the notebook wrote on the grader's channel (an event out of order: {what}); nothing it reported counts"
                result.cells = {index: _synthetic_end(index, "error", why) for index in order if index not in silent}
                result.checks.clear()
                result.status, result.message = "error", why
                result.stopped_at = None
                return
    if not result.finished:
        code = process.wait(5)
        if code is not None and code == -signal.SIGKILL and process.cgroup is not None and process.cgroup.oom_kills() > oom_before:
            how = f"was stopped for using more than {limits.memory / 2**30:g} GiB of memory"
        elif code is not None and code < 0:
            how = f"was killed by signal {signal.Signals(-code).name}"
        else:
            how = f"exited with code {code}"
        why = f"the Python process running the notebook {how} before the notebook finished"
        if current is not None and current not in silent:
            result.cells[current] = _synthetic_end(current, "crashed", why)
        result.status, result.message = "crashed", why
        result.stopped_at = current


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
    with _scratch_lock:  # made in the same breath as the root is looked up: `release_scratch` sees it
        return Path(tempfile.mkdtemp(prefix=prefix, dir=scratch_root()))


def remove_workdir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
