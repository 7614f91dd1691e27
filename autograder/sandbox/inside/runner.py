"""Where a submission runs: the child process that executes notebook cells (untrusted side).

The parent (`autograder.sandbox.launch`) starts this module in a fresh interpreter (or forks it from a warm
one) with two pipes. On the job pipe the parent sends the job's header (mode, limits) and then **one cell
at a time**: cell N+1's source only after cell N ended. The child therefore holds no test cell's source
before that cell runs, and forgets it after (`Runner.forget`): an answer cell cannot find a hidden test in
memory (gc, frames, linecache, the pipe) and print it. The runner executes each cell and writes one JSON
line per event (`autograder.wire.protocol`) on the event pipe:

    {"event": "cell_start", "index": 3}
    {"event": "check", "index": 3, "record": {...}}      # a value recorded by autograder.sandbox.inside.checks
    {"event": "cell_end", "index": 3, "status": "ok" | "error" | "timeout", "outputs": [...], ...}
    {"event": "done"}

Nothing here decides a grade. Answer and plain cells run through IPython's `InteractiveShell`, so magics
work; test cells run through the harness's own `compile`/`exec`, captured before any student code ran,
so input transformers, a patched `run_cell` or `showtraceback` cannot change how a test cell runs or
whether its error is seen. What student code can still do from inside this process (write to the pipe,
exit early) is bounded by the parent, which trusts only plain data and its own view of the process.
"""

from __future__ import annotations

import ast
import builtins
import gc
import inspect
import io
import json
import linecache
import os
import signal
import sys
import time
import traceback
import types

from autograder.sandbox.inside import asserts, tamper
from autograder.wire.protocol import CellEnd, CellError, CellStart, CellStatus, CheckEvent, CheckRecord, Done, JobCell, JobHeader, Mode, Start

# Captured before any notebook code runs: test cells are compiled and executed with these.
_compile = builtins.compile
_exec = builtins.exec
_eval = builtins.eval
_json_dumps = json.dumps
_os_write = os.write
_os_read = os.read
_monotonic = time.monotonic
_getitimer, _setitimer = signal.getitimer, signal.setitimer
_getpid = os.getpid
_os_exit = os._exit
_pristine_builtins = dict(builtins.__dict__)
_FunctionType = types.FunctionType

#: Modules and classes test cells lean on: a notebook that patches their functions has them put back
#: before every test cell (what a notebook does inside a test cell stays possible: see docs/security.md).
_WIRE = CellEnd.__module__.rpartition(".")[0]  # our own modules named from where they live, not spelled out
GUARDED_MODULES = ("builtins", "math", "numpy", "numpy.testing", "numpy.linalg", "torch", "torch.testing", "torch.nn.functional",
                   "pandas", "pandas.testing", f"{__package__}.checks", f"{_WIRE}.values", f"{_WIRE}.compare", f"{_WIRE}.seeding")
GUARDED_CLASSES = (("torch", "Tensor"), ("pandas", "DataFrame"), ("pandas", "Series"))
_TRUSTED_KINDS = ("locked", "test")


class CellTimeout(BaseException):
    """Raised in the cell's thread when its time is up (a BaseException, so `except Exception` can't eat it)."""


class BoundedText(io.TextIOBase):
    """A text stream that keeps the first and last ``limit // 2`` characters of what is written to it.

    Amortised O(1) per write: ten million small prints cost ten million appends, not ten million copies.
    """

    def __init__(self, limit: int, name: str):
        self.limit = max(int(limit), 2)
        self.name = name
        self.head: list[str] = []
        self.head_size = 0
        self.tail: list[str] = []
        self.tail_size = 0
        self.dropped = 0

    def writable(self) -> bool:
        return True

    def write(self, text) -> int:
        text = str(text)
        written = len(text)
        half = self.limit // 2
        if self.head_size < half:
            take = text[: half - self.head_size]
            self.head.append(take)
            self.head_size += len(take)
            text = text[len(take):]
        if text:
            if len(text) > half:
                self.dropped += len(text) - half
                text = text[-half:]
            self.tail.append(text)
            self.tail_size += len(text)
            if self.tail_size > 2 * half:
                self._trim()
        return written

    def _trim(self) -> None:
        half = self.limit // 2
        joined = "".join(self.tail)
        if len(joined) > half:
            self.dropped += len(joined) - half
            joined = joined[-half:]
        self.tail, self.tail_size = [joined], len(joined)

    def getvalue(self) -> str:
        self._trim()
        head, tail = "".join(self.head), "".join(self.tail)
        if self.dropped:
            return f"{head}\n... [{self.dropped} characters of output dropped] ...\n{tail}"
        return head + tail


