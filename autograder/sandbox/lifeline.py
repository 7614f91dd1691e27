"""A grader that is killed (``kill -9``, the OOM killer, a closed terminal) leaves nothing running behind.

A grader cannot clean up after a SIGKILL, so a small watchdog process does it for it. `guard()` starts the
watchdog (once per process, however deeply nested) with a pipe whose only writer is the grader. The
watchdog looks at the grader's process tree four times a second (warm workers, the runs forked from them,
fresh interpreters) and remembers each process by pid and start time, and the scratch directories
(``$TMPDIR/autograder-*``) they work in.
When the pipe reaches end of file without the grader having said goodbye, the grader is gone: the
watchdog kills every process it remembers that is still the same process, with its process group and
its descendants, removes those scratch directories, and exits. A grader that finishes normally
says goodbye and the watchdog exits without touching anything.

It works from outside, so it holds whatever way `autograder.sandbox` starts the runs (the sandbox's own
parent-watch and bubblewrap's ``--die-with-parent`` already stop most of them; the scratch directories are
this module's alone). What started in the last quarter second before the kill can escape it, unless it is
below a process the watchdog already knew.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

#: Seconds between two looks at the grader's process tree.
POLL_SECONDS = 0.25
#: The prefix of the scratch directories the sandbox makes in $TMPDIR (a run's, or the root of all runs').
RUN_DIR_PREFIX = "autograder-"

_GOODBYE = b"bye"
_lock = threading.Lock()
_depth = 0
_watchdog: subprocess.Popen | None = None
_adopted: list[Path] = []  # scratch directories of this process that are no process's working directory


def adopt(directory: Path) -> None:
    """Have the watchdog remove ``directory`` too if this process dies (the package shim, the scratch root:
    directories this process made that no process works in, so the watchdog would not find them)."""
    with _lock:
        _adopted.append(Path(directory))
        if _watchdog is not None:
            _tell(_watchdog, directory)


def forget(directory: Path) -> None:
    """``directory`` was removed by this process: no longer the watchdog's to remove."""
    with _lock:
        if Path(directory) in _adopted:
            _adopted.remove(Path(directory))


def _tell(watchdog: subprocess.Popen, directory: Path) -> None:
    try:
        watchdog.stdin.write(b"dir " + os.fsencode(str(directory)) + b"\n")
        watchdog.stdin.flush()
    except (BrokenPipeError, OSError, ValueError):
        pass


@contextlib.contextmanager
def guard():
    """While inside, a watchdog kills this process's descendants if this process dies without leaving."""
    global _depth, _watchdog
    with _lock:
        _depth += 1
        if _depth == 1:
            _watchdog = _start()
            if _watchdog is not None:
                for directory in _adopted:
                    _tell(_watchdog, directory)
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _watchdog is not None:
                _stop(_watchdog)
                _watchdog = None


def _start() -> subprocess.Popen | None:
    if not sys.platform.startswith("linux"):
        return None  # the watchdog reads /proc
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "autograder.sandbox.lifeline", str(os.getpid())],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C or a group kill of the grader must not take the watchdog first
        )
    except OSError:
        return None  # without a watchdog grading still works; only the clean-up after a kill is lost


def _stop(watchdog: subprocess.Popen) -> None:
    try:
        watchdog.stdin.write(_GOODBYE + b"\n")
        watchdog.stdin.close()
    except (BrokenPipeError, OSError):
        pass
    try:
        watchdog.wait(10)
    except subprocess.TimeoutExpired:
        watchdog.kill()
        watchdog.wait()


# ------------------------------------------------------------------------- the watchdog process (/proc)


def _stat(pid: int) -> list[bytes] | None:
    """Fields 3 and on of /proc/PID/stat (the command name before ")" may hold spaces)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return None
    return stat[stat.rfind(b")") + 2:].split()


def _start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot: with the pid, it names one process."""
    fields = _stat(pid)
    return int(fields[19]) if fields else None  # field 22 of proc(5)


def _running(pid: int, started: int) -> bool:
    fields = _stat(pid)
    return bool(fields) and int(fields[19]) == started and fields[0] != b"Z"


def _children(pid: int) -> list[int]:
    found = []
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for thread in threads:
        try:
            with open(f"/proc/{pid}/task/{thread}/children", "rb") as handle:
                found.extend(int(child) for child in handle.read().split())
        except OSError:
            continue
    return found


def _descendants(pid: int) -> list[int]:
    found, stack = [], [pid]
    while stack:
        for child in _children(stack.pop()):
            found.append(child)
            stack.append(child)
    return found


def _run_dir(pid: int) -> Path | None:
    """The grader's scratch directory the process works in: ``$TMPDIR/autograder-*`` or below it."""
    try:
        cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        return None
    temp = Path(tempfile.gettempdir())
    if cwd.is_relative_to(temp) and cwd != temp:
        top = temp / cwd.relative_to(temp).parts[0]
        if top.name.startswith(RUN_DIR_PREFIX):
            return top
    return None


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(pid) == pid:  # a session or group leader (warm workers, runs): its whole group
            os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)


def watch(grader: int, pipe: int) -> None:
    known: dict[int, int] = {}  # pid -> start time
    run_dirs: set[Path] = set()
    buffer = b""
    while True:
        ready, _, _ = select.select([pipe], [], [], POLL_SECONDS)
        if ready:
            data = os.read(pipe, 4096)
            if not data:
                break  # the grader is gone without a goodbye
            buffer += data
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                if line == _GOODBYE:
                    return
                if line.startswith(b"dir "):
                    adopted = Path(os.fsdecode(line[4:]))
                    temp = Path(tempfile.gettempdir())
                    if adopted.name.startswith(RUN_DIR_PREFIX) and adopted.parent == temp:  # nothing else, whatever it says
                        run_dirs.add(adopted)
        for pid in _descendants(grader):
            if pid != os.getpid() and pid not in known:
                started = _start_time(pid)
                if started is not None:
                    known[pid] = started
            found = _run_dir(pid)
            if found is not None:
                run_dirs.add(found)
        for pid, started in list(known.items()):
            if _start_time(pid) != started:
                del known[pid]
        run_dirs = {directory for directory in run_dirs if directory.exists()}  # the grader removed the rest
    victims = {}
    for pid, started in known.items():
        if _start_time(pid) == started:
            for victim in [pid, *_descendants(pid)]:
                victims[victim] = _start_time(victim)
            found = _run_dir(pid)
            if found is not None:
                run_dirs.add(found)
    victims.pop(os.getpid(), None)
    for pid in victims:
        _kill(pid)
    deadline = time.monotonic() + 10  # a dying process may still write into its directory
    while any(started is not None and _running(pid, started) for pid, started in victims.items()) and time.monotonic() < deadline:
        time.sleep(0.05)
    for directory in run_dirs:
        shutil.rmtree(directory, ignore_errors=True)


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the grader's Ctrl-C is the grader's business
    watch(int(sys.argv[1]), sys.stdin.fileno())


if __name__ == "__main__":
    main()
