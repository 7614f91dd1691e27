"""Publishing an assignment: write release/<assignment>/ from source/<assignment>/ and keep what grading
needs of source/ (the grading manifest), or, with ``check``, only report what release/ lacks.

The notebook transformation itself is `autograder.prepare.release` (pure: a notebook in, a notebook out);
this module is the part that touches the course directory.
"""

from __future__ import annotations

import filecmp
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from autograder.course import Assignment, CourseError
from autograder.prepare.manifest import keep_manifest, manifest_from_cells
from autograder.prepare.release import instructor_notebook, release_notebook, render


@dataclass
class ReleaseReport:
    assignment: str
    written: list[Path] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)  # what --check found out of date


def release_assignment(assignment: Assignment, check: bool = False) -> ReleaseReport:
    """Write release/<assignment>/ from source/<assignment>/, or with ``check`` only report what differs.

    First the cheap checks of `autograder.prepare.preflight`: a problem there is a `CourseError` listing every
    one, and nothing is written."""
    from autograder.prepare.preflight import preflight

    problems = preflight(assignment)
    if problems:
        raise CourseError(f"{assignment.name}: {len(problems)} problem(s) to fix before release:\n  " + "\n  ".join(problems))
    report = ReleaseReport(assignment.name)
    target = assignment.release_dir
    expected_files: dict[Path, str | Path] = {}
    config = assignment.course.nbgrader_config
    for name in assignment.notebook_names:
        source = instructor_notebook(assignment.read_source(name), config)
        released = release_notebook(source, str(assignment.source_notebook_path(name)), config)
        expected_files[target / name] = render(released)
        if not check:  # what grading keeps of source/ (see autograder.prepare.manifest), made here once rather than per batch
            keep_manifest(assignment, manifest_from_cells(assignment.name, name, dict(released.metadata), zip(source.cells, released.cells)))
    for path in assignment.public_files():
        expected_files[target / path.relative_to(assignment.source_dir)] = path

    existing = {p for p in target.rglob("*") if p.is_file()} if target.is_dir() else set()
    for path, content in expected_files.items():
        if isinstance(content, str):
            same = path.is_file() and path.read_text(encoding="utf-8") == content
        else:
            same = path.is_file() and filecmp.cmp(path, content, shallow=False)
        if same:
            continue
        if check:
            report.stale.append(f"{path.relative_to(assignment.course.root)} is {'out of date' if path.exists() else 'missing'}")
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            shutil.copyfile(content, path)
        report.written.append(path)
    for path in sorted(existing - set(expected_files)):
        if check:
            report.stale.append(f"{path.relative_to(assignment.course.root)} is not produced by source/ any more")
        else:
            path.unlink()
    return report
