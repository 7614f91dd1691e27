"""One run: start the runner (forked from a warm interpreter, or spawned), feed it the job, watch it.

The job (cells to run, mode) goes to the child on a pipe, never through a file, so no test code lies on disk
next to the submission; and **one cell at a time**: first the header (mode, limits), then cell N+1 only
once cell N has ended, so a cell never finds a later (hidden) test cell in its process or in the pipe
(`CellFeeder`). The writes never block the watch: a child that does not read cannot stop the clocks. Events come back on a pipe as JSON lines; the parent parses them as plain data,
enforces the time limits from outside (a cell that ignores its in-process alarm is killed), and kills the
child's whole process group when the run ends, whatever the child started.
"""

from __future__ import annotations

import dataclasses
import json
import os
import selectors
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from autograder.sandbox.limits import Limits
from autograder.sandbox.scratch import child_environment, scratch_root
from autograder.sandbox.spawn import Spawned
from autograder.sandbox.warm import WarmInterpreter
from autograder.wire.protocol import CellEnd, CellStart, CellStatus, CheckEvent, CheckRecord, Done, Job, JobCell, Start, parse_event

#: How long after a cell's own timeout the parent waits before killing the process.
KILL_GRACE_SECONDS = 3.0
#: Bytes of events one run may send back (values of checks included) before it is stopped.
MAX_CHANNEL_BYTES = 512 * 1024 * 1024
#: Check records one run may send. Each costs the grader about 1 KB and 30 us to parse and keep, and the time is
#: not the cell's: 512 MB of tiny records were some 2.4 million, 2 GB of the grader's memory and a minute of its
#: thread. An honest notebook makes a few hundred.
MAX_CHECK_RECORDS = 100_000
#: How many times a run stopped from outside (killed, crashed, timed out) is resumed at the next cell.
MAX_RESUMES = 8
#: The slowest transfer credited to a cell, in bytes per second: an event's arrival time stops the cell's
#: clock for at most its size at this rate (a 100 MB value: 10 s), so a notebook that trickles bytes or
#: leaves a line unfinished on the channel cannot hold the clock without end.
MIN_CREDITED_BYTES_PER_SECOND = 10 * 1024 * 1024
#: The exit code of a runner whose harness failed before or between cells (its last stderr line says why).
HARNESS_FAILED_EXIT = 70


@dataclass
class RunResult:
    cells: dict[int, CellEnd] = field(default_factory=dict)  # cell index -> how it ended
    checks: list[tuple[int | None, CheckRecord]] = field(default_factory=list)  # (cell index, record)
    status: str = "ok"  # ok | crashed | timeout | error
    message: str = ""
    finished: bool = False  # the runner reached the end of the job
    duration: float = 0.0
    stderr_tail: str = ""
    resumed: int = 0  # how many times the run went on in a fresh process after one was stopped
    peak_memory_bytes: int | None = None  # the most memory its cgroup was charged (`PeakMemory`); None without one
    cell_memory: dict[int, int] = field(default_factory=dict)  # cell index -> the most charged while it ran
    stopped_at: int | None = None  # internal: the cell during which the last attempt was stopped
    exit_code: int | None = None  # internal: how the last attempt's process ended, when it ended on its own


