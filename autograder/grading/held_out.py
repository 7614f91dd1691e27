"""`check_metric` on a model: evaluated on held-out data in a confined process of its own.

The grader never builds a student's model in its own process. `evaluate_model` validates the model's
architecture on the weights' shapes (`autograder.grading.models.architecture`: capped, nothing allocated),
writes the spec as JSON and every weight as a ``.npy`` (no pickle anywhere) into a private temporary
directory, and hands the directory to an *evaluation server*: a fresh ``python -I`` (one per grading
thread and metric module) that imported torch and the metric's module (``solutions/<assignment>.py``:
trusted code) once, with one torch/BLAS thread. For each model the server forks a child that

* lowers its own limits first: ``RLIMIT_DATA`` (memory: torch reserves gigabytes of address space it never
  touches, so ``RLIMIT_AS`` would break it; see docs/security.md) and ``RLIMIT_CPU`` (CPU seconds);
* builds the model from the spec and the arrays (`autograder.grading.models.build`), calls the metric, and
  writes the number as JSON.

The grader waits at most the wall time limit for the child's end; past it, it kills the server's whole
process group (the child with it) and the next evaluation starts a new server. Whatever happens (too much
memory, too long, a crash) costs that one check, with a message that says which limit was hit; the batch
goes on. Forking from a server that already imported torch makes an evaluation cost a fork, not an
interpreter start (about 5 CPU s here).

**Leaderboard** (``[assignments.<a>.leaderboard]``, `autograder.results.leaderboard`): the same child calls
``<metric>_per_sample(model)`` instead, one number per held-out item (the metric is their mean), and
returns two means: over the *public* part of the items and over the *private* part (`split_indices`: a
fixed, seeded split). Both come from one evaluation; only the two numbers leave the child.
"""

from __future__ import annotations

import atexit
import json
import math
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

import numpy as np

from autograder.grading.models import ModelError, architecture
from autograder.sandbox.limits import readable_size

#: Memory (RLIMIT_DATA) of one evaluation, torch's own ~1 GiB included.
HELD_OUT_MEMORY = 2 * 2**30
#: Wall-clock seconds of one evaluation (build and metric); the CPU-time limit is the same number.
HELD_OUT_SECONDS = 60.0
#: Seconds an evaluation server may take to import torch and the metric's module.
SERVER_START_SECONDS = 180.0


class HeldOutError(RuntimeError):
    """The model could not be evaluated within the limits; the message says which limit and how much."""


class MetricError(RuntimeError):
    """The metric function raised on the student's model (e.g. a wrong output shape): the check fails."""


def _location(function) -> tuple[str, str, str]:
    """(module name, file, qualname) from which a fresh interpreter can import ``function``."""
    module = sys.modules.get(getattr(function, "__module__", None) or "")
    path = getattr(module, "__file__", None)
    qualname = getattr(function, "__qualname__", "")
    if not path or not qualname or "<" in qualname:
        raise HeldOutError(f"the metric {qualname or function!r} is not defined at the top level of a module file, "
                           "so it cannot be evaluated in a separate process")
    return module.__name__, str(Path(path).resolve()), qualname


