"""What confines a run: bubblewrap, cgroups, rlimits and a separate uid.

Decided once per grader process (`Confinement.detect`), from what this machine offers:

* **bubblewrap** (``bwrap``, Debian's ``bubblewrap``): the run sees a root filesystem made of the
  system's libraries (``/usr``, pieces of ``/etc``), the Python installation (read-only), this package
  (read-only) and its own scratch directory (read-write); nothing else of the machine: not the course
  (``source/``, ``solutions/``, the gradebook), not other submissions. No network (its own network
  namespace), its own process namespace, a private ``/tmp``; it dies with the grader.
* **cgroups** (v1 ``memory`` and ``pids`` controllers, where the grader may create groups): a memory
  limit enforced by the kernel (the run is killed when it goes over) and a limit on processes + threads.
* **rlimits**, always: file size (``RLIMIT_FSIZE``), and where there is no cgroup, memory
  (``RLIMIT_DATA``: torch reserves gigabytes of address space it never touches, so ``RLIMIT_AS`` would
  break it) and processes (``RLIMIT_NPROC``, counted per uid: each worker has its own).
* **a separate uid** (62000 + the worker's slot, no capabilities, ``no_new_privs``) when the grader is
  root and the Python installation is readable by it (always inside bubblewrap).

Where something is missing the run goes on with what there is, and `Confinement.summary` says what is
missing; the grade command prints it.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import site
import stat
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from autograder.errors import UserError

#: Runs of warm worker slot k use uid/gid UID_BASE + k (no passwd entry needed; HOME and USER are set).
UID_BASE = 62000
_slots = itertools.count()
_slots_lock = threading.Lock()

#: Pieces of /etc a Python process may need (dynamic linker, users, time zone, TLS roots, fonts).
_ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "passwd", "group", "nsswitch.conf", "localtime",
        "timezone", "ssl", "ca-certificates", "fonts", "mime.types", "alternatives", "matplotlibrc")


def next_slot() -> int:
    with _slots_lock:
        return next(_slots) % 1000


def _world_accessible(path: Path) -> bool:
    """Whether a user that is neither owner nor group can reach ``path`` (every ancestor has o+x)."""
    path = path.resolve()
    for part in [path, *path.parents]:
        try:
            mode = part.stat().st_mode
        except OSError:
            return False
        if not mode & stat.S_IXOTH:
            return False
    return bool(path.stat().st_mode & stat.S_IROTH)


def _cgroup_root(controller: str) -> Path | None:
    """The directory of this process's own cgroup for ``controller`` (v1), if we may create groups in it."""
    base = Path("/sys/fs/cgroup") / controller
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, names, relative = line.split(":", 2)
        if controller in names.split(","):
            directory = base / relative.lstrip("/")
            probe = directory / f"autograder-probe-{os.getpid()}"
            try:
                probe.mkdir()
                probe.rmdir()
            except OSError:
                return None
            return directory
    return None


@dataclass
class Cgroup:
    """One memory group and one pids group (v1) for one worker slot; its runs join it, one at a time."""

    memory: Path | None
    pids: Path | None

    @classmethod
    def create(cls, roots: dict[str, Path], name: str, memory_bytes: int, processes: int) -> "Cgroup":
        made = {}
        for controller, root in roots.items():
            directory = root / name
            directory.mkdir(exist_ok=True)
            made[controller] = directory
        group = cls(made.get("memory"), made.get("pids"))
        if group.memory is not None and memory_bytes > 0:
            (group.memory / "memory.limit_in_bytes").write_text(str(memory_bytes))
            try:  # no swap either, where the kernel accounts it
                (group.memory / "memory.memsw.limit_in_bytes").write_text(str(memory_bytes))
            except OSError:
                pass
        if group.pids is not None and processes > 0:
            (group.pids / "pids.max").write_text(str(processes))
        return group

    def directories(self) -> list[Path]:
        return [d for d in (self.memory, self.pids) if d is not None]

    def seen_from(self, sandboxed: bool) -> list[str]:
        """The directories as the group's processes see them: bubblewrap binds them at /sys/fs/cgroup/<controller>."""
        if sandboxed:
            return [f"/sys/fs/cgroup/{name}" for name, d in (("memory", self.memory), ("pids", self.pids)) if d is not None]
        return [str(d) for d in self.directories()]

    def tasks(self) -> int:
        """Threads in the pids group now (what counts against pids.max)."""
        if self.pids is None:
            return 0
        try:
            return int((self.pids / "pids.current").read_text())
        except (OSError, ValueError):
            return 0

    def held_bytes(self) -> int | None:
        """Memory charged to the group that the kernel cannot just drop: ``memory.usage_in_bytes`` less the
        page cache of files (``total_active_file`` + ``total_inactive_file`` of ``memory.stat``), which it
        reclaims before it kills anything. Shared memory (System V segments, tmpfs files) counts. None
        without a memory group."""
        if self.memory is None:
            return None
        try:
            usage = int((self.memory / "memory.usage_in_bytes").read_text())
            stat = dict(line.split() for line in (self.memory / "memory.stat").read_text().splitlines())
        except (OSError, ValueError):
            return None
        return max(0, usage - int(stat.get("total_active_file", 0)) - int(stat.get("total_inactive_file", 0)))

    def peak_bytes(self) -> int | None:
        """The most memory charged to the group since it was made or `reset_peak` last ran (v1
        ``memory.max_usage_in_bytes``; v2 ``memory.peak``): its processes' memory and the page cache of the
        files they read and wrote, which is what its limit counts. None without a memory group."""
        if self.memory is None:
            return None
        for name in ("memory.max_usage_in_bytes", "memory.peak"):
            try:
                return int((self.memory / name).read_text())
            except (OSError, ValueError):
                continue
        return None

    def reset_peak(self) -> None:
        """Start `peak_bytes` again from what the group holds now (v1: writing 0 resets the maximum to the
        current usage). Where the kernel cannot reset it (v2 before Linux 6.12) the peak stays cumulative."""
        if self.memory is None:
            return
        try:
            (self.memory / "memory.max_usage_in_bytes").write_text("0")
        except OSError:
            pass

    def oom_kills(self) -> int:
        if self.memory is None:
            return 0
        try:
            for line in (self.memory / "memory.oom_control").read_text().splitlines():
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
            return int((self.memory / "memory.failcnt").read_text())
        except (OSError, ValueError):
            return 0

    def kill_all(self) -> None:
        """SIGKILL every process in the group until none is left (a fork storm is bounded by pids.max)."""
        for directory in self.directories():
            for _ in range(100):
                pids = _read_pids(directory / "cgroup.procs")
                if not pids:
                    break
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass

    def remove(self) -> None:
        self.kill_all()
        for directory in self.directories():
            for _ in range(50):
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # processes still exiting
                    import time

                    time.sleep(0.02)


