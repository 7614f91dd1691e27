"""The protocol between the grader and the student's process: the job, the events, the check outcomes.

Every message that crosses the sandbox boundary is one of the frozen dataclasses below. They are turned
into JSON at exactly two ends of the pipe and nowhere else:

* the child (`autograder.sandbox.inside.runner`) receives `JobCell`s and writes events with ``to_json``;
* the parent (`autograder.sandbox.launch`) builds the `Job` and reads events with `parse_event`, which
  raises `ProtocolError` for anything that is not a well-formed event (the run is then void, as for any
  event out of order: the notebook may be writing on the channel itself).

Everything between (scoring, the student's report, verify, the reference pass, disclosure) works on the
typed objects, so what "the first error of a cell" or "the options of a check" means is written once,
here, instead of once per reader of a dict.

Why typed: the same dicts were built by hand in four places and read back in six, each with its own idea
of the defaults; one spelling mistake ("reference" vs "refrence") silently ran a student's notebook as
trusted. The mode is an `Enum`, so such a mistake is an error where it is made.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from autograder.wire.compare import Options

#: The default of ``--output-limit``: characters of a cell's output kept (head and tail).
DEFAULT_OUTPUT_LIMIT_CHARS = 20000


class ProtocolError(ValueError):
    """A message that is not what the protocol allows; the text says which field and why."""


class Mode(StrEnum):
    """Who runs the job, which decides what a check does and whether the run is confined."""

    RECORD = "record"  # grading: checks record the student's values; the grader decides outside
    LOCAL = "local"  # a student's `autograder check`: visible checks decide in the process, as in Jupyter
    REFERENCE = "reference"  # the trusted reference pass: solutions/ preloaded, checks record expected values


#: The error a test cell ends with when the runner saw tamper evidence while it ran: its verdict is void
#: (`autograder.sandbox.inside.tamper`); the grader scores the cell zero and flags the submission.
TAMPER_ENAME = "TamperEvidence"


class CellStatus(StrEnum):
    OK = "ok"
    ERROR = "error"
    TIMEOUT = "timeout"
    CRASHED = "crashed"  # only made by the parent: the process died during the cell


class LocalVerdict(StrEnum):
    """What a check decided in a student's own process (local mode)."""

    PASSED = "passed"
    FAILED = "failed"
    WHEN_GRADED = "when_graded"  # no expected= literal, or a metric: compared with the reference when graded


def _require(condition: bool, what: str) -> None:
    if not condition:
        raise ProtocolError(what)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _optional_number(value: Any, what: str) -> float | None:
    if value is None:
        return None
    _require(isinstance(value, (int, float)) and not isinstance(value, bool), f"{what} must be a number or null, not {value!r:.40}")
    return float(value)


# ------------------------------------------------------------------------------------------------ the job


@dataclass(frozen=True)
class JobCell:
    """One cell to run. Test cells run through the harness's own exec (``harness_exec``) under ``seed``."""

    index: int
    source: str
    grade_id: str | None = None
    kind: str = ""
    harness_exec: bool = False
    seed: int | None = None

    def __post_init__(self):
        # a cell kind may come as `autograder.course.cells.Kind` (a str enum): keep its plain value
        object.__setattr__(self, "kind", str(getattr(self.kind, "value", self.kind) or ""))

    def to_json(self) -> dict:
        return {"index": self.index, "source": self.source, "grade_id": self.grade_id, "kind": self.kind,
                "harness_exec": self.harness_exec, "seed": self.seed}

    @classmethod
    def from_json(cls, data: dict) -> "JobCell":
        _require(isinstance(data, dict), "a job cell must be an object")
        _require(_is_int(data.get("index")), f"a job cell needs an integer index, not {data.get('index')!r:.40}")
        _require(isinstance(data.get("source", ""), str), "a job cell's source must be a string")
        seed = data.get("seed")
        _require(seed is None or _is_int(seed), "a job cell's seed must be an integer or null")
        return cls(data["index"], data.get("source", ""), data.get("grade_id"), data.get("kind") or "",
                   bool(data.get("harness_exec", False)), seed)


@dataclass(frozen=True)
class Preload:
    """Trusted reference pass only: the module whose names replace the student's answers."""

    course_root: str
    module_name: str
    module_path: str

    def to_json(self) -> dict:
        return {"course_root": self.course_root, "module_name": self.module_name, "module_path": self.module_path}