class CellStream(io.TextIOBase):
    """``sys.stdout`` or ``sys.stderr`` for the whole run, as ipykernel's ``OutStream``: one stable object
    that routes each write to the capture of the cell running now (`route`), so a ``logging.StreamHandler()``
    made in cell 1 (it keeps the ``sys.stderr`` of its day) writes cell 5's log lines into cell 5's output,
    as in a kernel. Between cells there is no cell to show a write under: it is dropped."""

    encoding = "utf-8"
    errors = "strict"

    def __init__(self, name: str):
        self.name = name
        self.target: BoundedText | None = None

    def route(self, target: "BoundedText | None") -> None:
        self.target = target

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def close(self) -> None:
        """A cell closing ``sys.stdout`` would silence every later cell: the run's streams stay open."""

    def write(self, text) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        target = self.target
        return target.write(text) if target is not None else len(text)


def make_shell():
    """The IPython shell that runs cells; a warm worker makes it once, before forking any run."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    if InteractiveShell.initialized():
        return InteractiveShell.instance()
    config = Config()
    config.HistoryManager.enabled = False
    config.InteractiveShell.cache_size = 0
    config.InteractiveShell.colors = "NoColor"
    config.InteractiveShell.autocall = 0
    shell = InteractiveShell.instance(config=config)
    # The harness reports values and errors itself; IPython should print (and format) neither.
    shell.displayhook.write_output_prompt = lambda: None
    shell.displayhook.write_format_data = lambda *args, **kwargs: None
    shell.showtraceback = lambda *args, **kwargs: None
    shell.showsyntaxerror = lambda *args, **kwargs: None
    # IPython builds some state on first use (the formatters' lazy trait defaults, a display publisher's
    # class set-up): build it here, once per warm worker, not again in every run forked from it.
    from IPython.core.displaypub import CapturingDisplayPublisher

    shell.display_formatter.format(0)
    CapturingDisplayPublisher()
    return shell


class Guard:
    """The functions of guarded modules and classes as they were before any notebook code ran, and the
    library names (modules, functions, classes) read-only cells bound; put back before each test cell."""

    def __init__(self):
        self.modules: list[tuple[dict, dict]] = []
        self.classes: list[tuple[type, dict]] = []
        self.seen: set[str] = set()
        self.bindings: dict[str, object] = {}
        self.codes: list[tuple[object, object]] = []  # (function, its __code__ before the notebook ran)
        for name in ("capture", "note_bindings", "restore", "original", "changed"):  # bound now (see TamperWatch)
            setattr(self, name, getattr(self, name))
        self.trusted_classes: dict[type, dict] = {}  # classes read-only cells defined -> their functions then

    def capture(self) -> None:
        for name in GUARDED_MODULES:
            module = sys.modules.get(name)
            if module is not None and name not in self.seen:
                self.seen.add(name)
                namespace = vars(module)
                snapshot = {k: v for k, v in namespace.items() if _is_code(v)}
                self.modules.append((namespace, snapshot))
                self.codes += [(v, v.__code__) for v in snapshot.values() if type(v) is _FunctionType]
        for module_name, class_name in GUARDED_CLASSES:
            key = f"{module_name}.{class_name}"
            module = sys.modules.get(module_name)
            cls = getattr(module, class_name, None) if module is not None else None
            if isinstance(cls, type) and key not in self.seen:
                self.seen.add(key)
                self.classes.append((cls, dict(vars(cls))))

    def note_bindings(self, namespace: dict, before: dict) -> None:
        """After a read-only cell: remember the library objects it bound (``import numpy as np``...)."""
        for name, value in namespace.items():
            if before.get(name, _ABSENT) is not value and _is_library(value):
                self.bindings[name] = value
            elif before.get(name, _ABSENT) is not value and isinstance(value, type):
                # a class the instructor defined (a dataset, a node...): its own comparisons are trusted as they
                # are now (`asserts`); the notebook changing one of its functions later makes it the notebook's
                self.trusted_classes[value] = {k: v for k, v in vars(value).items() if isinstance(v, _FunctionType)}

    def restore(self, namespace: dict) -> list[str]:
        restored = []
        for module_namespace, snapshot in self.modules:
            for key, value in snapshot.items():
                if module_namespace.get(key, _ABSENT) is not value:
                    module_namespace[key] = value
                    restored.append(f"{module_namespace.get('__name__')}.{key}")
        for cls, snapshot in self.classes:
            current = vars(cls)
            for key in [k for k in current if k not in snapshot]:
                try:
                    delattr(cls, key)
                    restored.append(f"{cls.__name__}.{key}")
                except (AttributeError, TypeError):
                    pass
            for key, value in snapshot.items():
                if current.get(key, _ABSENT) is not value:
                    try:
                        setattr(cls, key, value)
                        restored.append(f"{cls.__name__}.{key}")
                    except (AttributeError, TypeError):
                        pass
        for name, value in self.bindings.items():
            if namespace.get(name, _ABSENT) is not value:
                namespace[name] = value
                restored.append(name)
        for function, code in self.codes:
            if function.__code__ is not code:
                function.__code__ = code
                restored.append(f"{function.__module__}.{function.__qualname__}.__code__")
        return restored

    def original(self, module, name: str):
        """``module.name`` as it was before the notebook ran, when ``module`` is guarded; else None."""
        namespace = vars(module)
        for module_namespace, snapshot in self.modules:
            if module_namespace is namespace:
                return snapshot.get(name)
        return None

    def changed(self) -> list[tuple[str, object]]:
        """What differs from the snapshot now (after a test cell: re-patched while it ran), restoring nothing:
        (name, what is there now)."""
        changed = []
        for module_namespace, snapshot in self.modules:
            changed += [(f"{module_namespace.get('__name__')}.{key}", module_namespace.get(key)) for key, value in snapshot.items()
                        if module_namespace.get(key, _ABSENT) is not value]
        for cls, snapshot in self.classes:
            current = vars(cls)
            changed += [(f"{cls.__name__}.{key}", current.get(key)) for key, value in snapshot.items() if current.get(key, _ABSENT) is not value]
        changed += [(f"{function.__module__}.{function.__qualname__}.__code__", function.__code__)
                    for function, code in self.codes if function.__code__ is not code]
        return changed


_ABSENT = object()


def _is_code(value) -> bool:
    return callable(value) or inspect.ismodule(value)


def _is_library(value) -> bool:
    if inspect.ismodule(value):
        return True
    return (inspect.isfunction(value) or inspect.isbuiltin(value) or inspect.isclass(value)) and \
        getattr(value, "__module__", "__main__") not in ("__main__", None)


class CellSource:
    """The job pipe, read one line at a time: the header, then one cell each time the runner asks.

    The parent writes nothing ahead, so nothing of a later cell waits in this process or in the pipe;
    what was read is zeroed before it is dropped.
    """

    def __init__(self, fd: int):
        self.fd = fd
        self.buffer = bytearray()

    def line(self) -> bytes | None:
        while b"\n" not in self.buffer:
            chunk = _os_read(self.fd, 1 << 16)
            if not chunk:
                return None  # the parent closed the pipe: no more cells
            self.buffer += chunk
        end = self.buffer.index(b"\n") + 1
        line, rest = bytes(self.buffer[:end - 1]), self.buffer[end:]
        self.buffer[:] = bytes(len(self.buffer))  # overwrite what was read before letting go of it
        self.buffer = rest
        return line

    def header(self) -> JobHeader:
        line = self.line()
        if line is None:
            raise RuntimeError("the job pipe closed before the job's header arrived")
        return JobHeader.from_json(json.loads(line))

    def next_cell(self) -> JobCell | None:
        line = self.line()
        return None if line is None else JobCell.from_json(json.loads(line))


class Runner:
    def __init__(self, job: JobHeader, channel_fd: int, cells: CellSource):
        self.job = job
        self.cells = cells
        self.pid = _getpid()
        self.guard = Guard()
        self.fd = channel_fd
        self._exec_test = self.exec_test_cell  # bound now: patching the class later changes nothing here
        self.index: int | None = None
        self.cell_timeout = float(job.cell_timeout or 0)
        self.output_limit = int(job.output_limit)
        self.streams = CellStream("stdout"), CellStream("stderr")  # sys.stdout / sys.stderr of every cell

    # ------------------------------------------------------------------------------------ the channel

    def emit(self, event) -> None:
        """Write one protocol event (`autograder.wire.protocol`) on the channel, as one JSON line."""
        if _getpid() != self.pid:  # a copy of the runner in a process the notebook forked: it has nothing to say
            _os_exit(0)
        data = (_json_dumps(event.to_json(), default=str) + "\n").encode("utf-8")
        blobs = event.record.blobs if isinstance(event, CheckEvent) else ()
        for frame in (data, *blobs):  # a check's large arrays follow its line as raw bytes (see CheckEvent)
            view = memoryview(frame).cast("B")
            while view:
                written = _os_write(self.fd, view)
                view = view[written:]

    def record_check(self, record: CheckRecord | dict) -> None:
        if not isinstance(record, CheckRecord):  # notebook code calling the recorder itself: it gets the same checks
            record = CheckRecord.from_json(record)
        # Sending is the harness's time, not the cell's: a 100 MB state_dict must not run out the cell's clock
        # (nor be cut in the middle of its line by the alarm). The parent credits the same time on its side.
        remaining, _ = _getitimer(signal.ITIMER_REAL)
        if remaining:
            _setitimer(signal.ITIMER_REAL, 0)
        try:
            self.emit(CheckEvent(self.index, record))
        finally:
            if remaining:
                _setitimer(signal.ITIMER_REAL, remaining)

    # ------------------------------------------------------------------------------------- set-up

    def start_shell(self):
        from IPython.core.inputtransformer2 import TransformerManager

        self.shell = make_shell()
        self.test_transformer = TransformerManager()  # the harness's own: student-registered ones don't apply

    def preload_reference(self) -> None:
        """Trusted side only: put the reference implementation's names in the notebook's namespace."""
        import importlib.util

        preload = self.job.preload
        sys.path.insert(0, preload.course_root)
        spec = importlib.util.spec_from_file_location(preload.module_name, preload.module_path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[preload.module_name] = module
        spec.loader.exec_module(module)
        exported = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
        self.shell.user_ns.update({name: getattr(module, name) for name in exported})

    # ----------------------------------------------------------------------------------- execution

    def _on_alarm(self, signum, frame):  # noqa: ARG002
        raise CellTimeout(f"the cell ran longer than {self.cell_timeout:g} s")

    def run(self) -> None:
        from autograder.sandbox.inside import checks
        from autograder.wire import seeding
        self.start_shell()
        checks._install(self.job.mode, self.record_check)
        if self.job.device == "cuda":
            seeding.deterministic_torch()
        if self.job.preload is not None and self.job.mode is Mode.REFERENCE:
            self.preload_reference()
        signal.signal(signal.SIGALRM, self._on_alarm)
        guard, emit, run_cell, namespace = self.guard, self.emit, self.run_cell, self.shell.user_ns
        guard.capture()
        watch_before, watch_after = self.start_watch()
        emit(Start(os.getpid()))
        next_cell, forget = self.cells.next_cell, self.forget
        while (cell := next_cell()) is not None:
            self.index = cell.index
            emit(CellStart(self.index))
            if cell.harness_exec:
                watch_before(cell, namespace)
            if cell.seed is not None:
                seeding.seed_everything(cell.seed)
            before = dict(namespace) if cell.kind in _TRUSTED_KINDS else None
            end = run_cell(cell)
            if before is not None:
                guard.note_bindings(namespace, before)
            end = watch_after(cell, end, namespace)
            emit(end)
            if cell.harness_exec:
                forget(cell, end)
            cell = end = None  # the loop's names would otherwise keep the last cell until the next arrives
        self.index = None
        emit(Done())

    # ------------------------------------------------------------------------------ tamper evidence

    def start_watch(self):
        """Watch the notebook from its first cell (`autograder.sandbox.inside.tamper`); the two functions
        the loop calls around each cell, bound now (patching the class later changes nothing here)."""
        from autograder.sandbox.inside import checks

        modules = [sys.modules[__name__], tamper, asserts, checks, sys.modules[CellEnd.__module__]]
        classes = [Runner, Guard, CellSource, BoundedText, tamper.TamperWatch, asserts.Assertions, CellEnd, CheckEvent, CheckRecord]
        self.watch = tamper.TamperWatch(self.guard, tamper.protected_functions(modules, classes))
        self.watch.enabled = self.job.mode is Mode.RECORD  # the reference pass and a student's own check are no suspects
        if self.watch.enabled:
            self.watch.install()
        self.assertions = asserts.Assertions(self.guard, self.watch.note)
        return self.before_test_cell, self.after_cell

    def before_test_cell(self, cell: JobCell, namespace: dict) -> None:
        watch = self.watch
        watch.clear_hooks()
        watch.quiet = True  # putting back a replaced __code__ is the harness's own doing, no evidence
        try:
            self.guard.capture()  # libraries the notebook imported itself are guarded from here on
            self.guard.restore(namespace)
        finally:
            watch.quiet = False
        namespace[asserts_name()] = self.assertions
        watch.before_test(cell.grade_id or str(cell.index))

    def after_cell(self, cell: JobCell, end: CellEnd, namespace: dict) -> CellEnd:
        if not cell.harness_exec:
            return self.watch.after_cell(end)
        if namespace.get(asserts_name()) is not self.assertions:
            self.watch._found(f"replaced the harness's assertion helper {asserts_name()}")
        return self.watch.after_test(end)

    def forget(self, cell: JobCell, end: CellEnd) -> None:
        """After a test cell: drop what this process held of its source (linecache's copy, which tracebacks
        used; the cycles an exception leaves, which hold the cell's code until a collection)."""
        linecache.cache.pop(_test_filename(cell.index), None)
        if not end.ok:
            gc.collect()

    def run_cell(self, cell: JobCell) -> CellEnd:
        stdout, stderr = BoundedText(self.output_limit, "stdout"), BoundedText(self.output_limit, "stderr")
        saved = sys.stdout, sys.stderr
        from IPython.core.displaypub import CapturingDisplayPublisher

        display = CapturingDisplayPublisher()
        saved_display = self.shell.display_pub
        self.shell.display_pub = display
        started = _monotonic()
        status, error, result = CellStatus.OK, None, None
        for stream, capture in zip(self.streams, (stdout, stderr)):
            stream.route(capture)
        sys.stdout, sys.stderr = self.streams  # put back too if the previous cell replaced them
        if self.cell_timeout > 0:
            signal.setitimer(signal.ITIMER_REAL, self.cell_timeout)
        try:
            if cell.harness_exec:
                result = self._exec_test(cell.source, cell.index)
            else:
                outcome = self.shell.run_cell(cell.source, store_history=True)
                failure = outcome.error_before_exec or outcome.error_in_exec
                if failure is not None:
                    raise failure
                result = outcome.result
        except BaseException as failure:  # SystemExit and KeyboardInterrupt from the cell are its errors too
            status = CellStatus.TIMEOUT if isinstance(failure, CellTimeout) else CellStatus.ERROR
            error = _describe_error(failure)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            for stream in self.streams:
                stream.route(None)
            sys.stdout, sys.stderr = saved
            self.shell.display_pub = saved_display
        outputs = []
        if stdout.getvalue():
            outputs.append({"output_type": "stream", "name": "stdout", "text": stdout.getvalue()})
        if stderr.getvalue():
            outputs.append({"output_type": "stream", "name": "stderr", "text": stderr.getvalue()})
        for item in display.outputs:
            outputs.append({"output_type": "display_data", "data": _limit_data(item.get("data", {}), self.output_limit), "metadata": {}})
        if result is not None and status is CellStatus.OK:
            try:
                data, _ = self.shell.display_formatter.format(result)
            except Exception as failure:  # a repr that raises is reported, not fatal
                data = {"text/plain": f"<unprintable result: {type(failure).__name__}>"}
            outputs.append({"output_type": "execute_result", "data": _limit_data(data, self.output_limit), "metadata": {}})
        if error is not None:
            outputs.append(error.to_output())
        return CellEnd(cell.index, status, tuple(outputs), round(_monotonic() - started, 6))

    def exec_test_cell(self, source: str, index: int):
        """Run a test cell with the harness's own compile/exec; return its last expression's value."""
        code = self.test_transformer.transform_cell(source)
        filename = _test_filename(index)
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)  # tracebacks show the line
        tree = self.assertions.rewrite(ast.parse(code, filename=filename))
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        namespace = self.shell.user_ns
        namespace.setdefault("get_ipython", lambda: self.shell)
        # The test's own code sees the builtins as they were before the notebook ran (abs, len, isinstance...).
        saved_builtins = namespace.get("__builtins__")
        namespace["__builtins__"] = dict(_pristine_builtins)
        try:
            _exec(_compile(tree, filename, "exec"), namespace)
            if last is not None:
                return _eval(_compile(last, filename, "eval"), namespace)
            return None
        finally:
            namespace["__builtins__"] = saved_builtins


