"""A run in a fresh interpreter (``python -I``), for runs without a warm interpreter: the trusted reference
pass, and runs started one at a time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from autograder.sandbox.confine import UID_BASE, Cgroup, chown_tree, cgroup_name, confine_settings
from autograder.sandbox.limits import Limits
from autograder.sandbox.scratch import SPAWN_ENTRY, Shim, bootstrap, scratch_root
from autograder.sandbox.warm import close_job_pipe, write_all


class Spawned:
    """A run in a fresh interpreter (no warm worker), inside its own bubblewrap sandbox where there is one."""

    def __init__(self, header: bytes, workdir: Path, env: dict, events_fd: int, stderr_fd: int, course_root: Path | None,
                 limits: Limits, confined: bool):
        """Start the run; ``header`` (the job without its cells) goes on its stdin, whose write end it keeps
        (``job_fd``) for the cells, sent one at a time by `autograder.sandbox.launch`."""
        confinement = limits.confinement() if confined else None
        self.cgroup: Cgroup | None = None
        self.sandboxed = bool(confinement and confinement.bwrap)
        command = [sys.executable, "-I", "-c", bootstrap(SPAWN_ENTRY), str(events_fd)]
        settings: dict = {}
        if confinement is not None:
            if confinement.cgroup_roots:
                self.cgroup = Cgroup.create(confinement.cgroup_roots, cgroup_name("run"), limits.memory, limits.processes)
            uid = UID_BASE + 999 if confinement.separate_uid else None
            if uid is not None:
                chown_tree(workdir, uid)
            dirs = [] if self.cgroup is None else self.cgroup.seen_from(self.sandboxed)
            settings = confine_settings(confinement, limits, uid, dirs) | {"workdir": str(workdir)}
            if self.sandboxed:
                command = confinement.bwrap_command(scratch_root(), self.cgroup, Shim.readonly_paths()) + command
        command.append(json.dumps(settings))
        job_read, self.job_fd = os.pipe()
        try:
            self.process = subprocess.Popen(
                command,
                cwd=workdir,
                env=env,
                stdin=job_read,
                stdout=subprocess.DEVNULL,
                stderr=stderr_fd,
                pass_fds=(events_fd,),
                start_new_session=True,
            )
        except BaseException:
            close_job_pipe(self)
            raise
        finally:
            os.close(job_read)
        self.pid = self.process.pid
        write_all(self.job_fd, header)

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
        close_job_pipe(self)
        if self.cgroup is not None:
            self.cgroup.remove()