@dataclass(frozen=True)
class Job:
    """What one run does. The limits (``cell_timeout`` in seconds, ``output_limit`` in characters, ``device``)
    are filled in by `autograder.sandbox.launch` from the grader's `Limits`."""

    mode: Mode
    cells: tuple[JobCell, ...]
    cell_timeout: float = 0.0
    output_limit: int = DEFAULT_OUTPUT_LIMIT_CHARS
    device: str = "cpu"
    preload: Preload | None = None

    def __post_init__(self):
        object.__setattr__(self, "mode", Mode(self.mode))  # "refrence" fails here, not as an unconfined run
        object.__setattr__(self, "cells", tuple(self.cells))
        if self.preload is not None and self.mode is not Mode.REFERENCE:
            raise ProtocolError("only the reference pass preloads solutions/")

    @property
    def trusted(self) -> bool:
        """The reference pass: it imports solutions/ and is therefore never confined nor forked from a warm worker."""
        return self.mode is Mode.REFERENCE

    def with_cells(self, cells) -> "Job":
        return replace(self, cells=tuple(cells))

    def header(self) -> dict:
        """The job without its cells: what the child learns before the first cell (cells come one at a time)."""
        return {"mode": self.mode.value, "cell_timeout": self.cell_timeout, "output_limit": self.output_limit,
                "device": self.device, "preload": None if self.preload is None else self.preload.to_json(),
                "cells": len(self.cells)}

    @classmethod
    def coerce(cls, job: "Job | dict") -> "Job":
        """A `Job` as it is, or the JSON form of one (tests and tools write jobs as dicts)."""
        if isinstance(job, Job):
            return job
        preload = job.get("preload")
        return cls(Mode(job.get("mode", Mode.RECORD)), tuple(JobCell.from_json(c) for c in job.get("cells", [])),
                   float(job.get("cell_timeout") or 0), int(job.get("output_limit", DEFAULT_OUTPUT_LIMIT_CHARS)),
                   str(job.get("device") or "cpu"), Preload(**preload) if preload else None)


@dataclass(frozen=True)
class JobHeader:
    """The child's view of the job before any cell: mode, limits, how many cells will come."""

    mode: Mode
    cell_timeout: float
    output_limit: int
    device: str
    preload: Preload | None
    cells: int

    @classmethod
    def from_json(cls, data: dict) -> "JobHeader":
        preload = data.get("preload")
        return cls(Mode(data["mode"]), float(data.get("cell_timeout") or 0), int(data.get("output_limit", DEFAULT_OUTPUT_LIMIT_CHARS)),
                   str(data.get("device") or "cpu"), Preload(**preload) if preload else None, int(data.get("cells", 0)))


# --------------------------------------------------------------------------------------------- the events


@dataclass(frozen=True)
class CellError:
    """The error a cell raised, as Jupyter shows one."""

    ename: str
    evalue: str
    traceback: tuple[str, ...] = ()

    def to_output(self) -> dict:
        return {"output_type": "error", "ename": self.ename, "evalue": self.evalue, "traceback": list(self.traceback)}

    @classmethod
    def from_output(cls, output: dict) -> "CellError":
        traceback = output.get("traceback") or []
        return cls(str(output.get("ename", "Error")), str(output.get("evalue", "")),
                   tuple(str(line) for line in traceback) if isinstance(traceback, list) else (str(traceback),))

    @property
    def unanswered(self) -> bool:
        """The released stub's ``raise NotImplementedError``: the question was left as released."""
        return self.ename == "NotImplementedError"

    def line(self) -> str:
        """One line for a message: ``ename: evalue``; a bare ``assert`` shows the statement that failed."""
        line = f"{self.ename}: {self.evalue}".strip().rstrip(":")
        if not self.evalue:
            code = [text.strip() for text in self.traceback if text.startswith("    ") and text.strip() and set(text.strip()) - set("^~")]
            if code:
                line += f" in `{code[-1]}`"
        return line


@dataclass(frozen=True)
class Start:
    pid: int

    def to_json(self) -> dict:
        return {"event": "start", "pid": self.pid}


@dataclass(frozen=True)
class CellStart:
    index: int

    def to_json(self) -> dict:
        return {"event": "cell_start", "index": self.index}


