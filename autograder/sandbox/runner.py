"""Where a submission runs: the child process that executes notebook cells (untrusted side).

The parent (`autograder.sandbox.launch`) starts this module in a fresh interpreter with a job (JSON) and
a pipe. The runner executes the job's cells one by one and writes one JSON line per event to the pipe:

    {"event": "cell_start", "index": 3}
    {"event": "check", "index": 3, "record": {...}}      # a value recorded by autograder.checks
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
import io
import json
import linecache
import os
import signal
import sys
import time
import traceback

# Captured before any notebook code runs: test cells are compiled and executed with these.
_compile = builtins.compile
_exec = builtins.exec
_eval = builtins.eval
_json_dumps = json.dumps
_os_write = os.write
_monotonic = time.monotonic


class CellTimeout(BaseException):
    """Raised in the cell's thread when its time is up (a BaseException, so `except Exception` can't eat it)."""


class BoundedText(io.TextIOBase):
    """A text stream that keeps the first and last ``limit // 2`` characters of what is written to it."""

    def __init__(self, limit: int, name: str):
        self.limit = max(int(limit), 2)
        self.name = name
        self.head: list[str] = []
        self.head_size = 0
        self.tail = ""
        self.dropped = 0

    def writable(self) -> bool:
        return True

    def write(self, text) -> int:
        text = str(text)
        half = self.limit // 2
        if self.head_size < half:
            take = text[: half - self.head_size]
            self.head.append(take)
            self.head_size += len(take)
            text = text[len(take):]
        if text:
            combined = self.tail + text
            if len(combined) > half:
                self.dropped += len(combined) - half
                combined = combined[-half:]
            self.tail = combined
        return len(text)

    def getvalue(self) -> str:
        head = "".join(self.head)
        if self.dropped:
            return f"{head}\n... [{self.dropped} characters of output dropped] ...\n{self.tail}"
        return head + self.tail


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
    return shell


