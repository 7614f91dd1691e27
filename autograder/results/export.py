"""Grades out of the gradebook, in three formats:

* ``csv``: the long CSV, one row per student and graded question, with the late penalty of the submission;
* ``gradescope``: Gradescope's autograder ``results.json``, one per student (``<dir>/<student_id>/results.json``),
  in the format of https://gradescope-autograders.readthedocs.io/en/latest/specs/ (``score``, ``tests``: name,
  score, max_score, status, output, visibility);
* ``canvas``: a Canvas gradebook-import CSV (Student, ID, SIS User ID, SIS Login ID, Section, then one
  column of points per assignment; the second row is Canvas's "Points Possible").

Every text cell of the two CSVs that a spreadsheet would read as a formula (it starts with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return: a student id, a message, a timestamp...) is written with a
leading single quote (`spreadsheet_text`, OWASP's advice against CSV injection); the numbers we format stay
numbers.

Every total is the score after the late penalty (`autograder.course.late`), computed here from the stored
submission time and the student's own due date (extensions included), so a changed extension needs no
regrading. The CSV's ``due`` column is that due date, with "(extended for you from ...)" when an extension
moved it; Gradescope's ``output`` and late-penalty line carry the same explanation. A question still
waiting for a hand grade counts zero until it is graded. The CSV's ``flagged`` column repeats, on every row
of a submission, the notes that ask a person to look at it ("flagged for review: ...": tamper evidence,
duplicate check records, an unreadable submission time), joined by "; "; empty when there is none.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from autograder.errors import UserError
from autograder.results.disclosure import without_seed
from autograder.results.gradebook import Gradebook
from autograder.results.totals import StudentTotal, no_deadline
from autograder.course.late import Deadline, format_time, penalty_for_row, submission_time
from autograder.course.submissions import VERSION_NOTE

CSV_COLUMNS = ["student_id", "notebook", "question", "score", "max_score", "status", "message",
               "submitted_at", "late_penalty", "adjusted_score", "due", "flagged"]
CANVAS_FIXED_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
#: Gradescope's visibility settings (its specification); every test is exported with the one chosen.
GRADESCOPE_VISIBILITY = ("visible", "hidden", "after_due_date", "after_published")


#: How a note that asks a person to look at a submission begins (`autograder.grading.scoring`, `course.late`).
FLAGGED = "flagged for review"


#: What makes a spreadsheet (Excel, LibreOffice, Google Sheets) read a cell as a formula (OWASP, "CSV Injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(value) -> str:
    """A text cell of an exported CSV that no spreadsheet evaluates: one that would start a formula gets a
    leading single quote (OWASP's advice), the rest is kept as it is. Numbers we format ourselves
    (`_number`) are not passed through this: they stay numbers."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.6g}"


def _time_text(submitted_at: str | None, path: str | None) -> str:
    moment, _source = submission_time(submitted_at, path)
    if moment is None:
        return ""
    return moment if isinstance(moment, str) else format_time(moment)


def long_rows(gradebook: Gradebook, assignment: str, deadline: Deadline | None = None) -> list[dict]:
    deadline = deadline or no_deadline(assignment)
    rows = []
    for submission in gradebook.submissions(assignment):
        penalty = penalty_for_row(deadline, submission)
        submitted = _time_text(submission.submitted_at, submission.path) if submission.status != "missing" else ""
        due = deadline.due_text(submission.student_id)
        flagged = "; ".join(" ".join(str(note).split()) for note in (submission.notes or []) if str(note).startswith(FLAGGED))
        for result in submission.results:
            adjusted = None if result.score is None else result.score * (1 - penalty.fraction)
            rows.append(
                {
                    "student_id": submission.student_id,
                    "notebook": submission.notebook,
                    "question": result.question,
                    "score": _number(result.score),
                    "max_score": _number(result.max_score),
                    "status": result.status,
                    "message": " ".join(result.message.split()),
                    "submitted_at": submitted,
                    "late_penalty": _number(penalty.fraction),
                    "adjusted_score": _number(adjusted),
                    "due": due,
                    "flagged": flagged,
                }
            )
    return rows


def to_csv(gradebook: Gradebook, assignment: str, deadline: Deadline | None = None) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    numbers = {"score", "max_score", "late_penalty", "adjusted_score"}  # written by `_number`, never text of a submission
    writer.writerows({column: value if column in numbers else spreadsheet_text(value) for column, value in row.items()}
                     for row in long_rows(gradebook, assignment, deadline))
    return buffer.getvalue()


# -------------------------------------------------------------------------------------- Gradescope


def gradescope_results(total: StudentTotal, visibility: str = "visible", redact: Callable[[str], str] | None = None) -> dict:
    """Gradescope's ``results.json`` for one student: one test per graded question, the late penalty as its own line.

    Students read it, so every message goes through ``redact`` (see `hidden_code_redactor`) when given.
    """
    redact = redact or (lambda text: text)
    several = len({s.notebook for s in total.submissions}) > 1
    tests = []
    for submission in total.submissions:
        for result in submission.results:
            name = f"{submission.notebook}: {result.question}" if several else result.question
            if result.score is None:
                output = "graded by hand; not graded yet (counts 0 until it is)"
            else:  # what differed, then the instructor's hint of each failed check; the seed is the instructor's
                hints = [f"hint ({c['name']}): {c['hint']}" for c in result.checks or [] if isinstance(c, dict) and c.get("hint") and not c.get("passed")]
                output = "\n".join([without_seed(redact(result.message)), *hints])
            tests.append({
                "name": name,
                "score": round(result.score or 0.0, 6),
                "max_score": round(result.max_score, 6),
                "status": "passed" if result.score is not None and result.score >= result.max_score else "failed",
                "output": output,
                "visibility": visibility,
            })
    deduction = round(total.score - total.adjusted, 6)
    if deduction > 0:
        tests.append({"name": "late penalty", "score": -deduction, "max_score": 0.0, "status": "failed",
                      "output": total.penalty.explanation, "visibility": visibility})
    problems = [f"{s.notebook}: {s.status}: {redact(s.message)}" for s in total.submissions if s.status != "ok" and s.message]
    versions = [f"{s.notebook}: {n}" if several else n for s in total.submissions for n in (s.notes or []) if n.startswith(VERSION_NOTE)]
    return {
        "score": total.adjusted,
        "output": "\n".join([total.penalty.explanation, *versions, *problems]),
        "visibility": visibility,
        "tests": tests,
    }


def write_gradescope(totals: Iterable[StudentTotal], directory: Path, visibility: str = "visible",
                     on_written: Callable[[Path], None] | None = None, redact: Callable[[str], str] | None = None) -> list[Path]:
    """``<directory>/<student_id>/results.json`` for every student; returns the files written."""
    if visibility not in GRADESCOPE_VISIBILITY:
        raise ValueError(f"unknown Gradescope visibility {visibility!r}; use one of {', '.join(GRADESCOPE_VISIBILITY)}")
    written = []
    for total in totals:
        folder = Path(directory) / _folder_name(total.student_id)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "results.json"
        path.write_text(json.dumps(gradescope_results(total, visibility, redact), indent=2) + "\n", encoding="utf-8")
        written.append(path)
        if on_written is not None:
            on_written(path)
    return written


def _folder_name(student_id: str) -> str:
    """The student's folder under the Gradescope output: the id itself, unless it is not one plain path
    component (empty, ".", "..", a slash: an id whose escape sequences were removed can end up as ".."),
    then ``student-<hash of the id>``, which stays inside the output directory."""
    if student_id not in ("", ".", "..") and not any(c in student_id for c in "/\\\0"):
        return student_id
    import hashlib

    return "student-" + hashlib.sha256(student_id.encode("utf-8", "surrogatepass")).hexdigest()[:12]


# ------------------------------------------------------------------------------------------ Canvas


class RosterError(UserError, ValueError):
    """The Canvas roster file cannot be used; the message names the file and what to do."""


def read_roster(path: Path) -> list[dict[str, str]]:
    """Students from a gradebook CSV exported from Canvas (its first five columns), "Points Possible" row skipped."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise RosterError(f"{path}: cannot read the roster ({error}); export the gradebook from Canvas as CSV") from None
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in CANVAS_FIXED_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise RosterError(f"{path}: the roster lacks the column(s) {', '.join(missing)}; export the gradebook from Canvas "
                          "(Grades > Export) and pass that file")
    students = []
    for row in reader:
        if (row.get("Student") or "").strip() == "Points Possible" or "Points Possible" in (row.get("Student") or ""):
            continue
        students.append({c: (row.get(c) or "").strip() for c in CANVAS_FIXED_COLUMNS})
    return students


def sections_of(roster: list[dict[str, str]]) -> dict[str, str]:
    """Student id -> the roster's Section, under every identifier Canvas gives a student (login, SIS id, ID)."""
    sections = {}
    for row in roster:
        if row.get("Section"):
            for column in ("SIS Login ID", "SIS User ID", "ID"):
                if row.get(column):
                    sections.setdefault(row[column], row["Section"])
    return sections


def _roster_match(roster: list[dict[str, str]], student_id: str) -> dict[str, str] | None:
    for column in ("SIS Login ID", "SIS User ID", "ID"):
        for entry in roster:
            if entry[column] and entry[column] == student_id:
                return entry
    return None


@dataclass
class CanvasExport:
    text: str
    unmatched: list[str] = field(default_factory=list)  # student ids the roster does not have


def to_canvas(totals_by_assignment: dict[str, list[StudentTotal]], roster: list[dict[str, str]] | None = None) -> CanvasExport:
    """One row per student, one column of points (after the late penalty) per assignment.

    With a ``roster`` (Canvas's own gradebook export), each student id is matched with its SIS Login ID, SIS
    User ID or ID and the row carries Canvas's identifiers; without one, the id goes in "SIS Login ID".
    """
    assignments = list(totals_by_assignment)
    possible = {a: max((t.max_score for t in totals), default=0.0) for a, totals in totals_by_assignment.items()}
    scores: dict[str, dict[str, float]] = {}
    for assignment, totals in totals_by_assignment.items():
        for total in totals:
            scores.setdefault(total.student_id, {})[assignment] = total.adjusted
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CANVAS_FIXED_COLUMNS + [spreadsheet_text(a) for a in assignments])
    writer.writerow(["Points Possible", "", "", "", ""] + [_number(possible[a]) for a in assignments])
    unmatched = []
    for student_id in sorted(scores):
        entry = _roster_match(roster, student_id) if roster is not None else None
        if roster is not None and entry is None:
            unmatched.append(student_id)
        identity = [entry[c] for c in CANVAS_FIXED_COLUMNS] if entry else ["", "", "", student_id, ""]
        writer.writerow([spreadsheet_text(value) for value in identity] + [_number(scores[student_id].get(a)) for a in assignments])
    return CanvasExport(buffer.getvalue(), unmatched)