def _read_pids(path: Path) -> list[int]:
    try:
        return [int(p) for p in path.read_text().split()]
    except (OSError, ValueError):
        return []


@dataclass
class Confinement:
    """What this machine lets the grader do to confine runs (see the module docstring)."""

    bwrap: str | None = None
    cgroup_roots: dict[str, Path] = field(default_factory=dict)
    separate_uid: bool = False
    why_not: list[str] = field(default_factory=list)  # what is missing, in words

    _detected: "Confinement | None" = None

    @classmethod
    def detect(cls, isolation: str = "auto") -> "Confinement":
        """``auto``: everything this machine offers; ``bwrap``: fail unless bubblewrap works; ``none``: no
        bubblewrap (cgroups, rlimits and a separate uid still apply)."""
        if isolation not in ("auto", "bwrap", "none"):
            raise UserError(f"unknown isolation {isolation!r}: use --isolation auto, bwrap or none")
        if cls._detected is None:
            cls._detected = cls._probe()
        found = cls._detected
        if isolation == "none":
            return cls(None, found.cgroup_roots, found.separate_uid_without_bwrap(),
                       found.why_not_without_bwrap())
        if isolation == "bwrap" and found.bwrap is None:
            raise UserError("--isolation bwrap: bubblewrap is not usable here (" + "; ".join(found.why_not) + "); "
                            "install bubblewrap or grade with --isolation auto")
        return found

    @classmethod
    def _probe(cls) -> "Confinement":
        found = cls()
        is_root = os.geteuid() == 0
        bwrap = shutil.which("bwrap")
        if bwrap is None:
            found.why_not.append("bubblewrap is not installed (apt-get install bubblewrap): student code can read "
                                 "every file readable by its uid and reach the network")
        else:
            probe = subprocess.run([bwrap, *filesystem_arguments(), "--unshare-net", "--unshare-pid", "--die-with-parent",
                                    sys.executable, "-I", "-c", "pass"], capture_output=True, text=True, timeout=60)
            if probe.returncode == 0:
                found.bwrap = bwrap
            else:
                found.why_not.append(f"bubblewrap does not run here ({probe.stderr.strip()[:200]}): student code can read "
                                     "every file readable by its uid and reach the network")
        if is_root:
            for controller in ("memory", "pids"):
                root = _cgroup_root(controller)
                if root is not None:
                    found.cgroup_roots[controller] = root
        missing = [c for c in ("memory", "pids") if c not in found.cgroup_roots]
        if missing:
            found.why_not.append(f"no {' or '.join(missing)} cgroup: rlimits are used instead (per process, not per run)")
        found.separate_uid = is_root and (found.bwrap is not None or found.separate_uid_without_bwrap())
        if not is_root:
            found.why_not.append("the grader is not root: runs keep the grader's uid")
        elif not found.separate_uid:
            found.why_not.append(f"runs keep uid 0: the Python installation ({sys.prefix}) is not readable by other users")
        return found

    def separate_uid_without_bwrap(self) -> bool:
        if os.geteuid() != 0:
            return False
        import autograder

        return all(_world_accessible(Path(p)) for p in (sys.prefix, sys.base_prefix, Path(autograder.__file__).parent))

    def why_not_without_bwrap(self) -> list[str]:
        lines = [line for line in self.why_not if "bubblewrap" not in line]
        return ["bubblewrap is switched off (--isolation none): student code can read every file readable by its uid and reach the network", *lines]

    def summary(self, limits) -> str:
        parts = ["bubblewrap (no network, no course files, private /tmp)" if self.bwrap else "no bubblewrap"]
        parts.append(f"uid {UID_BASE}+" if self.separate_uid else "the grader's uid")
        memory = limits.memory_text()
        parts.append(f"memory {memory} ({'cgroup' if 'memory' in self.cgroup_roots else 'RLIMIT_DATA'})")
        parts.append(f"{limits.processes} processes ({'cgroup' if 'pids' in self.cgroup_roots else 'RLIMIT_NPROC'})"
                     if limits.processes else "no process limit")
        parts.append(f"files up to {limits.file_size / 2**20:g} MiB" if limits.file_size else "no file size limit")
        text = "sandbox: " + ", ".join(parts)
        if self.why_not:
            text += "\n  weaker than it could be: " + "; ".join(self.why_not)
        return text

    # ------------------------------------------------------------------------------------ bubblewrap

    def bwrap_command(self, writable: Path, cgroup: Cgroup | None, extra_readonly: list[Path]) -> list[str]:
        """The bwrap prefix of a run's command line: ``writable`` is its scratch directory."""
        command = [self.bwrap, "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent",
                   "--new-session", *filesystem_arguments(extra_readonly)]
        command += [*_parents(writable), "--bind", str(writable), str(writable)]
        if cgroup is not None:
            for controller, directory in (("memory", cgroup.memory), ("pids", cgroup.pids)):
                if directory is not None:
                    command += ["--bind", str(directory), f"/sys/fs/cgroup/{controller}"]
        # The warm process forks runs and drops them to their uid; it keeps nothing else of root.
        command += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_KILL"]
        return command


