"""A warm worker: one interpreter per grading worker that has imported the course's heavy libraries
(IPython, NumPy, pandas, torch...) once, and forks a fresh child for every run.

Start-up (a Python interpreter, IPython, torch) is paid once per worker instead of once per
submission. Isolation is kept: the warm process never runs notebook or reference code itself; every run
happens in a forked child that starts from the same pristine state, in its own session (process group),
working directory and environment, and is killed with its whole group when the run ends.

Protocol over a Unix socket pair (parent <-> warm process), one run at a time:

    parent -> warm : {"workdir": ..., "env": {...}} with three file descriptors attached
                     (job read end, events write end, stderr write end); the job itself goes from the
                     parent straight to the forked run on the job pipe, cell by cell, never through
                     the warm process (whose memory every later run would inherit)
    warm -> parent : {"pid": N}           the child started
    parent -> warm : {"kill": true}      stop the run now (a time limit): it and everything it started
    warm -> parent : {"exit": N, "code": C}  the child ended (code < 0: killed by signal -C), and every
                                         process it started is gone (the warm process is their subreaper)

Inside bubblewrap the pids are those of the sandbox's pid namespace: the parent never signals them itself.

Fork hazard: a process that ran intra-op-parallel torch work cannot fork safely (OpenMP does not
survive fork), so the warm process sets torch to one thread right after importing it and runs nothing.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import select
import shutil
import signal
import socket
import sys
import traceback


def _send(sock: socket.socket, message: dict, fds: list[int] | None = None) -> None:
    data = json.dumps(message).encode("utf-8") + b"\n"
    if fds:
        socket.send_fds(sock, [data], fds)
    else:
        sock.sendall(data)


def serve(sock_fd: int, preload: list[str], sandboxed: bool = False, cgroups: list[str] | None = None) -> None:
    """The warm process's main loop (runs in the warm interpreter, started by `WarmInterpreter`)."""
    sock = socket.socket(fileno=sock_fd)
    os.environ.setdefault("MPLBACKEND", "Agg")
    # No cyclic garbage collection while importing: importing torch and torch._dynamo creates some 350,000
    # objects, and the full collections that triggers took 0.6-0.8 s of a 4-5 s start (about 10,000 garbage
    # objects are left, frozen with the rest below).
    gc.disable()
    import IPython.core.interactiveshell  # noqa: F401 - imported for the children
    import autograder.sandbox.inside.runner  # noqa: F401
    import autograder.sandbox.inside.confine  # noqa: F401
    import autograder.sandbox.inside.checks  # noqa: F401

    for name in preload:
        try:
            importlib.import_module(name)
        except Exception:  # a library that fails to import fails in the child, with the student's traceback
            continue
        if name == "torch":
            torch = sys.modules["torch"]
            torch.set_num_threads(1)  # see the fork hazard in the module docstring
    if "matplotlib" in sys.modules:
        import matplotlib.pyplot  # noqa: F401 - the pyplot import is the slow part
    autograder.sandbox.inside.runner.make_shell()  # a pristine shell every forked run starts from
    _become_subreaper()
    # Everything imported so far is shared with every run copy-on-write; the cyclic garbage collector of
    # a run would walk (and so write to, and copy) all of it. Frozen, it walks only what the run creates,
    # and runs inherit a collector that is on again.
    gc.freeze()
    gc.enable()
    # Into the worker's cgroups, after the imports: what the warm process holds stays charged where it was
    # made, and every run it forks is born in the groups, limited by them, with no migration of its own.
    in_cgroup = False
    if cgroups:
        try:
            autograder.sandbox.inside.confine.join_cgroups(cgroups)
            in_cgroup = True
        except OSError:
            pass  # each run joins them itself (and reports why it cannot)

    _send(sock, {"ready": os.getpid(), "in_cgroup": in_cgroup})
    messages = _Messages(sock)
    while True:
        request, fds = messages.next()
        if request is None:
            return  # the parent went away
        if "workdir" not in request:  # e.g. a late kill request for a run that has already ended
            for fd in fds:
                os.close(fd)
            continue
        if len(fds) != 3:
            for fd in fds:
                os.close(fd)
            _send(sock, {"error": "a run needs three file descriptors"})
            continue
        job_fd, events_fd, stderr_fd = fds
        pid = os.fork()
        if pid == 0:  # the child: becomes one run
            try:
                sock.close()
                _become_run(request, job_fd, events_fd, stderr_fd)
            except BaseException:
                traceback.print_exc()  # on the run's stderr: the parent reports its last line
            finally:
                os._exit(70)
        for fd in fds:
            os.close(fd)
        _send(sock, {"pid": pid})
        code = _supervise(pid, messages, sandboxed)
        if code is None:
            kill_descendants()
            return
        left = remove_leftovers((request.get("confine") or {}).get("uid"), sandboxed) if request.get("clean", True) else {}
        _send(sock, {"exit": pid, "code": code, "removed": left})