class Runner:
    def __init__(self, job: dict, channel_fd: int):
        self.job = job
        self.fd = channel_fd
        self.index: int | None = None
        self.cell_timeout = float(job.get("cell_timeout") or 0)
        self.output_limit = int(job.get("output_limit", 20000))

    # ------------------------------------------------------------------------------------ the channel

    def emit(self, event: dict) -> None:
        data = (_json_dumps(event, default=str) + "\n").encode("utf-8")
        view = memoryview(data)
        while view:
            written = _os_write(self.fd, view)
            view = view[written:]

    def record_check(self, record: dict) -> None:
        self.emit({"event": "check", "index": self.index, "record": record})

    # ------------------------------------------------------------------------------------- set-up

    def start_shell(self):
        from IPython.core.inputtransformer2 import TransformerManager

        self.shell = make_shell()
        self.test_transformer = TransformerManager()  # the harness's own: student-registered ones don't apply

    def preload_reference(self) -> None:
        """Trusted side only: put the reference implementation's names in the notebook's namespace."""
        import importlib.util

        preload = self.job["preload"]
        sys.path.insert(0, preload["course_root"])
        spec = importlib.util.spec_from_file_location(preload["module_name"], preload["module_path"])
        module = importlib.util.module_from_spec(spec)
        sys.modules[preload["module_name"]] = module
        spec.loader.exec_module(module)
        exported = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
        self.shell.user_ns.update({name: getattr(module, name) for name in exported})

    # ----------------------------------------------------------------------------------- execution

    def _on_alarm(self, signum, frame):  # noqa: ARG002
        raise CellTimeout(f"the cell ran longer than {self.cell_timeout:g} s")

    def run(self) -> None:
        from autograder import checks, seeding

        self.start_shell()
        checks._install(self.job["mode"], self.record_check)
        if self.job.get("device") == "cuda":
            seeding.deterministic_torch()
        if self.job.get("preload"):
            self.preload_reference()
        signal.signal(signal.SIGALRM, self._on_alarm)
        self.emit({"event": "start", "pid": os.getpid()})
        for cell in self.job["cells"]:
            self.index = cell["index"]
            self.emit({"event": "cell_start", "index": self.index})
            if cell.get("seed") is not None:
                seeding.seed_everything(cell["seed"])
            self.emit(self.run_cell(cell))
        self.index = None
        self.emit({"event": "done"})

    def run_cell(self, cell: dict) -> dict:
        stdout, stderr = BoundedText(self.output_limit, "stdout"), BoundedText(self.output_limit, "stderr")
        saved = sys.stdout, sys.stderr
        from IPython.core.displaypub import CapturingDisplayPublisher

        display = CapturingDisplayPublisher()
        saved_display = self.shell.display_pub
        self.shell.display_pub = display
        started = _monotonic()
        status, error, result = "ok", None, None
        sys.stdout, sys.stderr = stdout, stderr
        if self.cell_timeout > 0:
            signal.setitimer(signal.ITIMER_REAL, self.cell_timeout)
        try:
            if cell.get("harness_exec"):
                result = self.exec_test_cell(cell["source"], cell["index"])
            else:
                outcome = self.shell.run_cell(cell["source"], store_history=True)
                failure = outcome.error_before_exec or outcome.error_in_exec
                if failure is not None:
                    raise failure
                result = outcome.result
        except BaseException as failure:  # SystemExit and KeyboardInterrupt from the cell are its errors too
            status = "timeout" if isinstance(failure, CellTimeout) else "error"
            error = _describe_error(failure)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            sys.stdout, sys.stderr = saved
            self.shell.display_pub = saved_display
        outputs = []
        if stdout.getvalue():
            outputs.append({"output_type": "stream", "name": "stdout", "text": stdout.getvalue()})
        if stderr.getvalue():
            outputs.append({"output_type": "stream", "name": "stderr", "text": stderr.getvalue()})
        for item in display.outputs:
            outputs.append({"output_type": "display_data", "data": _limit_data(item.get("data", {}), self.output_limit), "metadata": {}})
        if result is not None and status == "ok":
            try:
                data, _ = self.shell.display_formatter.format(result)
            except Exception as failure:  # a repr that raises is reported, not fatal
                data = {"text/plain": f"<unprintable result: {type(failure).__name__}>"}
            outputs.append({"output_type": "execute_result", "data": _limit_data(data, self.output_limit), "metadata": {}})
        if error is not None:
            outputs.append({"output_type": "error", **error})
        return {
            "event": "cell_end",
            "index": cell["index"],
            "status": status,
            "outputs": outputs,
            "duration": round(_monotonic() - started, 6),
        }

    def exec_test_cell(self, source: str, index: int):
        """Run a test cell with the harness's own compile/exec; return its last expression's value."""
        code = self.test_transformer.transform_cell(source)
        filename = f"<test cell {index}>"
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)  # tracebacks show the line
        tree = ast.parse(code, filename=filename)
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        namespace = self.shell.user_ns
        namespace.setdefault("get_ipython", lambda: self.shell)
        _exec(_compile(tree, f"<test cell {index}>", "exec"), namespace)
        if last is not None:
            return _eval(_compile(last, f"<test cell {index}>", "eval"), namespace)
        return None


def _limit_data(data: dict, limit: int) -> dict:
    limited = {}
    for mime, value in data.items():
        text = value if isinstance(value, str) else json.dumps(value)
        if len(text) > limit * 50:  # images are large but legitimate; a 1 GB "image" is not
            text = text[: limit] + "... [truncated]"
        limited[str(mime)] = text
    return limited


def _describe_error(error: BaseException) -> dict:
    # Keep the student's frames; IPython's and the harness's own frames are noise to a student.
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if "/IPython/" not in f.filename and not f.filename.endswith("sandbox/runner.py")]
    lines = ["Traceback (most recent call last):\n"] if frames else []
    lines += traceback.format_list(frames) + traceback.format_exception_only(type(error), error)
    try:
        evalue = str(error)
    except Exception:
        evalue = "<error message unavailable>"
    return {"ename": type(error).__name__, "evalue": evalue[:2000], "traceback": "".join(lines)[-8000:].splitlines()}


def run_forked(job: dict, fd: int) -> None:
    """Entry point in a child forked from a warm worker (`autograder.sandbox.warm`)."""
    channel = os.dup(fd)
    os.close(fd)
    os.set_inheritable(channel, False)
    Runner(job, channel).run()
    os._exit(0)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    job_path, fd = argv[0], int(argv[1])
    if job_path == "-":
        job = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    else:
        with open(job_path, encoding="utf-8") as handle:
            job = json.load(handle)
    # Keep the channel off the usual descriptors and out of any process the notebook starts.
    channel = os.dup(fd)
    os.close(fd)
    os.set_inheritable(channel, False)
    Runner(job, channel).run()
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown: a notebook's atexit handlers and threads don't matter any more


if __name__ == "__main__":
    main()
