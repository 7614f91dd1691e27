"""Expected values from the seeded reference implementation (trusted side).

The source notebook's read-only, plain and test cells (hidden tests included) run in a fresh process in
"reference" mode: every name ``solutions/<assignment>.py`` defines is in the namespace in place of the
student's answers, and every check records its expected value. The result depends only on source/ and
solutions/, so it is computed once per assignment and cached under ``.autograder/expected/``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import autograder
from autograder.wire import seeding
from autograder.course.cells import Kind
from autograder.course import Assignment, CourseError
from autograder.prepare.manifest import NotebookManifest
from autograder.sandbox.limits import Limits
from autograder.sandbox.launch import run_job
from autograder.sandbox.scratch import fresh_workdir, remove_workdir
from autograder.wire.protocol import CheckRecord, Job, JobCell, Mode, Preload


@dataclass
class Expectations:
    """What the reference produced, per test cell: the check records in the order they were made."""

    checks: dict[str, list[CheckRecord]] = field(default_factory=dict)  # grade_id -> records
    problems: list[str] = field(default_factory=list)  # cells that failed in the reference pass

    def for_cell(self, grade_id: str) -> list[CheckRecord]:
        return self.checks.get(grade_id, [])

    def to_json(self) -> dict:
        return {"checks": {grade_id: [r.to_json() for r in records] for grade_id, records in self.checks.items()},
                "problems": self.problems}

    @classmethod
    def from_json(cls, data: dict) -> "Expectations":
        checks = {grade_id: [CheckRecord.from_json(r) for r in records] for grade_id, records in dict(data.get("checks", {})).items()}
        return cls(checks, list(data.get("problems", [])))


def source_order(manifest: NotebookManifest) -> list[tuple[str | None, str, str, str]]:
    """The source notebook's cells in order as (grade_id, kind, cell_type, instructor source)."""
    plain: dict[str | None, list] = {}
    for anchor, cell_type, source in manifest.plain_cells:
        plain.setdefault(anchor, []).append((None, Kind.PLAIN.value, cell_type, source))
    ordered = list(plain.get(None, []))
    for cell in manifest.cells:
        ordered.append((cell.grade_id, cell.kind, cell.cell_type, cell.solution_source))
        ordered.extend(plain.get(cell.grade_id, []))
    return ordered


def reference_job(manifest: NotebookManifest, assignment: Assignment) -> Job:
    solutions = assignment.solutions_path
    job_cells = []
    for index, (grade_id, kind, cell_type, source) in enumerate(source_order(manifest)):
        # Answer cells are replaced by the reference module's names; a hand-graded code answer runs as the
        # instructor wrote it, since later cells may use what it defines.
        if cell_type != "code" or kind in (Kind.ANSWER, Kind.TASK):
            continue
        job_cells.append(JobCell(index, source, grade_id, kind, kind == Kind.TEST,
                                 seeding.stable_seed(grade_id) if kind == Kind.TEST else None))
    return Job(Mode.REFERENCE, tuple(job_cells),
               preload=Preload(str(assignment.course.root), f"solutions.{assignment.name}", str(solutions)))


_loaded: dict[str, object] = {}


def reference_module(assignment: Assignment):
    """The assignment's reference module, imported in the grader's own (trusted) process, once."""
    import importlib.util
    import sys

    path = assignment.solutions_path
    if path is None:
        raise CourseError(f"{assignment.name} has no solutions/{assignment.name}.py")
    key = str(path.resolve())
    if key not in _loaded:
        name = f"_autograder_reference_{assignment.name}"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        _loaded[key] = module
    return _loaded[key]


def metric_lookup(assignment: Assignment):
    """name -> function of the reference module, for `checks.check_metric`."""
    if assignment.solutions_path is None:
        return None

    def lookup(name: str):
        function = getattr(reference_module(assignment), name)
        if not callable(function):
            raise AttributeError(name)
        return function

    return lookup


_NUMERICAL_PACKAGES = ("numpy", "torch", "torchvision", "pandas", "scikit-learn", "scipy")