def run_job(
    job: Job | dict,
    workdir: Path,
    limits: Limits,
    *,
    course_root: Path | None = None,
    env: dict | None = None,
    worker: WarmInterpreter | None = None,
) -> RunResult:
    """Run ``job`` in a new process with ``workdir`` as its working directory; return what it reported.

    With a `WarmInterpreter` the process is forked from it; otherwise a fresh interpreter is started. Every run
    but the trusted reference pass (`Mode.REFERENCE`, which imports solutions/) is confined (see
    `autograder.sandbox.confine`). A dict is read as the JSON form of a `Job`.

    A process stopped from outside in the middle of a cell (killed, crashed, out of time or memory) costs
    that cell: the cells after it run in a fresh process that first replays, silently, the earlier
    non-test cells that succeeded, so later questions are still graded. The whole-submission budget
    covers every attempt; test cells are never replayed, so no check is recorded twice.
    """
    job = Job.coerce(job)
    env = env if env is not None else child_environment(workdir, limits.device)
    started = time.monotonic()
    result = RunResult()
    cells = list(job.cells)
    tests = {c.index for c in cells if c.harness_exec}
    pending, replay = cells, []
    try:
        while True:
            attempt = _run_attempt(job, replay + pending, {c.index for c in replay}, workdir, env, limits, course_root,
                                   worker, started, result)
            if attempt.finished or attempt.stopped_at is None or attempt.status not in ("crashed", "timeout"):
                break
            if result.resumed >= MAX_RESUMES or (limits.total_timeout and time.monotonic() - started >= limits.total_timeout):
                break
            position = next((i for i, c in enumerate(pending) if c.index == attempt.stopped_at), None)
            if position is None:  # stopped inside a replayed cell: it behaves differently now, give up
                result.message += "; the rest of the notebook could not be resumed (a replayed cell failed)"
                break
            done = pending[:position]
            replay = replay + [c for c in done if c.index not in tests and c.index in result.cells and result.cells[c.index].ok]
            pending = pending[position + 1:]
            if not pending:
                break
            result.resumed += 1
    finally:
        result.duration = time.monotonic() - started
    if result.resumed and result.finished:
        result.message += f"; the cells after it ran in a fresh process (earlier cells replayed{'' if result.resumed == 1 else f', {result.resumed} times'})"
    return result


def _run_attempt(job: Job, cells: list[JobCell], silent: set[int], workdir: Path, env: dict, limits: Limits,
                 course_root: Path | None, worker: WarmInterpreter | None, started: float, result: RunResult) -> RunResult:
    """One process: run ``cells`` (``silent`` ones are replays whose events are ignored); merge into ``result``."""
    confined = not job.trusted
    if confined and limits.confinement().bwrap and not Path(workdir).resolve().is_relative_to(scratch_root().resolve()):
        raise ValueError(f"{workdir} is outside the scratch root the sandbox sees: make working directories with fresh_workdir()")
    attempt_job = dataclasses.replace(job, cells=tuple(cells), cell_timeout=limits.cell_timeout, output_limit=limits.output_limit,
                                      device=limits.device)
    header = (json.dumps(attempt_job.header()) + "\n").encode("utf-8")
    read_fd, write_fd = os.pipe()
    stderr_file = tempfile.TemporaryFile()
    attempt = RunResult()
    try:
        if worker is not None and confined:
            process = worker.start_run(header, workdir, env, write_fd, stderr_file.fileno(), limits)
        else:
            process = Spawned(header, workdir, env, write_fd, stderr_file.fileno(), course_root, limits, confined)
    except BaseException:
        os.close(read_fd)
        stderr_file.close()
        raise
    finally:
        os.close(write_fd)
    oom_before = process.cgroup.oom_kills() if process.cgroup is not None else 0
    feeder = CellFeeder(process.job_fd, cells)
    process.job_fd = None  # the feeder owns the job pipe from here on
    memory = PeakMemory(process.cgroup)
    try:
        _watch(process, read_fd, limits, attempt, started, feeder, silent, oom_before, memory)
    finally:
        feeder.close()
        os.close(read_fd)
        if attempt.finished:
            process.finish()
        else:
            process.kill()
        memory.stop()  # before `release`: a spawned run's cgroup goes with it
        process.release()
        stderr_file.seek(0, os.SEEK_END)
        size = stderr_file.tell()
        stderr_file.seek(max(0, size - 4000))
        attempt.stderr_tail = stderr_file.read().decode("utf-8", "replace")
        stderr_file.close()
    if attempt.exit_code == HARNESS_FAILED_EXIT and attempt.stderr_tail.strip():
        # the harness itself failed before or between cells; its last words tell the grader why
        attempt.message += f" (the harness said: {attempt.stderr_tail.strip().splitlines()[-1][:300]})"
    result.cells.update(attempt.cells)
    result.checks.extend(attempt.checks)
    result.cell_memory.update({i: peak for i, peak in memory.cells.items() if i not in silent})
    if memory.run is not None:
        result.peak_memory_bytes = max(result.peak_memory_bytes or 0, memory.run)
    result.finished = attempt.finished
    result.stderr_tail = attempt.stderr_tail
    if attempt.status != "ok" and result.status == "ok":
        result.status, result.message = attempt.status, attempt.message
    elif attempt.status != "ok" and attempt.message not in result.message:
        result.message += f"; {attempt.message}"
    return attempt


