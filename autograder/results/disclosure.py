"""What a student may see of a graded notebook, decided once on the trusted side.

Used by every sink a student reads: feedback pages, Gradescope's results.json, the CSV export, manual
grading's views.

* their own cells (answers, their extra cells) as they handed them in, and every read-only cell;
* test cells as **released**: the hidden region (``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS``) is
  cut with nbgrader's own `ClearHiddenTests`, so the page shows exactly what their notebook showed;
* outputs only of the cells that ran **before the first test cell with hidden tests**. Hidden test code
  runs in the same process as the student's code: once it has run, any later output may carry what it
  did (a hidden input left in a global the student prints, a function that logs its arguments, the
  test's source read back through `linecache`). Those outputs are withheld, and the page says why; the
  cell's code and whether it ran, raised or timed out are still shown. A student sees the outputs of
  their own notebook by running it in Jupyter or with the visible tests.
* where each error was raised (``error_at``: the cell and line of the innermost and outermost frames in the
  notebook's own cells), kept even where outputs are withheld: it names the student's own cells, and no line
  of a test cell that has hidden tests;
* every question's score, status and message, and each check's message (what differed, with the seed).
  Check messages are decided on the trusted side; the one part that comes from the student's process
  (the error a check's code raised) is redacted: any line of hidden test source found in a message is
  replaced by ``[hidden test code]``. Nothing can stop a submission from encoding a hidden test into the
  text of an exception it raises; the pages never add hidden code of their own.

Never shown: hidden test code, solutions/, the reference's expected values beyond what a check message states.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import re
from dataclasses import dataclass, field
from typing import Callable

import nbformat

from autograder.course.cells import Kind, task_work
from autograder.wire.causes import Place, error_place

#: The output kinds shown on a page; anything else (HTML, JavaScript, widgets) falls back to its text/plain.
IMAGE_TYPES = ("image/png", "image/jpeg", "image/svg+xml")
MAX_TEXT = 20_000  # characters of one stream or text output kept
MAX_IMAGE = 2_000_000  # characters of one base64 image kept
MAX_VIEW = 8_000_000  # characters of outputs kept per notebook; later outputs are dropped with a note

WITHHELD_HIDDEN = "hidden_tests"  # this test cell ran hidden tests
WITHHELD_AFTER = "after_hidden_tests"  # this cell ran after hidden tests had run
WITHHELD_SIZE = "size"  # the notebook's outputs were too large to keep
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


# ------------------------------------------------------------------------------ the stored student view


@functools.lru_cache(maxsize=4096)
def released_test(source: str) -> tuple[str, bool, tuple[str, ...]]:
    """(the released source of a test cell, whether it has hidden tests, the hidden region's lines)."""
    from nbgrader.preprocessors import ClearHiddenTests

    cell = nbformat.v4.new_code_cell(source, metadata={"nbgrader": {"grade": True, "grade_id": "t", "points": 0}})
    cell, _ = ClearHiddenTests().preprocess_cell(cell, {}, 0)
    visible = set(cell.source.split("\n"))
    hidden = tuple(line for line in source.split("\n") if line not in visible)
    return cell.source, cell.source != source, hidden


#: "[seed 123]" as check messages end: the instructor's, to reproduce a failure; noise in what a student reads
#: (feedback pages keep it in a tooltip) and in grouped misconceptions (item analysis).
SEED_NOTE = re.compile(r"\s*\[seed -?\d+\]")


def without_seed(message: str) -> str:
    return SEED_NOTE.sub("", message or "")


def answer_hash(source: str) -> str:
    """The key of a hand-graded answer. ``surrogatepass``: a notebook's JSON may escape a lone surrogate
    (``"\\ud800"``), which is text Python holds but UTF-8 cannot encode; the hash must still be one."""
    return hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _clip(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit // 2] + f"\n... [{len(text) - limit} characters cut] ...\n" + text[-limit // 2:]


def _safe_output(output: dict) -> dict | None:
    kind = output.get("output_type")
    if kind == "stream":
        return {"output_type": "stream", "name": "stderr" if output.get("name") == "stderr" else "stdout",
                "text": _clip(_ANSI.sub("", _text(output.get("text", ""))))}
    if kind == "error":
        traceback = _ANSI.sub("", "\n".join(_text(line) for line in output.get("traceback", []) or []))
        return {"output_type": "error", "ename": _clip(str(output.get("ename", "Error")), 200),
                "evalue": _clip(str(output.get("evalue", "")), 2000), "traceback": _clip(traceback, 8000)}
    if kind in ("display_data", "execute_result"):
        data = output.get("data", {}) or {}
        kept = {}
        for mime in IMAGE_TYPES:
            value = data.get(mime)
            if isinstance(value, str) and len(value) <= MAX_IMAGE:
                if mime == "image/svg+xml":
                    kept[mime] = base64.b64encode(value.encode("utf-8")).decode("ascii")
                else:
                    try:
                        base64.b64decode(value.replace("\n", ""), validate=True)
                    except (binascii.Error, ValueError):
                        continue
                    kept[mime] = value.replace("\n", "")
                break
        if not kept and "text/plain" in data:
            kept["text/plain"] = _clip(_ANSI.sub("", _text(data["text/plain"])))
        return {"output_type": kind, "data": kept} if kept else None
    return None


def student_view(manifest, sanitized, run) -> dict:
    """The graded notebook as its student may see it (see the module's docstring), as plain JSON data.

    ``answers`` holds the hand-graded answers (text and sha256), which manual grading reads and keys on.
    ``run.cells`` maps a cell's index to how it ended (`autograder.wire.protocol.CellEnd`).
    """
    cells, answers = [], {}
    errors: dict[int, tuple[str, ...]] = {}
    hidden_started = None
    budget = MAX_VIEW
    known = manifest.by_id()
    for index, cell in enumerate(sanitized.cells):
        entry = {"cell_type": cell.cell_type, "grade_id": cell.grade_id, "kind": str(getattr(cell.kind, "value", cell.kind)),
                 "origin": cell.origin, "source": cell.source}
        if cell.kind == Kind.TEST:
            item = known.get(cell.grade_id)
            if item is not None and item.released_source and cell.source == item.source:
                entry["source"], entry["hidden_tests"] = item.released_source, item.released_source != item.source
            else:
                entry["source"], entry["hidden_tests"], _ = released_test(cell.source)
        if cell.kind == Kind.MANUAL and cell.grade_id:
            answers[cell.grade_id] = {"source": cell.source, "sha256": answer_hash(cell.source), "cell_type": cell.cell_type}
        if cell.kind == Kind.TASK and cell.grade_id:  # a hand-graded task: the student's cells after it
            work = task_work(sanitized.cells[index + 1:])
            answers[cell.grade_id] = {"source": work, "sha256": answer_hash(work), "cell_type": "markdown"}
        if cell.cell_type == "code":
            end = run.cells.get(index)
            entry["status"] = "not_run" if end is None else end.status.value
            if hidden_started is None and entry.get("hidden_tests"):
                hidden_started = index
            outputs = [] if end is None else [o for o in map(_safe_output, end.outputs) if o]
            if hidden_started is not None and outputs:  # a cell without output has nothing to withhold
                entry["withheld"] = WITHHELD_HIDDEN if entry.get("hidden_tests") else WITHHELD_AFTER
                outputs = []
            size = sum(len(str(o)) for o in outputs)
            if size > budget:
                entry["withheld"], outputs = WITHHELD_SIZE, []
            budget -= size
            entry["outputs"] = outputs
            if end is not None and end.error is not None:
                errors[index] = end.error.traceback
        cells.append(entry)
    for index, traceback in errors.items():  # where each error was raised, kept even when the outputs are withheld
        place = error_place(traceback, cells)
        if place is not None:
            cells[index]["error_at"] = [_place_json(frame, cells) for frame in place]
    return {"version": 1, "cells": cells, "answers": answers}


def _place_json(place: Place, cells: list[dict]) -> dict:
    """A frame as the view keeps it; a line of a test cell that has hidden tests is not kept (it counts the
    hidden region's lines), nor is one past the cell's source."""
    cell = cells[place.cell]
    line: int | None = place.line
    if cell.get("hidden_tests") or not 0 < place.line <= len(str(cell.get("source", "")).split("\n")):
        line = None
    return {"cell": place.cell, "line": line, "function": place.function[:100]}


# ------------------------------------------------------------------------------------ redaction


@dataclass
class Redactor:
    """Replaces any line of hidden test source found in a text by ``[hidden test code]``."""

    lines: list[str] = field(default_factory=list)

    @classmethod
    def for_manifests(cls, manifests) -> "Redactor":
        hidden, visible = set(), set()
        for manifest in manifests:
            for cell in manifest.cells:
                if cell.kind == Kind.TEST and cell.released_source:  # as released, the course's own delimiters included
                    released = cell.released_source
                    secret = [line for line in cell.source.split("\n") if line not in set(released.split("\n"))]
                    hidden.update(line.strip() for line in secret)
                    visible.update(line.strip() for line in released.split("\n"))
                elif cell.kind == Kind.TEST:
                    released, _, secret = released_test(cell.source)
                    hidden.update(line.strip() for line in secret)
                    visible.update(line.strip() for line in released.split("\n"))
                else:
                    visible.update(line.strip() for line in cell.source.split("\n"))
        # Short lines ("pass", "x = 1") say nothing and would blank out ordinary words.
        secret = sorted((line for line in hidden - visible if len(line) >= 6 and "HIDDEN TESTS" not in line), key=len, reverse=True)
        return cls(secret)

    def __call__(self, text: str | None) -> str:
        text = text or ""
        for line in self.lines:
            if line in text:
                text = text.replace(line, "[hidden test code]")
        return text




def hidden_code_redactor(assignment) -> Callable[[str], str]:
    """What students see of a message: any line of hidden test code in it replaced (every sink's rule)."""
    from autograder.prepare.manifest import assignment_manifest

    return Redactor.for_manifests([assignment_manifest(assignment, name) for name in assignment.notebook_names])