def asserts_name() -> str:
    """The test namespace's name of the harness's assertion helper (`autograder.sandbox.inside.asserts`)."""
    return asserts.HELPER_NAME


def _test_filename(index: int) -> str:
    return f"<test cell {index}>"


def _limit_data(data: dict, limit: int) -> dict:
    limited = {}
    for mime, value in data.items():
        text = value if isinstance(value, str) else json.dumps(value)
        if len(text) > limit * 50:  # images are large but legitimate; a 1 GB "image" is not
            text = text[: limit] + "... [truncated]"
        limited[str(mime)] = text
    return limited


def _describe_error(error: BaseException) -> CellError:
    # Keep the student's frames; IPython's and the harness's own frames are noise to a student.
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if "/IPython/" not in f.filename and not f.filename.endswith("sandbox/inside/runner.py")]
    lines = ["Traceback (most recent call last):\n"] if frames else []
    lines += traceback.format_list(frames) + traceback.format_exception_only(type(error), error)
    try:
        evalue = str(error)
    except Exception:
        evalue = "<error message unavailable>"
    return CellError(type(error).__name__, evalue[:2000], tuple("".join(lines)[-8000:].splitlines()))


def _private(fd: int) -> int:
    """``fd`` moved to a descriptor no process the notebook starts inherits."""
    private = os.dup(fd)
    os.close(fd)
    os.set_inheritable(private, False)
    return private


def run_forked(job_fd: int, fd: int) -> None:
    """Entry point in a child forked from a warm worker (`autograder.sandbox.inside.warm`)."""
    channel, cells = _private(fd), CellSource(_private(job_fd))
    Runner(cells.header(), channel, cells).run()
    os._exit(0)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    fd = int(argv[-1])
    # The job comes on stdin; the notebook's stdin is /dev/null (its `input()` must not read the job).
    job_fd = os.dup(0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    # Keep the channel off the usual descriptors and out of any process the notebook starts.
    channel, cells = _private(fd), CellSource(_private(job_fd))
    Runner(cells.header(), channel, cells).run()
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown: a notebook's atexit handlers and threads don't matter any more


if __name__ == "__main__":
    main()
