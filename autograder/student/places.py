"""Names the cells of a restored notebook the way the student sees them ("answer cell 'q1'", "cell 4"), and
places a traceback's frames in them."""

from __future__ import annotations

import re

import nbformat

from autograder.course.cells import Kind
from autograder.grading.sanitize import Sanitized
from autograder.wire.protocol import CellError, Job

_FRAME = re.compile(r'File "(?:<ipython-input-(\d+)-[0-9a-f]+>|<test cell (\d+)>)", line (\d+)')


class Places:
    """Names the cells of the restored notebook the way the student sees them."""

    def __init__(self, sanitized: Sanitized, student: nbformat.NotebookNode, job: Job):
        self.sanitized = sanitized
        # IPython numbers the inputs it runs (<ipython-input-N-...>); test cells run through the harness.
        self.by_input = {number: cell.index for number, cell in enumerate((c for c in job.cells if not c.harness_exec), start=1)}
        self.positions: dict[int, int] = {}
        unmatched = list(enumerate(student.get("cells", []), start=1))
        for index, cell in enumerate(sanitized.cells):
            if cell.origin != "student" or cell.grade_id:
                continue
            for position, (number, original) in enumerate(unmatched):
                if source_text(original.get("source", "")) == cell.source:
                    self.positions[index] = number
                    del unmatched[position]
                    break

    def label(self, index: int) -> str:
        cell = self.sanitized.cells[index]
        if cell.grade_id:
            noun = {Kind.TEST.value: "test cell", Kind.ANSWER.value: "answer cell", Kind.MANUAL.value: "answer cell"}.get(cell.kind, "read-only cell")
            return f"{noun} '{cell.grade_id}'"
        if index in self.positions:
            return f"cell {self.positions[index]}"
        return f"cell {index + 1}"

    def frames(self, error: CellError | None) -> list[tuple[int, int]]:
        """(cell index, line) of the traceback's frames in the notebook's own cells, outermost first."""
        frames = []
        for line in (error.traceback if error is not None else ()):
            for match in _FRAME.finditer(line):
                index = self.by_input.get(int(match.group(1))) if match.group(1) else int(match.group(2))
                if index is not None:
                    frames.append((index, int(match.group(3))))
        return frames

    def where(self, error: CellError | None) -> str:
        """'at answer cell 'x', line 3 (called from test cell 'x_test', line 2)' from a traceback."""
        frames = self.frames(error)
        if not frames:
            return ""
        inner = frames[-1]
        text = f"at {self.label(inner[0])}, line {inner[1]}"
        if frames[0][0] != inner[0]:
            text += f" (called from {self.label(frames[0][0])}, line {frames[0][1]})"
        return text


def source_text(source) -> str:
    return "".join(source) if isinstance(source, list) else str(source or "")
