"""The parent's handle on one warm interpreter (`WarmInterpreter`) and on a run forked from it (`Forked`).

A warm interpreter (its own code: `autograder.sandbox.inside.warm`) imported IPython and the course's heavy
libraries once; each run is a child it forks. Words used across the package: a *warm interpreter* is that
process (this handle), a *pool* (`autograder.sandbox.pool`) holds one per grading thread, *grading threads*
are the coordinator's threads that each watch one run at a time, and *Dask workers* are the machines of a
cluster (`autograder.grading.cluster`).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from autograder.sandbox.confine import UID_BASE, Cgroup, Confinement, chown_tree, cgroup_name, confine_settings, next_slot, set_cgroup_limits
from autograder.sandbox.limits import Limits
from autograder.sandbox.scratch import WARM_ENTRY, Shim, bootstrap, child_environment, leave_scratch, use_scratch


#: How far above its idle level a worker's memory cgroup may stay after a run (what the kernel cannot
#: reclaim: see `Cgroup.held_bytes`) before the worker is recycled: a run that left memory charged there
#: (a System V segment nobody could remove, a file in a shared tmpfs) would count against every later run.
MEMORY_TOLERANCE_BYTES = 64 * 2**20
#: How long a check waits for memory the kernel frees after a run asynchronously (an IPC namespace).
MEMORY_SETTLE_SECONDS = 1.0


def write_all(fd: int, data: bytes) -> None:
    """Write ``data`` whole on a blocking pipe; a run that is gone already is not an error here."""
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view):]
    except BrokenPipeError:
        pass


def close_job_pipe(run) -> None:
    if run.job_fd is not None:
        try:
            os.close(run.job_fd)
        except OSError:
            pass
        run.job_fd = None


class WarmInterpreter:
    """The parent's handle on one warm interpreter (see `autograder.sandbox.inside.warm`); one run at a time.

    Where bubblewrap is available the warm interpreter itself lives in a sandbox that sees the scratch
    root as its only writable directory; each run it forks joins the worker's cgroup, takes the worker's
    uid and moves into its own working directory.
    """

    #: The warm process removes what a run left (IPC objects, shared files); tests turn it off to see the net below.
    clean_leftovers = True
    #: A worker whose cgroup stays charged after a run is restarted before the next; tests turn it off too.
    recycle_when_dirty = True

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
        self.baseline_memory_bytes = 0  # what the memory cgroup held when the warm process was ready (`Cgroup.held_bytes`)
        self.recycled = 0  # how many times this handle restarted its warm process for that reason
        self.hurt: str | None = None  # why a run was hurt by what an earlier run left (see `after_run`); reset by its reader

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
            self.cgroup = Cgroup.create(self.confinement.cgroup_roots, cgroup_name(f"worker{self.slot}"), limits.memory, limits.processes)
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.scratch = use_scratch(self)
        env = child_environment(self.scratch)
        command = [sys.executable, "-I", "-c", bootstrap(WARM_ENTRY), str(child.fileno()), ",".join(self.preload),
                   "sandboxed" if self.confinement.bwrap else "plain", json.dumps(self._cgroup_dirs())]
        if self.confinement.bwrap:
            # The warm process keeps CAP_DAC_OVERRIDE/CAP_FOWNER to clean /tmp between runs; its runs drop everything.
            command = self.confinement.bwrap_command(self.scratch, self.cgroup, Shim.readonly_paths()) + [
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
        self.baseline_memory_bytes = (self.cgroup.held_bytes() or 0) if self.cgroup is not None else 0

    def memory_excess_bytes(self, settle: float = 0.0) -> int:
        """How much more than at its start the worker's memory cgroup holds now (0 without one); waits up to
        ``settle`` seconds for it to come down within `MEMORY_TOLERANCE_BYTES`."""
        if self.cgroup is None or not self.in_cgroup:
            return 0
        deadline = time.monotonic() + settle
        while True:
            held = self.cgroup.held_bytes()
            excess = 0 if held is None else max(0, held - self.baseline_memory_bytes)
            if excess <= MEMORY_TOLERANCE_BYTES or time.monotonic() >= deadline:
                return excess
            time.sleep(0.05)

    def after_run(self, run: "Forked") -> None:
        """After a run, its processes reaped and its leftovers removed: is the cgroup back near its start?

        If not, the warm process is restarted (a new cgroup too) before the next run. If the run was killed for
        memory while the cgroup held more than its start before the run, or still does after it, the run
        may have paid for someone else's memory: `hurt` says so, and the caller grades it again.
        """
        if self.cgroup is None or self.cgroup.memory is None or not self.in_cgroup:
            return
        excess = self.memory_excess_bytes(settle=MEMORY_SETTLE_SECONDS)
        if self.cgroup.oom_kills() > run.oom_before and max(run.excess_before, excess) > MEMORY_TOLERANCE_BYTES:
            self.hurt = (f"killed for memory while the worker's cgroup held {max(run.excess_before, excess) / 2**20:.0f} MiB "
                         f"more than when it started")
        if excess > MEMORY_TOLERANCE_BYTES and self.recycle_when_dirty:
            self.recycled += 1
            self.close()

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

    def start_run(self, header: bytes, workdir: Path, env: dict, events_fd: int, stderr_fd: int, limits: Limits | None = None) -> "Forked":
        """Fork a run; ``header`` (the job without its cells) is written on its job pipe, whose write end
        the returned run keeps (``job_fd``) for the cells, sent one at a time by `autograder.sandbox.launch`."""
        limits = limits or Limits()
        if self.alive() and (limits.isolation != self.isolation or not Path(workdir).resolve().is_relative_to(self.scratch.resolve())):
            self.close()  # another isolation, or a working directory its sandbox cannot see
        if not self.alive():
            self._start(limits)
        excess_before = self.memory_excess_bytes()
        if excess_before > MEMORY_TOLERANCE_BYTES and self.recycle_when_dirty:
            self.recycled += 1  # charged by something no run should have left: start this run on a fresh one
            self.close()
            self._start(limits)
            excess_before = self.memory_excess_bytes()
        set_cgroup_limits(self.cgroup, limits, self.baseline_tasks)
        if self.uid is not None:
            chown_tree(workdir, self.uid)
        # A run forked from a warm process that is in the cgroups is born in them; joining them costs a run
        # a wait of its own (the kernel waits for an RCU grace period on every cgroup migration).
        cgroup_dirs = [] if self.in_cgroup else self._cgroup_dirs()
        settings = confine_settings(self.confinement, limits, self.uid, cgroup_dirs)
        job_read, job_write = os.pipe()
        try:
            socket.send_fds(self.sock, [json.dumps({"workdir": str(workdir), "env": env, "confine": settings,
                                                    "clean": self.clean_leftovers}).encode() + b"\n"],
                            [job_read, events_fd, stderr_fd])
        finally:
            os.close(job_read)
        started = self._receive(timeout=60)
        if not started or "pid" not in started:
            os.close(job_write)
            self.close()
            raise RuntimeError(f"the warm worker could not start a run: {started}")
        run = Forked(self, started["pid"], job_write)
        run.excess_before = excess_before
        write_all(job_write, header)
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
        leave_scratch(self)


class Forked:
    """A run forked from a warm worker; the warm process reaps it, kills what it left behind, reports its exit code.

    Its pid may be one of the sandbox's pid namespace: the parent never signals it directly, it asks the
    warm process (and, if that does not answer, kills the whole worker).
    """

    def __init__(self, worker: WarmInterpreter, pid: int, job_fd: int):
        self.worker, self.pid = worker, pid
        self.job_fd = job_fd  # the write end of the run's job pipe; closed by `release`
        self.code: int | None = None
        self.cgroup = worker.cgroup
        self.oom_before = self.cgroup.oom_kills() if self.cgroup is not None else 0
        self.excess_before = 0  # what the worker's memory cgroup held above its start when the run began
        self.removed: dict = {}  # what the warm process removed after the run (IPC objects, files), by kind

    def poll(self) -> int | None:
        return self.wait(0.0)

    def wait(self, timeout: float) -> int | None:
        if self.code is None:
            message = self.worker._receive(timeout=timeout)
            if message and "exit" in message:
                self.code = int(message["code"])
                self.removed = message.get("removed") or {}
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
        close_job_pipe(self)
        if self.code is not None and self.worker.cgroup is self.cgroup:
            self.worker.after_run(self)