@dataclass(frozen=True)
class CellEnd:
    """How a cell ended: its status, its outputs (Jupyter's output dicts, truncated), its duration in seconds."""

    index: int
    status: CellStatus
    outputs: tuple[dict, ...] = ()
    duration: float | None = None
    #: tamper evidence the runner saw up to this cell's end ("flagged for review: ..."; see `sandbox.inside.tamper`)
    flags: tuple[str, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "status", CellStatus(self.status))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        object.__setattr__(self, "flags", tuple(str(flag)[:500] for flag in self.flags))

    @property
    def ok(self) -> bool:
        return self.status is CellStatus.OK

    @property
    def stopped(self) -> bool:
        """Stopped from outside or by its alarm (timeout, crash): the cell's end is not its own."""
        return self.status in (CellStatus.TIMEOUT, CellStatus.CRASHED)

    @property
    def error(self) -> CellError | None:
        """The first error the cell reported (the one a message names), or None."""
        for output in self.outputs:
            if output.get("output_type") == "error":
                return CellError.from_output(output)
        return None

    def stream(self, name: str) -> str:
        """Everything the cell wrote to ``stdout`` or ``stderr``."""
        return "".join(str(o.get("text", "")) for o in self.outputs if o.get("output_type") == "stream" and o.get("name") == name)

    @classmethod
    def synthetic(cls, index: int, status: CellStatus, message: str) -> "CellEnd":
        """The end the parent writes for a cell whose process was stopped or voided."""
        return cls(index, status, (CellError(CellStatus(status).value.capitalize(), message, (message,)).to_output(),), None)

    def to_json(self) -> dict:
        data = {"event": "cell_end", "index": self.index, "status": self.status.value, "outputs": list(self.outputs),
                "duration": self.duration}
        if self.flags:
            data["flags"] = list(self.flags)
        return data


@dataclass(frozen=True)
class CheckRecord:
    """What one check recorded: the value (plain data, see `autograder.wire.values`) or why it has none.

    On the grader's side ``options``, ``weight``, ``message`` and the metric's bounds are read only from the
    reference's record, never from the student's. ``expected`` is the reference's ``expected=`` literal.
    ``local`` is what the check decided in a student's own process (local mode only). ``hint`` is the
    instructor's advice shown after a failure (``hint="..."`` on the check), read only from the reference's record.
    """

    name: str
    options: Options = Options()
    weight: float = 1.0
    seed: int | None = None
    message: str = ""
    value: Any = None
    error: str | None = None
    expected: Any = None
    has_expected: bool = False
    metric: str | None = None
    at_least: float | None = None
    at_most: float | None = None
    local: LocalVerdict | None = None
    hint: str = ""
    #: child side only: the value's large arrays as raw .npy bytes, sent after the event (`values.collect_blobs`)
    blobs: tuple = field(default=(), compare=False, repr=False)

    @property
    def is_metric(self) -> bool:
        return self.options.kind == "metric"

    def to_json(self) -> dict:
        data: dict[str, Any] = {
            "name": self.name,
            "options": {"kind": self.options.kind, "rtol": self.options.rtol, "atol": self.options.atol,
                        "equal_nan": self.options.equal_nan, "check_dtype": self.options.check_dtype},
            "weight": self.weight, "seed": self.seed, "message": self.message,
        }
        if self.error is not None:
            data["error"] = self.error
        else:
            data["value"] = self.value
        if self.has_expected:
            data["expected"] = self.expected
        if self.is_metric:
            data.update(metric=self.metric, at_least=self.at_least, at_most=self.at_most)
        if self.local is not None:
            data["local"] = self.local.value
        if self.hint:
            data["hint"] = self.hint
        return data

    @classmethod
    def from_json(cls, data: Any) -> "CheckRecord":
        _require(isinstance(data, dict), "a check record must be an object")
        name = data.get("name")
        _require(isinstance(name, str) and bool(name), f"a check record needs a non-empty name, not {name!r:.40}")
        raw = data.get("options") or {}
        _require(isinstance(raw, dict), "a check record's options must be an object")
        kind = raw.get("kind", "close")
        _require(kind in ("close", "equal", "metric"), f"unknown check kind {kind!r:.40}")
        options = Options(kind, _optional_number(raw.get("rtol"), "rtol"), _optional_number(raw.get("atol"), "atol"),
                          bool(raw.get("equal_nan", False)), bool(raw.get("check_dtype", False)))
        weight = _optional_number(data.get("weight", 1.0), "weight")
        _require(weight is not None and math.isfinite(weight), "a check's weight must be a finite number")
        seed = data.get("seed")
        _require(seed is None or _is_int(seed), "a check's seed must be an integer or null")
        error = data.get("error")
        local = data.get("local")
        return cls(name, options, weight, seed, str(data.get("message") or ""), data.get("value"),
                   None if error is None else str(error), data.get("expected"), "expected" in data,
                   None if data.get("metric") is None else str(data["metric"]),
                   _optional_number(data.get("at_least"), "at_least"), _optional_number(data.get("at_most"), "at_most"),
                   None if local is None else LocalVerdict(local), str(data.get("hint") or "")[:MAX_HINT_CHARS])