class PeakMemory:
    """The memory a run's cgroup was charged at its most, for the whole run and for each cell.

    The cells reach the run one at a time (`CellFeeder`), so the peak is reset just before a cell is sent
    and read when it ends: a cell's figure is the most charged while it ran, whatever stayed from the
    cells before included (what its limit counts: the run's processes, forked from the warm interpreter,
    together with that interpreter and the page cache of their files). Two file operations per cell.
    Without a memory cgroup (none where the grader may not create one) nothing is measured: None."""

    def __init__(self, cgroup):
        self.cgroup = cgroup if cgroup is not None and getattr(cgroup, "memory", None) is not None else None
        self.cell: int | None = None
        self.cells: dict[int, int] = {}
        self.run: int | None = None

    def restart(self) -> None:
        if self.cgroup is not None:
            self.cgroup.reset_peak()

    def _read(self) -> int | None:
        peak = self.cgroup.peak_bytes() if self.cgroup is not None else None
        if peak is not None:
            self.run = max(self.run or 0, peak)
            if self.cell is not None:
                self.cells[self.cell] = max(self.cells.get(self.cell, 0), peak)
        return peak

    def cell_started(self, index: int) -> None:
        self.cell = index

    def cell_ended(self) -> None:
        self._read()
        self.cell = None
        self.restart()

    def stop(self) -> None:
        """The run ended (or was stopped in the middle of a cell: that cell gets what it reached)."""
        self._read()
        self.cell = None


