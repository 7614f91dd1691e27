"""Tests of the tests: prove an assignment's tests right before it is released.

For each notebook of the assignment:

1. the reference pass runs cleanly, and every ``expected=`` literal agrees with the reference;
2. the solution notebook, graded as a submission, gets full marks on every autograded question;
3. the released notebook, graded as a submission, gets zero on every autograded question;
4. the visible tests pass on the solution in a student's own session (checks deciding in-process);
5. every mutant in ``tests/mutants/<assignment>.toml`` loses points on the questions it names, and only there;
6. every visible check states its ``expected=`` value (a student can tell locally whether the answer is right);
7. with mutation testing (`autograder.grading.mutation`), at least ``threshold`` of the generated mutants of
   each autograded question lose points on it (killed / non-equivalent), results cached by content hash.

Without ``solutions/`` (a course written for nbgrader, its test cells plain asserts), 1 and 6 do not apply,
and 3 allows *free-point* test cells: a test cell that uses no name any answer cell defines cannot depend on
the student's work, so the points it gives a blank notebook are the course's choice, not a broken test.
"""

from __future__ import annotations

import ast
import concurrent.futures
import copy
import dataclasses
import time
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
from autograder.sandbox.scratch import child_environment, fresh_workdir, remove_workdir
from autograder.grading import mutation as mutation_testing
from autograder.grading.sanitize import sanitize
from autograder.grading.scoring import score_notebook
from autograder.grading.submission import build_job, run_status

#: a generated mutant's run gets at most this many seconds per cell (and in all), or its limits' if fewer:
#: a mutated loop that never ends costs this, not the course's cell timeout
MUTANT_TIMEOUT_FLOOR_SECONDS = 20.0
#: ... or this multiple of the solution's own grading time, if longer
MUTANT_TIMEOUT_FACTOR = 4.0
#: while mutants run, what is known is written to the cache this often, so an interrupted run resumes
CACHE_WRITE_SECONDS = 30.0


@dataclass
class Finding:
    what: str
    ok: bool
    detail: str = ""
    warning: bool = False  # passes, but the author should know (e.g. no hand-written mutants)


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
    #: generated mutants per question (None: mutation testing was not run); see `autograder.grading.mutation`
    mutation: list[mutation_testing.QuestionScore] | None = None
    #: one line on how the mutation results were obtained (run now, from the cache, not run and why)
    mutation_note: str = ""

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.findings)

    def add(self, what: str, ok: bool, detail: str = "") -> None:
        self.findings.append(Finding(what, ok, detail))

    def warn(self, what: str, detail: str = "") -> None:
        self.findings.append(Finding(what, True, detail, warning=True))


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


def verify_assignment(assignment: Assignment, limits: Limits, workers: int = 2, mutants: bool = True, mutation: str = "off",
                      mutation_cap: int = mutation_testing.DEFAULT_CAP,
                      mutation_threshold: float = mutation_testing.DEFAULT_THRESHOLD) -> VerifyReport:
    """Prove one assignment's tests right (see the module docstring).

    ``mutation``: "off"; "cached" (report the cached results when they are current, else say how to get
    them: costs nothing); "run" (the cached results, or run every generated mutant and cache the outcome).
    """
    report = VerifyReport(assignment.name)
    has_solutions = assignment.solutions_path is not None
    try:
        plan = build_plan(assignment, limits, use_cache=False)
    except CourseError as error:
        report.add("the tests run against solutions/" if has_solutions else "the notebooks can be graded", False, str(error))
        return report
    if has_solutions:
        report.add("the tests run against solutions/", True)
    bank = load_mutants(assignment) if mutants else []
    if mutants and not mutants_path(assignment).is_file():
        report.warn(f"no hand-written wrong answers: {mutants_path(assignment).relative_to(assignment.course.root)} does not exist",
                    "add a few plausible wrong answers there, each naming the test cells it must lose points on "
                    "(docs/authoring.md, Mutants; `autograder new` writes an example); `--mutation` generates more")
    directory = fresh_workdir("autograder-verify-")
    try:
        jobs = {}
        with plan.worker_pool() as warm, concurrent.futures.ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for name in assignment.notebook_names:
                source = assignment.read_source(name)
                if has_solutions:
                    _check_literals(plan, name, report)
                _check_visible_expected(name, source, report, assignment.course.nbgrader_config)
                jobs[(name, "solution")] = pool.submit(_grade_notebook, plan, name, source, "solution", directory, warm)
                jobs[(name, "release")] = pool.submit(_grade_notebook, plan, name, release_notebook(source, config=assignment.course.nbgrader_config),
                                                     "release", directory, warm)
                jobs[(name, "visible")] = pool.submit(_visible_tests_pass, assignment, source, limits, warm)
                for number, mutant in enumerate(bank):
                    if mutant.notebook not in (None, name):
                        continue
                    mutated = _with_answer(source, mutant.cell, mutant.source)
                    jobs[(name, f"mutant:{number}")] = pool.submit(_grade_notebook, plan, name, mutated, f"mutant{number}", directory, warm)
            solution_seconds = 0.0
            for (name, what), future in jobs.items():
                result = future.result()
                if what == "solution":
                    solution_seconds = max(solution_seconds, result.duration_s or 0.0)
                    scores = _autograded(result, plan)
                    short = [f"{q}: {s} / {m}" for q, (s, m) in scores.items() if s != m]
                    report.add(f"{name}: the solution gets full marks", not short and result.status == "ok",
                               "\n".join(short) + (f"\nrun status {result.status}: {result.message}" if result.status != "ok" else ""))
                elif what == "release":
                    scores = _autograded(result, plan)
                    nonzero = [f"{q}: {s} / {m}" for q, (s, m) in scores.items() if s not in (0, 0.0)]
                    free = set() if has_solutions else _free_point_cells(assignment.read_source(name))
                    allowed = [line for line in nonzero if line.split(":")[0] in free]
                    wrong = [line for line in nonzero if line.split(":")[0] not in free]
                    detail = "\n".join(wrong) if wrong else "\n".join(f"{line} (free points: the test cell uses no answer's names)" for line in allowed)
                    what_proved = f"{name}: the released notebook gets zero" + (" (free-point test cells aside)" if allowed else "")
                    report.add(what_proved, not wrong, detail)
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
            if mutation != "off":
                if not has_solutions:
                    report.mutation_note = "mutation testing needs solutions/ (mutants are graded against the reference)"
                elif report.ok:
                    _mutation_testing(plan, report, mutation, mutation_cap, mutation_threshold, solution_seconds, directory, warm, pool)
                else:
                    report.mutation_note = "mutation testing not run: fix the failures above first"
    finally:
        remove_workdir(directory)
    return report


