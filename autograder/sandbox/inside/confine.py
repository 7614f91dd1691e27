"""The child half of confinement: what a run (or a warm worker) does to itself before any notebook code.

The host half (`autograder.sandbox.confine`) decides the settings; this module only applies them, inside
the process that will run student code, so it imports nothing but the standard library.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal


def confine_self(settings: dict) -> None:
    """Called in the run's own process before any notebook code: join the cgroup, set rlimits, drop root.

    ``settings``: ``uid`` (or None), ``cgroup`` (in-sandbox or host directories to join), ``memory``,
    ``processes``, ``file_size`` (0 = none), ``rlimit_memory`` / ``rlimit_processes`` (when no cgroup).
    """
    join_cgroups(settings.get("cgroups", []))
    _prefer_for_oom_kill()
    limits = []
    if settings.get("file_size"):
        limits.append((resource.RLIMIT_FSIZE, settings["file_size"]))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write fails with EFBIG instead of killing
    if settings.get("rlimit_memory"):
        limits.append((resource.RLIMIT_DATA, settings["rlimit_memory"]))
    if settings.get("rlimit_processes"):
        limits.append((resource.RLIMIT_NPROC, settings["rlimit_processes"]))
    limits.append((resource.RLIMIT_CORE, 0))
    # POSIX message queues (mq_open) outlive their creator and cannot be listed without mounting the mqueue
    # filesystem; no notebook needs one: a run may create none (mq_open fails with EMFILE).
    limits.append((resource.RLIMIT_MSGQUEUE, 0))
    for which, value in limits:
        soft, hard = resource.getrlimit(which)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(which, (value, value))
    _own_ipc_namespace()
    _no_new_privileges()
    uid = settings.get("uid")
    if uid is not None and os.geteuid() == 0:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)  # all uids non-zero: every capability is gone
    if settings.get("workdir"):
        os.chdir(settings["workdir"])  # as the run's uid: the directory is 0700 and the sandbox has no CAP_DAC_OVERRIDE


def join_cgroups(directories: list[str]) -> None:
    """Move this process into each cgroup directory (memory, pids); the children it forks are born in them."""
    for directory in directories:
        with open(os.path.join(directory, "cgroup.procs"), "w") as handle:
            handle.write(str(os.getpid()))


def _prefer_for_oom_kill() -> None:
    """When memory runs out, the kernel kills this run (and what it starts) before the warm worker it was
    forked from, even where the run is many small processes: any process may raise its own score."""
    try:
        with open("/proc/self/oom_score_adj", "w") as handle:
            handle.write("500")
    except OSError:
        pass


def prctl_on(option: int) -> None:
    """``prctl(option, 1)`` on this process, where the C library offers it (best effort)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(option, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _no_new_privileges() -> None:
    prctl_on(38)  # PR_SET_NO_NEW_PRIVS


def _own_ipc_namespace() -> None:
    """A System V IPC namespace of the run's own, where this process may make one (root outside bubblewrap):
    the kernel removes every segment, semaphore set and message queue in it when the run's last process
    exits. In bubblewrap the warm process has no CAP_SYS_ADMIN: its runs share the worker's IPC namespace,
    and the warm process removes what a run made there (`autograder.sandbox.inside.warm.remove_leftovers`)."""
    try:
        ctypes.CDLL(None, use_errno=True).unshare(_CLONE_NEWIPC)  # os.unshare is Python 3.12's
    except (OSError, AttributeError):
        pass


_CLONE_NEWIPC = 0x08000000