class CellFeeder:
    """The job pipe's write end: cell N's JSON line goes out only when `send` is called for it (after cell
    N-1 ended); after the last cell the pipe is closed, which tells the runner the job is done. Writes are
    non-blocking, the rest kept for `flush`, so a run that stops reading cannot stall the grader's clocks."""

    def __init__(self, fd: int, cells: list[JobCell]):
        self.fd: int | None = fd
        self.cells = cells
        self.order = [c.index for c in cells]
        self.pending = b""
        self.closing = False
        os.set_blocking(fd, False)

    def send(self, position: int) -> None:
        if position < len(self.cells):
            self.pending += (json.dumps(self.cells[position].to_json()) + "\n").encode("utf-8")
        else:
            self.closing = True
        self.flush()

    def flush(self) -> None:
        while self.pending and self.fd is not None:
            try:
                self.pending = self.pending[os.write(self.fd, self.pending):]
            except BlockingIOError:
                return
            except OSError:  # the run is gone (EPIPE); its end shows on the event pipe
                self.pending = b""
        if self.closing and not self.pending:
            self.close()

    @property
    def waiting(self) -> bool:
        return bool(self.pending) and self.fd is not None

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _watch(process, read_fd: int, limits: Limits, result: RunResult, started: float, feeder: CellFeeder,
           silent: set[int], oom_before: int = 0, memory: PeakMemory | None = None) -> None:
    """Read the run's events, trusting only what fits the job: each cell in job order, started once, ended
    once, its checks between the two; send each cell when its turn comes. Anything else (a notebook writing
    on the channel itself, a forked copy of the runner) stops the run and is reported."""
    order = feeder.order
    memory = memory or PeakMemory(None)
    memory.restart()
    feeder.send(0)
    selector = selectors.DefaultSelector()
    selector.register(read_fd, selectors.EVENT_READ)
    framer = Framer()
    received = checks_sent = 0
    position = 0  # the next cell in `order` that may start
    current: int | None = None
    cell_started = started
    while not result.finished:
        deadlines = []
        if current is not None and limits.cell_timeout > 0:
            # an event still arriving (a large value) holds the cell's clock, as the child's own alarm is held
            arriving = framer.credit(time.monotonic()) if framer.busy else 0.0
            deadlines.append((cell_started + arriving + limits.cell_timeout + KILL_GRACE_SECONDS,
                              f"the cell ran longer than {limits.cell_timeout:g} s and was stopped", True))
        if limits.total_timeout > 0:
            deadlines.append((started + limits.total_timeout, f"the submission used up its {limits.total_timeout:g} s budget", False))
        if deadlines:
            deadline, why, resumable = min(deadlines)
            if time.monotonic() >= deadline:
                process.kill()
                if current is not None and current not in silent:
                    result.cells[current] = CellEnd.synthetic(current, CellStatus.TIMEOUT, why)
                result.status, result.message = "timeout", why
                result.stopped_at = current if resumable else None
                return
        if feeder.waiting:
            feeder.flush()
        if not selector.select(timeout=0.05 if feeder.waiting else 0.5):
            # A grandchild the notebook forked may hold the pipe open after the runner died: poll the runner itself.
            if process.poll() is not None and not selector.select(timeout=0.2):
                break
            continue
        chunk = os.read(read_fd, 1 << 20)
        if not chunk:
            break  # end of stream: the runner is gone
        received += len(chunk)
        if received > MAX_CHANNEL_BYTES:
            process.kill()
            result.status, result.message = "error", "the submission sent back more data than the grader accepts"
            return
        now = time.monotonic()
        for line, event, arrived_over in framer.feed(chunk, now):
            index = getattr(event, "index", None)
            if isinstance(event, Start) and current is None and position == 0:
                continue
            if isinstance(event, CellStart) and current is None and position < len(order) and index == order[position]:
                current, cell_started = index, time.monotonic()
                memory.cell_started(index)
            elif isinstance(event, CheckEvent) and current is not None and index == current and checks_sent >= MAX_CHECK_RECORDS:
                process.kill()
                return _void(result, order, silent, f"the notebook sent more than {MAX_CHECK_RECORDS} check records; nothing it reported counts")
            elif isinstance(event, CheckEvent) and current is not None and index == current:
                checks_sent += 1
                if current not in silent:
                    result.checks.append((index, event.record))
                # the time a large value took to cross (the child's clock stops while it sends) is not the cell's
                cell_started += arrived_over + (time.monotonic() - now)
            elif isinstance(event, CellEnd) and current is not None and index == current:
                if current not in silent:
                    result.cells[current] = event
                current = None
                memory.cell_ended()  # and reset, before the next cell is sent
                position += 1
                feeder.send(position)  # only now: the next cell's source was nowhere in the child before
            elif isinstance(event, Done) and current is None and position == len(order):
                result.finished = True
            else:
                # Only the notebook writing on the channel itself gets here, and whatever it wrote before may be
                # forged too: nothing of this attempt counts.
                process.kill()
                what = (line[:80].decode("utf-8", "replace") + "...") if len(line) > 80 else line.decode("utf-8", "replace")
                return _void(result, order, silent,
                             f"the notebook wrote on the grader's channel (an event out of order: {what}); nothing it reported counts")
    if not result.finished:
        code = process.wait(5)
        result.exit_code = code
        if code is not None and code == -signal.SIGKILL and process.cgroup is not None and process.cgroup.oom_kills() > oom_before:
            how = f"was stopped for using more than {limits.memory_text()} of memory"
        elif code is not None and code < 0:
            how = f"was killed by signal {signal.Signals(-code).name}"
        else:
            how = f"exited with code {code}"
        why = f"the Python process running the notebook {how} before the notebook finished"
        if current is not None and current not in silent:
            result.cells[current] = CellEnd.synthetic(current, CellStatus.CRASHED, why)
        result.status, result.message = "crashed", why
        result.stopped_at = current