def _check_visible_expected(notebook_name: str, source: nbformat.NotebookNode, report: VerifyReport, config=None) -> None:
    """Every visible ``check_close``/``check_equal`` states its ``expected=`` value, so that a student's
    own run can say whether the answer is right (``check_true`` always decides; ``check_metric`` is
    judged on held-out data the student never has)."""
    missing = []
    released = release_notebook(source, config=config)
    for cell in released.cells:
        if cells.kind(cell) is not Kind.TEST:
            continue
        for line, call in visible_checks_without_expected(cell.source):
            missing.append(f"{cells.grade_id(cell)}, line {line}: {call}")
    if not missing:
        report.add(f"{notebook_name}: every visible check states its expected= value", True)
        return
    report.add(f"{notebook_name}: every visible check states its expected= value", False,
               f"{len(missing)} visible check(s) without expected= (a student cannot tell locally whether the answer is right; "
               "add expected=, or move the check into the hidden tests):\n" + "\n".join(missing))


def visible_checks_without_expected(test_source: str) -> list[tuple[int, str]]:
    """(line, the call's first line) of each ``check_close``/``check_equal`` call in ``test_source`` that
    has neither a third positional argument nor ``expected=``."""
    try:
        tree = ast.parse(test_source)
    except SyntaxError:
        return []  # a test cell that does not parse fails elsewhere, with its own message
    lines = test_source.splitlines()
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id if isinstance(node.func, ast.Name) else ""
        if name not in ("check_close", "check_equal"):
            continue
        if len(node.args) >= 3 or any(k.arg == "expected" or k.arg is None for k in node.keywords):
            continue
        found.append((node.lineno, lines[node.lineno - 1].strip()))
    return sorted(found)


def _free_point_cells(source: nbformat.NotebookNode) -> set[str]:
    """Test cells that read no name an answer cell defines: nothing in them depends on the student's work."""
    defined: set[str] = set()
    tests: dict[str, str] = {}
    for cell in source.cells:
        kind = cells.kind(cell)
        if kind is Kind.ANSWER and cell.cell_type == "code":
            defined |= _names_defined(cell.source)
        elif kind is Kind.TEST:
            tests[cells.grade_id(cell)] = cell.source
    return {grade_id for grade_id, text in tests.items() if _names_read(text) is not None and not (_names_read(text) & defined)}


def _names_defined(text: str) -> set[str]:
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return set()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
    return names


def _names_read(text: str) -> set[str] | None:
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


# ---------------------------------------------------------------------------------------------- mutation testing