def _parents(path: Path) -> list[str]:
    """``--perms 0755 --dir`` for each ancestor bwrap would otherwise create with the host's mode (0700 for /root)."""
    arguments = []
    for parent in reversed(Path(path).parents):
        if str(parent) not in ("/", "/tmp"):  # / and /tmp are the sandbox's own
            arguments += ["--perms", "0755", "--dir", str(parent)]
    return arguments


def filesystem_arguments(extra_readonly: list[Path] = ()) -> list[str]:
    """The sandbox's filesystem: system libraries, the Python installation, /dev, /proc, a private /tmp."""
    # /tmp first: binds below it (the package shim, scratch directories) go on top of the private /tmp
    # /dev/shm as on any Linux machine (1777): multiprocessing's locks and torch's DataLoader workers make files there
    arguments = ["--dev", "/dev", "--perms", "1777", "--tmpfs", "/dev/shm", "--proc", "/proc", "--perms", "1777", "--tmpfs", "/tmp"]
    for name in ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / name
        if path.is_symlink():
            arguments += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            arguments += ["--ro-bind", str(path), str(path)]
    for name in _ETC:
        path = Path("/etc") / name
        if path.exists():
            arguments += ["--ro-bind", str(path), str(path)]
    python = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), Path(sys.executable).resolve().parent.parent}
    python |= {Path(p).resolve() for p in site.getsitepackages()}
    for path in [*sorted(python), *[Path(p).resolve() for p in extra_readonly]]:
        if path.exists() and not str(path).startswith("/usr/"):
            arguments += [*_parents(path), "--ro-bind", str(path), str(path)]
    return arguments


def chown_tree(path: Path, uid: int) -> None:
    """Give a run's scratch directory to the run's uid (the grader stays able to remove it: it is root)."""
    for root, directories, files in os.walk(path):
        for name in [*directories, *files]:
            os.lchown(os.path.join(root, name), uid, uid)
    os.chown(path, uid, uid)
    os.chmod(path, 0o700)


# ------------------------------------------------------------------------- settings for one run


def confine_settings(confinement: "Confinement", limits, uid: int | None, cgroup_dirs: list[str]) -> dict:
    return {
        "uid": uid,
        "cgroups": cgroup_dirs,
        "file_size": limits.file_size,
        "rlimit_memory": limits.memory if "memory" not in confinement.cgroup_roots else 0,
        "rlimit_processes": limits.processes if "pids" not in confinement.cgroup_roots else 0,
    }


def set_cgroup_limits(cgroup: "Cgroup | None", limits, baseline_tasks: int = 0) -> None:
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


def cgroup_name(kind: str) -> str:
    return f"autograder-{os.getpid()}-{kind}-{next_slot()}-{time.monotonic_ns() % 10**9}"
