"""The grader's own settings in the course's ``autograder.toml``: ``[grade]`` and ``exclusive``.

``[grade]`` holds defaults for the options of ``autograder grade`` (``workers``, ``gradebook``, ``timeout``,
``budget``, ``memory``, ``processes``, ``file_size``, ``output_limit``, ``isolation``, ``device``,
``fail_on``): a flag given on the command line wins over it, and it wins over the built-in default.
``verify`` takes the same ``workers`` and limits, and every command that reads the gradebook its
``gradebook``. This module only reads the table and names what is wrong in it; what each value means, and
its check, are the option's (`autograder.cli`).

``[assignments.<name>] exclusive = true`` grades that assignment one submission at a time, on one grading
thread: a timing-sensitive test ("within 1.5x of the reference's time") then never shares the machine with
another run of the batch (docs/authoring.md, "Timing-sensitive tests").

The rest of the file (due dates, late penalties, versions) is `autograder.course.late`'s.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from autograder.course import Assignment, CourseError
from autograder.course.late import CONFIG_FILE

#: The keys ``[grade]`` may hold: the option names of ``autograder grade``, ``-`` written ``_``.
GRADE_KEYS = ("gradebook", "workers", "timeout", "budget", "memory", "processes", "file_size", "output_limit",
              "isolation", "device", "fail_on")


def _read(course_root: Path) -> tuple[Path, dict]:
    path = Path(course_root) / CONFIG_FILE
    if not path.is_file():
        return path, {}
    try:
        return path, tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise CourseError(f"{path}: not valid TOML: {error}") from None


def grade_defaults(course_root: Path) -> tuple[Path, dict]:
    """``(path, {key: value})`` of the ``[grade]`` table ({} without one); unknown keys are a `CourseError`."""
    path, data = _read(course_root)
    table = data.get("grade", {})
    if not isinstance(table, dict):
        raise CourseError(f"{path}: 'grade' must be a table: [grade] with workers = 4, gradebook = \"...\"")
    unknown = sorted(set(table) - set(GRADE_KEYS))
    if unknown:
        raise CourseError(f"{path}: [grade] has unknown key(s) {', '.join(unknown)}; allowed: {', '.join(GRADE_KEYS)}")
    return path, table


def runs_alone(assignment: Assignment) -> bool:
    """Whether ``[assignments.<name>] exclusive = true``: its submissions are graded one at a time."""
    path, data = _read(assignment.course.root)
    entry = data.get("assignments", {}).get(assignment.name, {}) if isinstance(data.get("assignments"), dict) else {}
    value = entry.get("exclusive", False) if isinstance(entry, dict) else False
    if not isinstance(value, bool):
        raise CourseError(f"{path}: [assignments.{assignment.name}] exclusive = {value!r}; write true or false")
    return value
