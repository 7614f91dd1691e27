"""`check_metric` on a model: evaluated on held-out data in a confined process of its own.

The grader never builds a student's model in its own process. `evaluate_model` validates the model's
architecture on the weights' shapes (`autograder.grading.models.architecture`: capped, nothing allocated),
writes the spec as JSON and every weight as a ``.npy`` (no pickle anywhere) into a private temporary
directory, and starts a fresh ``python -I`` child that

* lowers its own limits before importing anything heavy: ``RLIMIT_DATA`` (memory: torch reserves gigabytes
  of address space it never touches, so ``RLIMIT_AS`` would break it; see docs/security.md) and
  ``RLIMIT_CPU`` (CPU seconds), with one torch/BLAS thread;
* imports the metric function from its file (``solutions/<assignment>.py``: trusted code), builds the model
  from the spec and the arrays (`autograder.grading.models.build`), calls the metric, and writes the number
  as JSON.

The parent waits at most the wall time limit, then kills the child's whole process group. Whatever happens
in the child (too much memory, too long, a crash) costs that one check, with a message that says which limit
was hit; the batch goes on.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from autograder.grading.models import ModelError, architecture

#: Memory (RLIMIT_DATA) of one evaluation; importing torch alone takes about 1 GiB of it.
HELD_OUT_MEMORY = 2 * 2**30
#: Wall-clock seconds of one evaluation, start-up included; the CPU-time limit is the same number.
HELD_OUT_SECONDS = 60.0


class HeldOutError(RuntimeError):
    """The model could not be evaluated within the limits; the message says which limit and how much."""


class MetricError(RuntimeError):
    """The metric function raised on the student's model (e.g. a wrong output shape): the check fails."""


def _gib(value: int) -> str:
    return f"{value / 2**30:g} GiB"


def _location(function) -> tuple[str, str, str]:
    """(module name, file, qualname) from which a fresh interpreter can import ``function``."""
    module = sys.modules.get(getattr(function, "__module__", None) or "")
    path = getattr(module, "__file__", None)
    qualname = getattr(function, "__qualname__", "")
    if not path or not qualname or "<" in qualname:
        raise HeldOutError(f"the metric {qualname or function!r} is not defined at the top level of a module file, "
                           "so it cannot be evaluated in a separate process")
    return module.__name__, str(Path(path).resolve()), qualname


def evaluate_model(function, decoded: dict, *, memory: int | None = None, seconds: float | None = None) -> float:
    """``function(model)`` for the student's model, computed in a confined child process."""
    memory = HELD_OUT_MEMORY if memory is None else memory
    seconds = HELD_OUT_SECONDS if seconds is None else seconds
    spec = architecture(decoded)  # raises ModelError before anything is written or started
    module_name, module_file, qualname = _location(function)
    directory = Path(tempfile.mkdtemp(prefix="autograder-heldout-"))
    try:
        weights = {}
        for position, (key, value) in enumerate(decoded["state_dict"].items()):
            np.save(directory / f"{position}.npy", np.ascontiguousarray(value.data), allow_pickle=False)
            weights[str(key)] = f"{position}.npy"
        job = {"spec": spec, "weights": weights, "module": module_name, "file": module_file, "function": qualname,
               "memory": int(memory), "seconds": int(math.ceil(seconds)),
               "sys_path": [os.path.abspath(p) for p in sys.path if isinstance(p, str) and p]}
        (directory / "job.json").write_text(json.dumps(job))
        return _run_child(directory, memory, seconds)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


_CHILD = ("import json, sys; job = json.load(open(sys.argv[1])); sys.path[:0] = job['sys_path']; "
          "from autograder.grading.held_out import child_main; child_main(sys.argv[1])")


def _run_child(directory: Path, memory: int, seconds: float) -> float:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(directory), "TMPDIR": str(directory),
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    env.update({key: os.environ[key] for key in ("LD_LIBRARY_PATH", "LANG", "LC_ALL") if key in os.environ})
    too_long = HeldOutError(f"the model could not be evaluated on held-out data: it took longer than {seconds:g} s")
    too_big = HeldOutError(f"the model could not be evaluated on held-out data: it needed more than {_gib(memory)}")
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-I", "-c", _CHILD, str(directory / "job.json")], cwd=directory, env=env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True)
    try:
        _, stderr = process.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        _kill(process)
        raise too_long from None
    finally:
        if process.poll() is None:
            _kill(process)
    result_path = directory / "result.json"
    if result_path.is_file():
        result = json.loads(result_path.read_text())
        if "value" in result:
            return float(result["value"])
        if result.get("memory"):
            raise too_big
        if result.get("model_error"):
            raise ModelError(result["error"])
        raise MetricError(result.get("error", "the metric failed"))
    code = process.returncode
    if code == -signal.SIGXCPU or (code == -signal.SIGKILL and time.monotonic() - started >= seconds):
        raise too_long
    if b"MemoryError" in stderr or b"can't allocate memory" in stderr or b"Cannot allocate memory" in stderr:
        raise too_big
    last = stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [f"exit code {code}"]
    raise HeldOutError(f"the model could not be evaluated on held-out data: the evaluation process stopped ({last[0][:300]})")


def _kill(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait(10)


# ------------------------------------------------------------------------------ inside the child


def _memory_error(error: BaseException) -> bool:
    text = str(error)
    return isinstance(error, MemoryError) or "can't allocate memory" in text or "Cannot allocate memory" in text \
        or "not enough memory" in text


def child_main(job_path: str) -> None:
    """The child: limits first, then the metric (trusted) on the rebuilt model; the outcome as JSON."""
    import resource

    job = json.loads(Path(job_path).read_text())
    directory = Path(job_path).parent
    if job["memory"] > 0:
        resource.setrlimit(resource.RLIMIT_DATA, (job["memory"], job["memory"]))
    if job["seconds"] > 0:
        resource.setrlimit(resource.RLIMIT_CPU, (job["seconds"], job["seconds"] + 2))

    def finish(outcome: dict) -> None:
        (directory / "result.json").write_text(json.dumps(outcome))

    try:
        import importlib.util

        import torch

        from autograder.grading.models import build

        torch.set_num_threads(1)
        spec = importlib.util.spec_from_file_location(job["module"], job["file"])
        module = importlib.util.module_from_spec(spec)
        sys.modules[job["module"]] = module
        spec.loader.exec_module(module)
        function = module
        for part in job["function"].split("."):
            function = getattr(function, part)
        state = {key: np.load(directory / name, allow_pickle=False) for key, name in job["weights"].items()}
        model = build(job["spec"], state)
        value = float(function(model))
    except ModelError as error:
        finish({"model_error": True, "error": str(error)})
    except BaseException as error:  # noqa: BLE001 - everything is reported to the parent as data
        if _memory_error(error):
            finish({"memory": True, "error": f"{type(error).__name__}: {error}"[:500]})
        else:
            finish({"error": f"{type(error).__name__}: {error}"[:500]})
    else:
        finish({"value": value})