class _Messages:
    """JSON lines from the parent, with the file descriptors that came with them."""

    def __init__(self, sock: socket.socket):
        self.sock, self.buffer, self.fds = sock, b"", []

    def ready(self) -> bool:
        return b"\n" in self.buffer

    def next(self) -> tuple[dict | None, list[int]]:
        while b"\n" not in self.buffer:
            try:
                data, fds, _flags, _addr = socket.recv_fds(self.sock, 1 << 16, 3)
            except OSError:
                return None, []
            self.fds.extend(fds)
            if not data:
                return None, []
            self.buffer += data
        line, self.buffer = self.buffer.split(b"\n", 1)
        fds, self.fds = self.fds, []
        return json.loads(line), fds


def _supervise(pid: int, messages: _Messages, sandboxed: bool) -> int | None:
    """Wait for the run to end (or for the parent to ask for its end); then kill everything it left behind.

    Returns its exit code (negative: killed by that signal), or None when the parent went away.
    """
    pidfd = os.pidfd_open(pid)
    code = None
    try:
        while code is None:
            if not messages.ready():
                readable, _, _ = select.select([messages.sock, pidfd], [], [])
            else:
                readable = [messages.sock]
            if messages.sock in readable:
                request, fds = messages.next()
                for fd in fds:
                    os.close(fd)
                if request is None:
                    return None
                if request.get("kill"):
                    code = kill_descendants(pid)
                continue
            _, status = os.waitpid(pid, 0)
            code = os.waitstatus_to_exitcode(status)
    finally:
        os.close(pidfd)
    kill_descendants()
    return code


def _become_subreaper() -> None:
    """Orphans of a run (a daemon, a double fork, a `setsid`) become this process's children, so they can be killed."""
    from autograder.sandbox.inside.confine import prctl_on

    prctl_on(36)  # PR_SET_CHILD_SUBREAPER


def _children() -> list[int]:
    me = str(os.getpid())
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if fields[1].decode() == me:
            found.append(int(entry))
    return found


def kill_descendants(run_pid: int | None = None) -> int | None:
    """SIGKILL every child of this process, and the orphans that then fall to it, until there are none.

    Returns the exit code of ``run_pid`` when it is among those reaped here.
    """
    code = None
    for _ in range(10000):
        children = _children()
        if not children:
            break
        for child in children:
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for child in children:
            try:
                _, status = os.waitpid(child, 0)
            except ChildProcessError:
                continue
            if child == run_pid:
                code = os.waitstatus_to_exitcode(status)
    return code


def _clean_shared_directories() -> None:
    """Inside the sandbox /tmp and /dev/shm are this worker's own: empty them so the next student finds nothing."""
    for directory in ("/tmp", "/dev/shm"):
        try:
            entries = os.listdir(directory)
        except OSError:
            continue
        for name in entries:
            path = os.path.join(directory, name)
            if os.path.ismount(path):  # the scratch root and the package shim are bound here: not the run's
                continue
            try:
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    os.unlink(path)
            except OSError:
                pass


#: /proc/sysvipc/<kind>: the column naming the object's id, and the ctl function that removes it.
_SYSV_KINDS = {"shm": "shmid", "sem": "semid", "msg": "msqid"}
_IPC_RMID = 0


def _sysv_objects(kind: str) -> list[tuple[int, int, int]]:
    """(id, owner uid, creator uid) of every System V object of ``kind`` in this IPC namespace."""
    try:
        with open(f"/proc/sysvipc/{kind}") as handle:
            header, *rows = handle.read().splitlines()
    except (OSError, ValueError):
        return []
    names = header.split()
    column, uid, cuid = names.index(_SYSV_KINDS[kind]), names.index("uid"), names.index("cuid")
    found = []
    for row in rows:
        fields = row.split()
        try:
            found.append((int(fields[column]), int(fields[uid]), int(fields[cuid])))
        except (IndexError, ValueError):
            continue
    return found


