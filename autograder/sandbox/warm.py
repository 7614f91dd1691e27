"""A warm worker: one interpreter per grading worker that has imported the course's heavy libraries
(IPython, NumPy, pandas, torch...) once, and forks a fresh child for every run.

Start-up (a Python interpreter, IPython, torch) is paid once per worker instead of once per
submission. Isolation is kept: the warm process never runs notebook or reference code itself; every run
happens in a forked child that starts from the same pristine state, in its own session (process group),
working directory and environment, and is killed with its whole group when the run ends.

Protocol over a Unix socket pair (parent <-> warm process), one run at a time:

    parent -> warm : {"workdir": ..., "env": {...}} with three file descriptors attached
                     (job read end, events write end, stderr write end)
    warm -> parent : {"pid": N}           the child started
    warm -> parent : {"exit": N, "code": C}  the child ended (code < 0: killed by signal -C)

Fork hazard: a process that ran intra-op-parallel torch work cannot fork safely (OpenMP does not
survive fork), so the warm process sets torch to one thread right after importing it and runs nothing.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import socket
import sys

#: Libraries worth importing once per worker when an assignment uses them.
HEAVY_MODULES = ("numpy", "pandas", "scipy", "sklearn", "matplotlib", "torch", "torchvision")


def _send(sock: socket.socket, message: dict, fds: list[int] | None = None) -> None:
    data = json.dumps(message).encode("utf-8") + b"\n"
    if fds:
        socket.send_fds(sock, [data], fds)
    else:
        sock.sendall(data)


def serve(sock_fd: int, preload: list[str]) -> None:
    """The warm process's main loop (runs in the warm interpreter, started by `WarmWorker`)."""
    sock = socket.socket(fileno=sock_fd)
    os.environ.setdefault("MPLBACKEND", "Agg")
    import IPython.core.interactiveshell  # noqa: F401 - imported for the children
    import autograder.sandbox.runner  # noqa: F401
    import autograder.checks  # noqa: F401

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
    autograder.sandbox.runner.make_shell()  # a pristine shell every forked run starts from

    _send(sock, {"ready": os.getpid()})
    buffer = b""
    while True:
        try:
            data, fds, _flags, _addr = socket.recv_fds(sock, 1 << 16, 3)
        except OSError:
            return
        if not data:
            return  # the parent went away
        buffer += data
        if not buffer.endswith(b"\n"):
            for fd in fds:
                os.close(fd)
            continue
        request, buffer = json.loads(buffer), b""
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
            finally:
                os._exit(70)
        for fd in fds:
            os.close(fd)
        _send(sock, {"pid": pid})
        _, status = os.waitpid(pid, 0)
        _send(sock, {"exit": pid, "code": os.waitstatus_to_exitcode(status)})


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
    os.chdir(request["workdir"])
    os.environ.clear()
    os.environ.update(request["env"])
    with os.fdopen(job_fd, "rb") as handle:
        job = json.loads(handle.read().decode("utf-8"))
    from autograder.sandbox.runner import run_forked

    run_forked(job, events_fd)


def main() -> None:
    """Entry point of the warm interpreter: ``<bootstrap> SOCKET_FD MODULE,MODULE,...``."""
    sock_fd = int(sys.argv[1])
    preload = [m for m in sys.argv[2].split(",") if m] if len(sys.argv) > 2 else []
    serve(sock_fd, preload)