@dataclass(frozen=True)
class CheckEvent:
    """A check's record. ``blob_sizes``: the byte counts of the binary frames that follow its line (the
    value's large arrays, raw .npy); `with_blobs` puts them back where the value says ``{"$blob": k}``."""

    index: int | None
    record: CheckRecord
    blob_sizes: tuple[int, ...] = ()

    def to_json(self) -> dict:
        data = {"event": "check", "index": self.index, "record": self.record.to_json()}
        if self.record.blobs:
            data["blobs"] = [len(blob) for blob in self.record.blobs]
        return data

    def with_blobs(self, payloads: list) -> "CheckEvent":
        """The event with its frames in place; `ProtocolError` when the value and the frames disagree."""
        used: set[int] = set()

        def attach(value):
            if isinstance(value, dict):
                if set(value) == {"$blob"}:
                    k = value["$blob"]
                    _require(_is_int(k) and 0 <= k < len(payloads), f"a value names frame {k!r:.20}, which was not sent")
                    used.add(k)
                    return payloads[k]
                return {key: attach(item) for key, item in value.items()}
            if isinstance(value, list):
                return [attach(item) for item in value]
            return value

        record = replace(self.record, value=attach(self.record.value))
        _require(used == set(range(len(payloads))), "a check sent binary frames its value does not use")
        return CheckEvent(self.index, record)


@dataclass(frozen=True)
class NextCell:
    """The child asks for the next cell (the job is streamed: see `autograder.sandbox.launch`)."""

    def to_json(self) -> dict:
        return {"event": "next"}


@dataclass(frozen=True)
class Done:
    def to_json(self) -> dict:
        return {"event": "done"}


Event = Start | CellStart | CellEnd | CheckEvent | NextCell | Done


#: Frames one check may announce. Only arrays of at least `values.MIN_BLOB_BYTES` (64 KiB) go as frames, so a
#: run's whole channel (512 MB) holds at most 8,192 of them; the cap keeps a forged list of millions of
#: zero-byte frames from costing the grader anything.
MAX_BLOBS = 1 << 14


def parse_event(data: Any) -> Event:
    """An event from its JSON form; `ProtocolError` for anything malformed."""
    _require(isinstance(data, dict), "an event must be an object")
    kind = data.get("event")
    index = data.get("index")
    if kind == "start":
        return Start(data.get("pid") if _is_int(data.get("pid")) else -1)
    if kind == "next":
        return NextCell()
    if kind == "done":
        return Done()
    _require(kind in ("cell_start", "cell_end", "check"), f"unknown event {kind!r:.40}")
    _require(_is_int(index), f"a {kind} event needs an integer index")
    if kind == "cell_start":
        return CellStart(index)
    if kind == "check":
        sizes = data.get("blobs", [])
        _require(isinstance(sizes, list) and all(_is_int(n) and n >= 0 for n in sizes), "a check's blobs must be a list of byte counts")
        _require(len(sizes) <= MAX_BLOBS, f"a check sent more than {MAX_BLOBS} binary frames")
        return CheckEvent(index, CheckRecord.from_json(data.get("record")), tuple(sizes))
    status = data.get("status")
    _require(status in (CellStatus.OK, CellStatus.ERROR, CellStatus.TIMEOUT), f"a cell_end's status cannot be {status!r:.40}")
    outputs = data.get("outputs", [])
    _require(isinstance(outputs, list) and all(isinstance(o, dict) for o in outputs), "a cell_end's outputs must be a list of objects")
    flags = data.get("flags", [])
    _require(isinstance(flags, list) and all(isinstance(f, str) for f in flags), "a cell_end's flags must be a list of strings")
    return CellEnd(index, CellStatus(status), tuple(outputs), _optional_number(data.get("duration"), "duration"), tuple(flags[:20]))


# -------------------------------------------------------------------------------------- what was decided


#: A check's hint is the instructor's, but a record may come from anywhere: kept to a paragraph.
MAX_HINT_CHARS = 2000


@dataclass(frozen=True)
class CheckOutcome:
    """What scoring decided for one expected check; stored with the question (``results.checks``)."""

    name: str
    passed: bool
    message: str = ""
    weight: float = 1.0
    seed: int | None = None
    expected: str = ""  # a short description of the expected value ("tensor of dtype float32 and shape (3,)")
    got: str = ""  # the same of the student's value, when one arrived
    hint: str = ""  # the reference's hint, on a failed check only

    def to_json(self) -> dict:
        data = {"name": self.name, "weight": self.weight, "seed": self.seed, "passed": self.passed, "message": self.message,
                "expected": self.expected, "got": self.got}
        if self.hint:
            data["hint"] = self.hint
        return data