def _cache_key(manifest: NotebookManifest, assignment: Assignment) -> str:
    digest = hashlib.sha256()
    digest.update(autograder.__version__.encode())
    # Expected values depend on the numerical libraries too: a new torch or NumPy recomputes them.
    for package in _NUMERICAL_PACKAGES:
        try:
            digest.update(f"{package}={importlib.metadata.version(package)}".encode())
        except importlib.metadata.PackageNotFoundError:
            continue
    digest.update(json.dumps(manifest.to_json(), sort_keys=True).encode())
    solutions = assignment.solutions_path
    files = [solutions] if solutions.name != "__init__.py" else sorted(solutions.parent.rglob("*.py"))
    for path in files:
        digest.update(path.read_bytes())
    for path in assignment.public_files():
        digest.update(str(path.relative_to(assignment.source_dir)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:20]


def stage_public_files(assignment: Assignment, workdir: Path) -> None:
    """Copy the assignment's public files (data/ ...) into a run's working directory."""
    for path in assignment.public_files():
        target = workdir / path.relative_to(assignment.source_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)


def compute_expectations(manifest: NotebookManifest, assignment: Assignment, limits: Limits, use_cache: bool = True) -> Expectations:
    """Run the reference pass (or read its cached result). Without solutions/, there is nothing to expect."""
    if assignment.solutions_path is None:
        return Expectations()
    cache = assignment.course.cache_dir / "expected" / f"{assignment.name}--{manifest.notebook}--{_cache_key(manifest, assignment)}.json"
    if use_cache and cache.is_file():
        return Expectations.from_json(json.loads(cache.read_text()))
    job = reference_job(manifest, assignment)
    workdir = fresh_workdir("autograder-reference-")
    try:
        stage_public_files(assignment, workdir)
        # The reference always runs on the CPU: one set of expected values, whatever device grades.
        run = run_job(job, workdir, dataclasses.replace(limits, device="cpu"))
    finally:
        remove_workdir(workdir)
    expectations = Expectations()
    by_index = {cell.index: cell for cell in job.cells}
    for index, record in run.checks:
        cell = by_index.get(index)
        if cell is None or cell.kind != Kind.TEST:
            expectations.problems.append(f"check {record.name!r} was called outside a test cell")
            continue
        existing = expectations.checks.setdefault(cell.grade_id, [])
        if any(r.name == record.name for r in existing):
            expectations.problems.append(f"test cell {cell.grade_id!r}: the check name {record.name!r} is used twice; check names must be unique")
            continue
        if record.error is not None:
            expectations.problems.append(f"test cell {cell.grade_id!r}: {record.error}")
        existing.append(record)
    names: dict[str, str] = {}
    for grade_id, records in expectations.checks.items():
        for record in records:
            if record.name in names and names[record.name] != grade_id:
                expectations.problems.append(
                    f"check name {record.name!r} is used in test cells {names[record.name]!r} and {grade_id!r}; check names must be unique"
                )
            names[record.name] = grade_id
    for cell in job.cells:
        end = run.cells.get(cell.index)
        label = f"test cell {cell.grade_id!r}" if cell.kind == Kind.TEST else (
            f"read-only cell {cell.grade_id!r}" if cell.grade_id else f"cell {cell.index + 1}")
        if end is None:
            expectations.problems.append(f"{label} did not run in the reference pass ({run.message or 'the run stopped early'})")
        elif not end.ok:
            error = end.error
            expectations.problems.append(
                f"{label} failed in the reference pass with {error.ename if error else end.status.value}: {error.evalue if error else ''}"
                f" — every name a test uses from an answer cell must be defined in {assignment.solutions_path.relative_to(assignment.course.root)}"
            )
    if expectations.problems and not run.finished and not run.cells:
        raise CourseError(
            f"the reference pass for {assignment.name}/{manifest.notebook} could not start: {run.message}\n{run.stderr_tail}"
        )
    cache.parent.mkdir(parents=True, exist_ok=True)
    if not expectations.problems:
        cache.write_text(json.dumps(expectations.to_json()))
    return expectations
