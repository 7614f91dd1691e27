"""Where runs work: the grader's scratch root, each run's working directory and environment, and the
package shim through which a child imports this package and nothing else of ours.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
from pathlib import Path

import autograder
from autograder.sandbox import inside, lifeline

#: What a child runs first (``python -I -c``). Its import path keeps only the Python installation (what ``-I``
#: starts with, less what a ``.pth`` file added from elsewhere, such as an editable install's repository),
#: then the shim. It names no course path: a run's command line is readable from inside it (/proc/self/cmdline).
_BOOTSTRAP = (
    "import os, sys\n"
    "_roots = tuple(os.path.realpath(r) + os.sep for r in {{sys.prefix, sys.base_prefix, sys.exec_prefix}})\n"
    "sys.path[:] = [p for p in sys.path if p and (os.path.realpath(p) + os.sep).startswith(_roots)]\n"
    "del _roots\n"
    "sys.path.insert(0, {shim!r})\n"
    "{entry}\n"
)
SPAWN_ENTRY = (f"import json\nfrom {inside.CONFINE} import confine_self\nconfine_self(json.loads(sys.argv[2]))\n"
               f"from {inside.RUNNER} import main; main(['-', sys.argv[1]])")
WARM_ENTRY = f"from {inside.WARM} import main; main()"


def bootstrap(entry: str) -> str:
    return _BOOTSTRAP.format(shim=str(Shim.path()), entry=entry)


class Shim:
    """A directory holding only a link to this autograder package: the child imports it, nothing else of ours."""

    _path: Path | None = None
    _lock = threading.Lock()

    @classmethod
    def path(cls) -> Path:
        with cls._lock:  # workers start on several threads at once: one shim for all of them
            if cls._path is None or not cls._path.exists():
                directory = Path(tempfile.mkdtemp(prefix="autograder-shim-"))
                directory.chmod(0o755)
                (directory / autograder.__name__).symlink_to(Path(autograder.__file__).resolve().parent)
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


def use_scratch(user: object) -> Path:
    with _scratch_lock:
        _scratch_users.add(user)
        return scratch_root()


def leave_scratch(user: object) -> None:
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
        Shim.remove()
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


def fresh_workdir(prefix: str = "autograder-run-") -> Path:
    with _scratch_lock:  # made in the same breath as the root is looked up: `release_scratch` sees it
        return Path(tempfile.mkdtemp(prefix=prefix, dir=scratch_root()))


def remove_workdir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