def split_indices(count: int, public_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The held-out items' indices in the public part and in the private part, each sorted.

    ``round(count * public_fraction)`` items (at least one, and at least one left private) drawn without
    replacement by NumPy's PCG64 seeded with ``seed``: the same split in every process, for every student."""
    if count < 2:
        raise MetricError(f"a leaderboard needs at least 2 held-out items to split into a public and a private part; the metric gave {count}")
    public_count = min(max(round(count * public_fraction), 1), count - 1)
    order = np.random.default_rng(seed).permutation(count)
    return np.sort(order[:public_count]), np.sort(order[public_count:])


def split_scores(per_sample, public_fraction: float, seed: int) -> tuple[float, float]:
    """(public, private): the mean of ``per_sample`` (one score per held-out item) over each part of the split."""
    scores = np.asarray(per_sample, dtype=np.float64)
    if scores.ndim != 1:
        raise MetricError(f"the per-item metric must give one number per held-out item (a 1-D array); it gave shape {scores.shape}")
    if not np.all(np.isfinite(scores)):
        raise MetricError("the per-item metric gave a value that is not a finite number")
    public, private = split_indices(len(scores), public_fraction, seed)
    return float(scores[public].mean()), float(scores[private].mean())


def evaluate_model_split(function, decoded: dict, public_fraction: float, seed: int, *, memory: int | None = None,
                         seconds: float | None = None) -> tuple[float, float]:
    """(public, private) means of ``function(model)`` (one score per held-out item), computed as `evaluate_model`."""
    result = _evaluate_job(function, decoded, memory, seconds, {"public_fraction": float(public_fraction), "seed": int(seed)})
    return float(result["public"]), float(result["value"])


def evaluate_model(function, decoded: dict, *, memory: int | None = None, seconds: float | None = None) -> float:
    """``function(model)`` for the student's model, computed in a confined child process."""
    return float(_evaluate_job(function, decoded, memory, seconds)["value"])


def _evaluate_job(function, decoded: dict, memory: int | None, seconds: float | None, split: dict | None = None) -> dict:
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
        job = {"spec": spec, "weights": weights, "function": qualname, "memory": int(memory), "seconds": int(math.ceil(seconds)),
               "split": split}
        (directory / "job.json").write_text(json.dumps(job))
        return _evaluate(directory, module_name, module_file, memory, seconds)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


# ------------------------------------------------------------------------------ the grader's side


class _Gone(Exception):
    pass


class _Server:
    """One evaluation server: a ``python -I`` that imported torch and one metric module, forking per model."""

    def __init__(self, key: tuple):
        self.key = key
        module_name, module_file, _, sys_path = key
        self.directory = Path(tempfile.mkdtemp(prefix="autograder-heldout-server-"))
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.directory), "TMPDIR": str(self.directory),
               "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
        env.update({k: os.environ[k] for k in ("LD_LIBRARY_PATH", "LANG", "LC_ALL") if k in os.environ})
        self.stderr = open(self.directory / "stderr", "w+b")
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-c", _SERVE, json.dumps(list(sys_path)), module_name, module_file],
            cwd=self.directory, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
            start_new_session=True)
        self.buffer = b""
        with _servers_lock:
            _servers.add(self)

    def reply(self, deadline: float) -> dict:
        """The server's next line, as JSON; TimeoutError past ``deadline``, `_Gone` if it died."""
        fd = self.process.stdout.fileno()
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _, _ = select.select([fd], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise _Gone
                self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def ask(self, directory: Path, seconds: float) -> dict:
        try:
            self.process.stdin.write(f"{directory}\n".encode())
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            raise _Gone from None
        return self.reply(time.monotonic() + seconds)

    def last_words(self) -> str:
        try:
            self.stderr.seek(0)
            lines = self.stderr.read().decode("utf-8", "replace").strip().splitlines()
        except (OSError, ValueError):
            lines = []
        return lines[-1][:300] if lines else f"exit code {self.process.poll()}"

    def close(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            pass
        for stream in (self.process.stdin, self.process.stdout, self.stderr):
            try:
                stream.close()
            except (OSError, ValueError):
                pass
        shutil.rmtree(self.directory, ignore_errors=True)
        with _servers_lock:
            _servers.discard(self)


_local = threading.local()  # each grading thread has its own server: one evaluation at a time per server
_servers: set[_Server] = set()
_servers_lock = threading.Lock()


@atexit.register
def close_servers() -> None:
    """Stop every evaluation server of this process."""
    with _servers_lock:
        servers = list(_servers)
    for server in servers:
        server.close()


def _server(module_name: str, module_file: str) -> _Server:
    sys_path = tuple(os.path.abspath(p) for p in sys.path if isinstance(p, str) and p)
    key = (module_name, module_file, os.stat(module_file).st_mtime_ns, sys_path)
    server: _Server | None = getattr(_local, "server", None)
    if server is not None and (server.key != key or server.process.poll() is not None):
        server.close()
        server = None
    if server is None:
        server = _Server(key)
        _local.server = server
        try:
            hello = server.reply(time.monotonic() + SERVER_START_SECONDS)
        except (TimeoutError, _Gone, ValueError):
            why = server.last_words()
            server.close()
            _local.server = None
            raise HeldOutError(f"the grader could not start the process that evaluates models ({why})") from None
        if not hello.get("ready"):
            server.close()
            _local.server = None
            raise HeldOutError(f"the grader could not load the metric's module: {hello.get('error', '?')}")
    return server


def _evaluate(directory: Path, module_name: str, module_file: str, memory: int, seconds: float) -> dict:
    too_long = HeldOutError(f"the model could not be evaluated on held-out data: it took longer than {seconds:g} s")
    too_big = HeldOutError(f"the model could not be evaluated on held-out data: it needed more than {readable_size(memory)}")
    server = _server(module_name, module_file)
    try:
        reply = server.ask(directory, seconds)
    except TimeoutError:
        server.close()  # the child with it; the next evaluation starts a new server
        _local.server = None
        raise too_long from None
    except (_Gone, ValueError):
        why = server.last_words()
        server.close()
        _local.server = None
        raise HeldOutError(f"the model could not be evaluated on held-out data: the evaluation process stopped ({why})") from None
    result_path = directory / "result.json"
    if result_path.is_file():
        result = json.loads(result_path.read_text())
        if "value" in result:
            return result
        if result.get("memory"):
            raise too_big
        if result.get("model_error"):
            raise ModelError(result["error"])
        raise MetricError(result.get("error", "the metric failed"))
    code = reply.get("code")
    if code in (-signal.SIGXCPU, -signal.SIGKILL):
        raise too_long if code == -signal.SIGXCPU else HeldOutError(
            "the model could not be evaluated on held-out data: the evaluation process was killed (memory?)")
    raise HeldOutError(f"the model could not be evaluated on held-out data: the evaluation process stopped (exit code {code})")


# ------------------------------------------------------------------------------ the server and its children

_SERVE = ("import json, sys; sys.path[:0] = json.loads(sys.argv[1]); "
          "from autograder.grading.held_out import serve; serve(sys.argv[2], sys.argv[3])")


def serve(module_name: str, module_file: str) -> None:
    """The evaluation server: import torch and the metric's module once, then one forked child per model."""
    replies = os.dup(1)  # the channel to the grader; whatever the module or a metric prints goes to stderr
    os.dup2(2, 1)

    def say(message: dict) -> None:
        data = (json.dumps(message) + "\n").encode()
        while data:
            data = data[os.write(replies, data):]

    try:
        import importlib.util

        import torch

        import autograder.grading.models  # noqa: F401 - imported before the children fork

        torch.set_num_threads(1)
        spec = importlib.util.spec_from_file_location(module_name, module_file)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    except BaseException as error:  # noqa: BLE001 - said to the grader, which fails the check
        say({"ready": False, "error": f"{type(error).__name__}: {error}"[:500]})
        return
    say({"ready": True})
    for line in sys.stdin:
        directory = line.strip()
        if not directory:
            continue
        pid = os.fork()
        if pid == 0:
            try:
                os.close(replies)
                _child(module, Path(directory))
            finally:
                os._exit(0)
        _, status = os.waitpid(pid, 0)
        say({"code": os.waitstatus_to_exitcode(status)})


def _memory_error(error: BaseException) -> bool:
    text = str(error)
    return isinstance(error, MemoryError) or "can't allocate memory" in text or "Cannot allocate memory" in text \
        or "not enough memory" in text


def _child(module, directory: Path) -> None:
    """One evaluation: limits first, then the metric (trusted) on the rebuilt model; the outcome as JSON."""
    import resource

    job = json.loads((directory / "job.json").read_text())
    if job["memory"] > 0:
        resource.setrlimit(resource.RLIMIT_DATA, (job["memory"], job["memory"]))
    if job["seconds"] > 0:
        resource.setrlimit(resource.RLIMIT_CPU, (job["seconds"], job["seconds"] + 2))

    def finish(outcome: dict) -> None:
        (directory / "result.json").write_text(json.dumps(outcome))

    try:
        from autograder.grading.models import build

        function = module
        for part in job["function"].split("."):
            function = getattr(function, part)
        state = {key: np.load(directory / name, allow_pickle=False) for key, name in job["weights"].items()}
        model = build(job["spec"], state)
        split = job.get("split")
        if split:
            public, value = split_scores(function(model), split["public_fraction"], split["seed"])
        else:
            public, value = None, float(function(model))
    except ModelError as error:
        finish({"model_error": True, "error": str(error)})
    except BaseException as error:  # noqa: BLE001 - everything is reported to the grader as data
        if _memory_error(error):
            finish({"memory": True, "error": f"{type(error).__name__}: {error}"[:500]})
        else:
            finish({"error": f"{type(error).__name__}: {error}"[:500]})
    else:
        finish({"value": value} if public is None else {"value": value, "public": public})


# ------------------------------------------------------------------------------ a leaderboard's metric lookup


class LeaderboardMetrics:
    """A metric lookup (name -> function of solutions/) that also carries one version's leaderboard
    `Evaluation` (`autograder.results.leaderboard`): `autograder.grading.scoring.evaluate_metric` scores the
    leaderboard's check on the private part and records both parts in it."""

    def __init__(self, lookup, evaluation):
        self.lookup = lookup
        self.leaderboard = evaluation

    def __call__(self, name: str):
        if self.lookup is None:
            raise KeyError(name)
        return self.lookup(name)


def per_sample_name(metric: str) -> str:
    """The function of solutions/ a leaderboard calls for ``metric``: one score per held-out item."""
    return f"{metric}_per_sample"


def leaderboard_allotment(plan, runs: list, gradebook):
    """The batch's leaderboard decisions (`autograder.results.leaderboard.allot`) for the versions in ``runs``,
    or None without a leaderboard. Raises `CourseError` naming ``autograder.toml`` when its ``metric`` names no
    check_metric check of the assignment, or solutions/ lacks the per-item function."""
    from autograder.course import CourseError
    from autograder.course.late import CONFIG_FILE, deadline_for, has_leaderboard
    from autograder.grading.reference import metric_lookup
    from autograder.results.leaderboard import allot

    assignment = plan.assignment
    if not has_leaderboard(assignment.course.root, assignment.name):
        return None
    deadline = deadline_for(assignment)
    settings = deadline.leaderboard
    if settings is None:
        return None
    where = f"{assignment.course.root / CONFIG_FILE}: [assignments.{assignment.name}.leaderboard]"
    records = [r for found in plan.expectations.values() for cell in found.checks.values() for r in cell]
    metric_checks = sorted(r.name for r in records if r.is_metric)
    found = [r for r in records if r.name == settings.metric and r.is_metric]
    if not found:
        raise CourseError(f"{where} metric = {settings.metric!r} names no check_metric check of {assignment.name} "
                          f"(its check_metric checks: {', '.join(metric_checks) or 'none'})")
    wanted = per_sample_name(found[0].metric or "")
    lookup = metric_lookup(assignment)
    try:
        if lookup is None:
            raise AttributeError(wanted)
        lookup(wanted)
    except (AttributeError, KeyError):
        raise CourseError(f"{where} needs solutions/{assignment.name}.py to define {wanted}(model): one score per held-out "
                          f"item, whose mean is {found[0].metric}(model)") from None
    return allot(assignment.name, deadline, runs, gradebook.leaderboard_entries(assignment.name))
