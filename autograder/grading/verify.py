"""Tests of the tests: prove an assignment's tests right before it is released.

For each notebook of the assignment:

1. the reference pass runs cleanly, and every ``expected=`` literal agrees with the reference;
2. the solution notebook, graded as a submission, gets full marks on every autograded question;
3. the released notebook, graded as a submission, gets zero on every autograded question;
4. the visible tests pass on the solution in a student's own session (checks deciding in-process);
5. every mutant in ``tests/mutants/<assignment>.toml`` loses points on the questions it names, and only there.
"""

from __future__ import annotations

import concurrent.futures
import copy
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder.wire import values
from autograder.course.cells import Kind
from autograder.wire.compare import compare
from autograder.wire.protocol import Job, JobCell, Mode
from autograder.course import Assignment, CourseError
from autograder.grading.plan import GradingPlan, build_plan
from autograder.course.submissions import Submission
from autograder.grading.submission import grade_submission
from autograder.results.gradebook import StoredSubmission
from autograder.grading.reference import metric_lookup, stage_public_files
from autograder.grading.scoring import evaluate_metric
from autograder.prepare.release import release_notebook, render
from autograder.course import cells
from autograder.sandbox.limits import Limits
from autograder.sandbox.launch import run_job
from autograder.sandbox.scratch import fresh_workdir, remove_workdir


@dataclass
class Finding:
    what: str
    ok: bool
    detail: str = ""


@dataclass
class Mutant:
    name: str
    cell: str
    loses: list[str]
    source: str
    notebook: str | None = None


@dataclass
class VerifyReport:
    assignment: str
    findings: list[Finding] = field(default_factory=list)
    mutant_scores: list[tuple[str, dict[str, tuple[float | None, float]]]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.findings)

    def add(self, what: str, ok: bool, detail: str = "") -> None:
        self.findings.append(Finding(what, ok, detail))


def mutants_path(assignment: Assignment) -> Path:
    return assignment.course.root / "tests" / "mutants" / f"{assignment.name}.toml"


def load_mutants(assignment: Assignment) -> list[Mutant]:
    path = mutants_path(assignment)
    if not path.is_file():
        return []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise CourseError(f"{path}: not valid TOML: {error}") from None
    mutants = []
    for position, entry in enumerate(data.get("mutant", []), start=1):
        missing = [key for key in ("name", "cell", "loses", "source") if key not in entry]
        if missing:
            raise CourseError(f"{path}: mutant {position} lacks {', '.join(missing)}")
        mutants.append(Mutant(entry["name"], entry["cell"], list(entry["loses"]), entry["source"], entry.get("notebook")))
    return mutants


def _autograded(stored: StoredSubmission, plan: GradingPlan) -> dict[str, tuple[float | None, float]]:
    kinds = {c.grade_id: c.kind for c in plan.manifests[stored.notebook].cells}
    return {r.question: (r.score, r.max_score) for r in stored.results if kinds.get(r.question) == Kind.TEST}


def _grade_notebook(plan: GradingPlan, notebook_name: str, notebook: nbformat.NotebookNode, label: str, directory: Path, pool) -> StoredSubmission:
    folder = directory / label
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / notebook_name
    path.write_text(render(notebook), encoding="utf-8")
    return grade_submission(plan, Submission(label, notebook_name, path), pool.current())


def _with_answer(source: nbformat.NotebookNode, grade_id: str, new_source: str) -> nbformat.NotebookNode:
    mutated = copy.deepcopy(source)
    for cell in mutated.cells:
        if cells.grade_id(cell) == grade_id:
            if cells.kind(cell) not in (Kind.ANSWER, Kind.MANUAL):
                raise CourseError(f"mutant targets {grade_id!r}, which is not an answer cell")
            cell.source = new_source
            return mutated
    raise CourseError(f"mutant targets answer cell {grade_id!r}, which the notebook does not have")


def _check_literals(plan: GradingPlan, notebook_name: str, report: VerifyReport) -> None:
    disagreements = []
    for grade_id, records in plan.expectations[notebook_name].checks.items():
        for record in records:
            if record.is_metric:
                passed, message = evaluate_metric(record, values.decode(record.value), metric_lookup(plan.assignment))
                if not passed:
                    disagreements.append(f"{grade_id}/{record.name}: the reference's own value fails the metric ({message})")
                continue
            if not record.has_expected:
                continue
            verdict = compare(values.decode(record.expected), values.decode(record.value), record.options)
            if not verdict.ok:
                disagreements.append(f"{grade_id}/{record.name}: the reference gives a different value ({verdict.message})")
    report.add(f"{notebook_name}: expected= literals and metrics agree with solutions/", not disagreements, "\n".join(disagreements))