def _mutation_testing(plan: GradingPlan, report: VerifyReport, mode: str, cap: int, threshold: float, solution_seconds: float,
                      directory: Path, warm, pool) -> None:
    assignment = plan.assignment
    marks = mutation_testing.load_equivalent(mutants_path(assignment))
    generated = {name: mutation_testing.generate(assignment.read_source(name), cap) for name in assignment.notebook_names}
    everything = [m for found in generated.values() for m in found]
    cache = mutation_testing.cache_path(assignment, cap)
    outcomes = mutation_testing.read_cache(cache) or {}
    missing = [m for m in everything if m.id not in outcomes]
    where = cache.relative_to(assignment.course.root)
    if not missing:
        report.mutation_note = f"{len(everything)} generated mutants, results from {where}"
    elif mode == "cached":
        report.mutation_note = (f"{len(missing)} of {len(everything)} generated mutants not run for the current notebooks and solutions/: "
                                f"`autograder verify {assignment.name} --mutation` runs them (cached afterwards)")
        return
    else:
        seconds = max(MUTANT_TIMEOUT_FLOOR_SECONDS, MUTANT_TIMEOUT_FACTOR * solution_seconds)
        mutant_plan = dataclasses.replace(plan, limits=dataclasses.replace(
            plan.limits, cell_timeout=min(plan.limits.cell_timeout or seconds, seconds), total_timeout=min(plan.limits.total_timeout or seconds, seconds)))
        sources = {name: assignment.read_source(name) for name in generated}
        futures = {mutant.id: pool.submit(_run_generated_mutant, mutant_plan, name, _with_answer(sources[name], mutant.cell, mutant.source), mutant, warm)
                   for name, found in generated.items() for mutant in found if mutant.id not in outcomes}
        last_write = time.monotonic()
        for done, future in enumerate(concurrent.futures.as_completed(futures.values()), start=1):
            result = future.result()
            outcomes[result.id] = result
            if time.monotonic() - last_write > CACHE_WRITE_SECONDS and done < len(futures):
                mutation_testing.write_cache(cache, outcomes)  # an interrupted run resumes from here
                last_write = time.monotonic()
        mutation_testing.write_cache(cache, {m.id: outcomes[m.id] for m in everything})
        report.mutation_note = (f"{len(everything)} generated mutants, {len(missing)} run now (at most {seconds:.0f} s each), "
                                f"results cached in {where}")
    report.mutation = mutation_testing.score_questions(everything, outcomes, marks)
    ids = {m.id for m in everything}
    stale = [mark.id for mark in marks.values() if mark.id not in ids]
    wrong = [mark.id for mark in marks.values() if mark.id in ids and outcomes[mark.id].killed]
    if stale or wrong:
        report.add(f"{mutants_path(assignment).name}: every [[equivalent]] mark names a surviving generated mutant", False,
                   "; ".join([f"{i} is not generated any more (its cell changed): remove the mark" for i in stale]
                             + [f"{i} is killed by the tests, so it is not equivalent: remove the mark" for i in wrong]))
    low = [q for q in report.mutation if q.score is not None and q.score < threshold]
    report.add(f"mutation score at least {threshold:.0%} on every question", not low,
               "; ".join(f"{q.question} {q.killed}/{q.generated - q.equivalent} ({q.score:.0%})" for q in low))


def _run_generated_mutant(plan: GradingPlan, notebook_name: str, mutated: nbformat.NotebookNode,
                          mutant: mutation_testing.GeneratedMutant, pool) -> mutation_testing.MutantOutcome:
    """Grade the mutated notebook up to and including the mutant's question (later cells cannot change
    that question's score), against the unchanged reference."""
    manifest = plan.manifests[notebook_name]
    sanitized = sanitize(mutated, manifest)
    stop = sanitized.index_of(mutant.question)
    full = build_job(sanitized)
    job = Job(full.mode, tuple(cell for cell in full.cells if stop is None or cell.index <= stop))
    for attempt in range(2):
        worker = pool.current()
        if worker is not None:
            worker.hurt = None
        workdir = fresh_workdir("autograder-mutant-")
        try:
            stage_public_files(plan.assignment, workdir)
            with plan.gpus.hold() as gpu:
                run = run_job(job, workdir, plan.limits, course_root=plan.assignment.course.root, worker=worker,
                              env=child_environment(workdir, plan.limits.device, gpu))
        finally:
            remove_workdir(workdir)
        if worker is None or not worker.hurt:
            break
        worker.hurt = None
        worker.close()  # killed for memory an earlier run left charged: once more on a fresh interpreter
    questions = score_notebook(manifest, sanitized, run, plan.expectations[notebook_name], metric_lookup(plan.assignment))
    status, _ = run_status(sanitized, run)
    return mutation_testing.outcome(mutant, status, {q.question: (q.score, q.max_score) for q in questions})