def _remove_sysv(kind: str, ident: int, owner: int) -> bool:
    """IPC_RMID one object. Only its owner, its creator or CAP_SYS_ADMIN may; the sandboxed warm process
    has no CAP_SYS_ADMIN, so it takes the owner's uid as its effective uid for the call and then root back."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    switch = os.geteuid() == 0 and owner != 0
    if switch:
        os.seteuid(owner)
    try:
        if kind == "shm":
            done = libc.shmctl(ident, _IPC_RMID, None)
        elif kind == "sem":
            done = libc.semctl(ident, 0, _IPC_RMID)
        else:
            done = libc.msgctl(ident, _IPC_RMID, None)
    finally:
        if switch:
            os.seteuid(0)
    return done == 0


def remove_leftovers(uid: int | None, sandboxed: bool) -> dict[str, int]:
    """After a run and everything it started are gone: remove what it made that would outlive it.

    System V shared memory, semaphores and message queues are not freed when their creator exits, and a
    segment stays charged to the worker's memory cgroup, where it counts against every later run. In the
    sandbox the IPC namespace is this worker's own (bubblewrap's --unshare-ipc) and the warm process makes
    none: every object is a run's. Outside it, a run with a uid of its own (62000 + slot) owns what it
    made; with the grader's uid there is no telling a run's object from the grader's, and nothing is
    removed (the memory check of `WarmInterpreter` still recycles a worker whose cgroup stays charged).
    Files a run left in /tmp and /dev/shm: emptied in the sandbox (private to the worker); outside it,
    those owned by the run's uid. Returns what was removed, by kind (empty when nothing was: the common case).
    """
    removed: dict[str, int] = {}
    if not sandboxed and uid is None:
        return removed
    for kind in _SYSV_KINDS:
        for ident, owner, creator in _sysv_objects(kind):
            if sandboxed or uid in (owner, creator):
                try:
                    if _remove_sysv(kind, ident, owner if owner != 0 or creator == 0 else creator):
                        removed[kind] = removed.get(kind, 0) + 1
                except OSError:
                    pass
    if sandboxed:
        _clean_shared_directories()
    else:
        for directory in ("/tmp", "/dev/shm"):
            removed_files = _remove_owned_by(directory, uid)
            if removed_files:
                removed[directory] = removed_files
    return removed


def _remove_owned_by(directory: str, uid: int) -> int:
    """Remove the entries of ``directory`` (not below) that belong to ``uid``; how many."""
    count = 0
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return 0
    for entry in entries:
        try:
            if entry.stat(follow_symlinks=False).st_uid != uid:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)
            count += 1
        except OSError:
            continue
    return count


def _become_run(request: dict, job_fd: int, events_fd: int, stderr_fd: int) -> None:
    os.setsid()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
        signal.signal(signum, signal.SIG_DFL)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.dup2(stderr_fd, 2)
    os.close(devnull)
    os.close(stderr_fd)
    from autograder.sandbox.inside.confine import confine_self

    confine_self(request.get("confine") or {})
    os.chdir(request["workdir"])
    os.environ.clear()
    os.environ.update(request["env"])
    import tempfile

    tempfile.tempdir = None  # the warm process may have cached its own TMPDIR: the run's is found again from the run's
    from autograder.sandbox.inside.runner import run_forked

    run_forked(job_fd, events_fd)  # the job arrives on job_fd one cell at a time; this process never held it


def main() -> None:
    """Entry point of the warm interpreter: ``<bootstrap> SOCKET_FD MODULE,MODULE,... sandboxed|plain CGROUPS_JSON``."""
    sock_fd = int(sys.argv[1])
    preload = [m for m in sys.argv[2].split(",") if m] if len(sys.argv) > 2 else []
    cgroups = json.loads(sys.argv[4]) if len(sys.argv) > 4 else []
    serve(sock_fd, preload, sandboxed=len(sys.argv) > 3 and sys.argv[3] == "sandboxed", cgroups=cgroups)