def _visible_tests_pass(assignment: Assignment, source: nbformat.NotebookNode, limits: Limits, pool) -> list[str]:
    """Run the solution with the released (visible) tests, checks deciding in-process as for a student."""
    released = release_notebook(source, config=assignment.course.nbgrader_config)
    job_cells = []
    for index, (source_cell, released_cell) in enumerate(zip(source.cells, released.cells)):
        if source_cell.cell_type != "code":
            continue
        is_test = cells.kind(source_cell) is Kind.TEST
        # as in a student's Jupyter session: test cells run like any other cell, without the harness's seeds
        job_cells.append(JobCell(index, released_cell.source if is_test else source_cell.source,
                                 cells.grade_id(source_cell), cells.kind(source_cell)))
    workdir = fresh_workdir("autograder-visible-")
    try:
        stage_public_files(assignment, workdir)
        run = run_job(Job(Mode.LOCAL, tuple(job_cells)), workdir, limits, course_root=assignment.course.root, worker=pool.current())
    finally:
        remove_workdir(workdir)
    problems = []
    for cell in job_cells:
        end = run.cells.get(cell.index)
        label = cell.grade_id or f"cell {cell.index + 1}"
        if end is None:
            problems.append(f"{label}: did not run ({run.message})")
        elif not end.ok:
            error = end.error
            problems.append(f"{label}: {error.ename}: {error.evalue}" if error else f"{label}: {end.status.value}")
    return problems


def verify_assignment(assignment: Assignment, limits: Limits, workers: int = 2, mutants: bool = True) -> VerifyReport:
    report = VerifyReport(assignment.name)
    try:
        plan = build_plan(assignment, limits, use_cache=False)
    except CourseError as error:
        report.add("the tests run against solutions/", False, str(error))
        return report
    report.add("the tests run against solutions/", True)
    bank = load_mutants(assignment) if mutants else []
    directory = fresh_workdir("autograder-verify-")
    try:
        jobs = {}
        with plan.worker_pool() as warm, concurrent.futures.ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for name in assignment.notebook_names:
                source = assignment.read_source(name)
                _check_literals(plan, name, report)
                jobs[(name, "solution")] = pool.submit(_grade_notebook, plan, name, source, "solution", directory, warm)
                jobs[(name, "release")] = pool.submit(_grade_notebook, plan, name, release_notebook(source, config=assignment.course.nbgrader_config),
                                                     "release", directory, warm)
                jobs[(name, "visible")] = pool.submit(_visible_tests_pass, assignment, source, limits, warm)
                for number, mutant in enumerate(bank):
                    if mutant.notebook not in (None, name):
                        continue
                    mutated = _with_answer(source, mutant.cell, mutant.source)
                    jobs[(name, f"mutant:{number}")] = pool.submit(_grade_notebook, plan, name, mutated, f"mutant{number}", directory, warm)
            for (name, what), future in jobs.items():
                result = future.result()
                if what == "solution":
                    scores = _autograded(result, plan)
                    short = [f"{q}: {s} / {m}" for q, (s, m) in scores.items() if s != m]
                    report.add(f"{name}: the solution gets full marks", not short and result.status == "ok",
                               "\n".join(short) + (f"\nrun status {result.status}: {result.message}" if result.status != "ok" else ""))
                elif what == "release":
                    scores = _autograded(result, plan)
                    nonzero = [f"{q}: {s} / {m}" for q, (s, m) in scores.items() if s not in (0, 0.0)]
                    report.add(f"{name}: the released notebook gets zero", not nonzero, "\n".join(nonzero))
                elif what == "visible":
                    report.add(f"{name}: the visible tests pass on the solution", not result, "\n".join(result))
                else:
                    mutant = bank[int(what.split(":")[1])]
                    scores = _autograded(result, plan)
                    report.mutant_scores.append((mutant.name, scores))
                    unknown = [q for q in mutant.loses if q not in scores]
                    kept = [q for q in mutant.loses if q in scores and scores[q][0] is not None and scores[q][0] >= scores[q][1]]
                    collateral = [q for q, (s, m) in scores.items() if q not in mutant.loses and (s is None or s < m)]
                    problems = []
                    if unknown:
                        problems.append(f"names test cells the notebook does not have: {', '.join(unknown)}")
                    if kept:
                        problems.append(f"keeps full marks on {', '.join(kept)}")
                    if collateral:
                        problems.append(f"also loses points on {', '.join(collateral)}")
                    lost = ", ".join(f"{q} {scores[q][0]:g}/{scores[q][1]:g}" for q in mutant.loses if q in scores and scores[q][0] is not None)
                    report.add(f"{name}: mutant '{mutant.name}' loses points on {', '.join(mutant.loses)}", not problems,
                               "; ".join(problems) if problems else lost)
    finally:
        remove_workdir(directory)
    return report