def _void(result: RunResult, order: list[int], silent: set[int], why: str) -> None:
    """Nothing the attempt reported counts: every cell it was to run ends as an error saying ``why``."""
    result.cells = {index: CellEnd.synthetic(index, CellStatus.ERROR, why) for index in order if index not in silent}
    result.checks.clear()
    result.status, result.message, result.stopped_at = "error", why, None


class Framer:
    """Events out of the bytes the runner sends: JSON lines, each check's line followed by the binary frames
    its ``blobs`` announce (raw .npy). Linear in the bytes received: pieces are kept in lists and joined
    once (a 100 MB value is not copied again with every chunk, nor base64- and JSON-scanned)."""

    def __init__(self):
        self.partial: list[bytes] = []  # the pieces of a line not complete yet
        self.since = 0.0  # when the first byte of the event being received arrived
        self.frames: list[bytes] = []  # frames of the pending check already complete
        self.piece: list[bytes] = []  # pieces of the frame being received
        self.needed = 0  # bytes of the frame being received still to come
        self.sizes: list[int] = []  # sizes of the frames still to come after it, the next one last (popped in O(1))
        self.waiting: tuple[bytes, CheckEvent] | None = None  # the check whose frames are arriving
        self.in_flight = 0  # bytes of the event being received so far

    def credit(self, now: float) -> float:
        """Seconds the event being received has taken, at most its bytes at `MIN_CREDITED_BYTES_PER_SECOND`."""
        return min(now - self.since, self.in_flight / MIN_CREDITED_BYTES_PER_SECOND)

    @property
    def busy(self) -> bool:
        """Part of an event has arrived, not all of it."""
        return bool(self.partial) or self.waiting is not None

    def feed(self, chunk: bytes, now: float) -> list[tuple[bytes, object, float]]:
        """(line, event or None when malformed, seconds its bytes took to arrive) for each event completed."""
        done = []
        start, size = 0, len(chunk)
        self.in_flight += size  # counted for the event in progress; reset when an event completes
        while start < size:
            if self.waiting is not None:
                take = min(self.needed, size - start)
                self.piece.append(chunk[start:start + take])
                self.needed -= take
                start += take
                if self.needed == 0:
                    self.frames.append(b"".join(self.piece) if len(self.piece) != 1 else self.piece[0])
                    self.piece = []
                    self._next_frame(done, now)
                continue
            newline = chunk.find(b"\n", start)
            if newline < 0:
                if not self.partial:
                    self.since = now
                self.partial.append(chunk[start:])
                break
            piece = chunk[start:newline]
            start = newline + 1
            if self.partial:
                self.partial.append(piece)
                line, self.partial = b"".join(self.partial), []
            else:
                line, self.since = piece, now
            event = _parse(line)
            if isinstance(event, CheckEvent) and event.blob_sizes:
                self.waiting, self.sizes, self.frames = (line, event), list(reversed(event.blob_sizes)), []
                self._next_frame(done, now)
            else:
                done.append((line, event, self.credit(now)))
                self.in_flight = size - start
        return done

    def _next_frame(self, done: list, now: float) -> None:
        while self.sizes:
            self.needed = self.sizes.pop()
            if self.needed:
                return
            self.frames.append(b"")
        line, event = self.waiting
        self.waiting = None
        try:
            event = event.with_blobs(self.frames)
        except (ValueError, RecursionError):  # RecursionError: a value nested deeper than the encoder sends
            event = None
        self.frames = []
        done.append((line, event, self.credit(now)))
        self.in_flight = 0


def _parse(line: bytes):
    """The event on one line, or None when the line is not a well-formed event (the attempt is then void)."""
    try:
        return parse_event(json.loads(line))
    except (ValueError, UnicodeDecodeError, RecursionError):  # ProtocolError is a ValueError; JSON nested too deep
        return None
