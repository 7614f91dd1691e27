"""The parity table: courses nobody here wrote, graded by `nbgrader autograde` and by `autograder grade`.

    python -m benchmarks.nbgrader_parity [--dir DIR] [--course NAME ...]

1. Builds one nbgrader course per source shipped inside the nbgrader package (0.9.6): its documentation
   course (ps1: problem1, problem2, the header), the notebook of its autograde tests
   (`tests/apps/files/submitted-unchanged.ipynb` as `p1.ipynb`, as nbgrader's own tests use it), and its
   hidden-tests notebook (`tests/apps/files/test-hidden-tests.ipynb`). Each gets `nbgrader_config.py`,
   `nbgrader generate_assignment` and `autograder release`, then submissions in `submitted/<student>/<a>/`:
   the ones nbgrader ships for it, and variants made from nbgrader's release: the instructor's answers,
   the blank release, a wrong answer per question, an answer that raises, one that never ends (the
   course's `Execute.timeout = 5`), one that recurses without end, one that prints 2,000 lines and warns
   (nbgrader's preprocessor test notebooks), code that passes only the visible tests, one that writes to stderr and
   to `logging`, a test cell deleted, a test cell edited, the asserts silenced by an IPython input
   transformer, an answer equal to anything (nbgrader believes it; ours compares plain values), written answers
   left empty.
2. Times `nbgrader autograde A --force` and `autograder grade A submitted --force` (wall, CPU) on the same files.
3. Reads both gradebooks and compares every (student, notebook, question): a hand-graded answer waiting
   for its grade in both is identical; otherwise the scores must be equal. Each difference is classified:
   deliberate (the test cell a student deleted is restored and run; asserts silenced by an input
   transformer still fail; an answer equal to anything is compared as a plain value) or unexplained, which is a bug until explained. Prints one Markdown table and every
   difference. Exit status 1 when some difference is unexplained.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from benchmarks.common import Timed, autograder_command, machine, require_success, run_timed, work_directory

NBGRADER_CONFIG = '''c = get_config()
c.CourseDirectory.root = {root!r}
c.CourseDirectory.course_id = "parity"
c.Execute.timeout = 5
{extra}'''

#: What the deliberate differences are called in the table.
RESTORED = "deliberate: the deleted test cell is restored from source/ and run (nbgrader cannot run a cell it does not find)"
PATCHED = ("deliberate: an IPython input transformer wrapping every later cell in try/except does not silence the "
           "test cells (nbgrader runs them through it)")
LYING = ("deliberate: an answer whose __eq__ is always true is compared as a plain value (test-cell asserts are "
         "rewritten onto plain values, docs/security.md), and the submission is flagged; nbgrader believes it")

LIES = "class Anything(list):\n    def __eq__(self, other):\n        return True\n    __hash__ = None\n"
TRANSFORMER = ("get_ipython().input_transformers_post.append(lambda lines: ['try:\\n'] + ['    ' + l for l in lines]"
               " + ['\\nexcept BaseException:\\n    pass\\n'])\n")
NOISE = ("import logging, sys\nprint('debug: starting', file=sys.stderr)\nlogging.basicConfig()\n"
         "logging.getLogger('student').warning('a warning from the student')\n")


def nbgrader_dir() -> Path:
    import nbgrader

    return Path(nbgrader.__file__).parent


@dataclass
class Course:
    name: str
    assignment: str
    notebooks: dict[str, Path]  # released name -> source notebook
    shipped: dict[str, dict[str, Path]] = field(default_factory=dict)  # student -> released name -> notebook
    header: Path | None = None
    files: list[Path] = field(default_factory=list)  # copied beside the notebooks (images, data)
    answers: dict[str, str] = field(default_factory=dict)  # grade_id -> the right answer, where source/ has none
    wrong: dict[str, str] = field(default_factory=dict)  # grade_id -> a wrong answer
    tamper: tuple[str, str] = ("", "")  # (answer grade_id, test grade_id): the test a student fails, then deletes/edits
    lie: tuple[str, str] = ("", "")  # (answer grade_id, answer equal to anything)


def courses() -> dict[str, Course]:
    base = nbgrader_dir()
    guide, files = base / "docs" / "source" / "user_guide", base / "tests" / "apps" / "files"
    squares_wrong = {"squares": "def squares(n):\n    return [i * i for i in range(n)]",
                     "sum_of_squares": "def sum_of_squares(n):\n    return sum(squares(n)) + 1"}
    squares_right = {"squares": "def squares(n):\n    if n < 1:\n        raise ValueError('n must be at least 1')\n"
                                "    return [i ** 2 for i in range(1, n + 1)]",
                     "sum_of_squares": "def sum_of_squares(n):\n    return sum(squares(n))"}
    lie = ("squares", LIES + "def squares(n):\n    if n < 1:\n        raise ValueError('n must be at least 1')\n"
                             "    return Anything()")
    return {
        "nbgrader-tests": Course(
            "nbgrader-tests", "ps1", {"p1.ipynb": files / "submitted-unchanged.ipynb"},
            shipped={name.removeprefix("submitted-"): {"p1.ipynb": files / f"{name}.ipynb"}
                     for name in ("submitted-unchanged", "submitted-changed", "submitted-cheat-attempt",
                                  "submitted-cheat-attempt-alternative", "submitted-grade-cell-changed",
                                  "submitted-locked-cell-changed")},
            answers={"set_a": "a = 1", "baz": "An answer!", "quux": "b = 2"},
            wrong={"set_a": "a = 2"}, tamper=("set_a", "bar"),
            lie=("set_a", ("class Anything(int):\n    def __eq__(self, other):\n        return True\n"
                           "    __hash__ = int.__hash__\na = Anything(5)"))),
        "nbgrader-hidden-tests": Course(
            "nbgrader-hidden-tests", "hidden", {"squares.ipynb": files / "test-hidden-tests.ipynb"},
            files=[files / "jupyter.png"], answers=squares_right, wrong=squares_wrong,
            tamper=("squares", "correct_squares"), lie=lie),
        "nbgrader-docs": Course(
            "nbgrader-docs", "ps1", {"problem1.ipynb": guide / "source" / "ps1" / "problem1.ipynb",
                                     "problem2.ipynb": guide / "source" / "ps1" / "problem2.ipynb"},
            shipped={student: {nb: guide / "submitted" / student / "ps1" / nb for nb in ("problem1.ipynb", "problem2.ipynb")}
                     for student in ("bitdiddle", "hacker")},
            header=guide / "source" / "header.ipynb", files=[guide / "source" / "ps1" / "jupyter.png"],
            wrong={**squares_wrong, "sum_of_squares_application": "def pyramidal_number(n):\n    return n"},
            tamper=("squares", "correct_squares"), lie=lie),
    }


def flags(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def solution_text(source: str) -> str:
    """An answer cell of source/ as the student who knew the answer writes it: the delimiters' lines dropped."""
    return "\n".join(line for line in source.splitlines() if not re.match(r"\s*###? (BEGIN|END) SOLUTION", line))


def answered(course: Course, released, source, overrides: bool = True) -> nbformat.NotebookNode:
    """nbgrader's released notebook with every answer cell holding the instructor's answer (without
    ``overrides``: the code of source/ as written, which is not always right)."""
    by_id = {flags(cell).get("grade_id"): cell for cell in source.cells if flags(cell).get("solution")}
    notebook = nbformat.from_dict(released)
    for cell in notebook.cells:
        grade_id = flags(cell).get("grade_id")
        if flags(cell).get("solution") and grade_id in by_id:
            as_written = solution_text(by_id[grade_id].source)
            cell.source = course.answers.get(grade_id, as_written) if overrides else as_written
    return notebook


def variants(course: Course, released: dict, sources: dict) -> dict[str, dict[str, nbformat.NotebookNode]]:
    """student id -> released name -> notebook: the classes of submission a real class produces."""
    def solved() -> dict[str, nbformat.NotebookNode]:
        return {name: answered(course, released[name], sources[name]) for name in released}

    def edit(notebooks, grade_id, change) -> dict:
        for notebook in notebooks.values():
            for index, cell in enumerate(list(notebook.cells)):
                if flags(cell).get("grade_id") == grade_id:
                    change(notebook, index, cell)
                    return notebooks
        raise SystemExit(f"{course.name}: no cell {grade_id!r} to change")

    def set_source(text):
        return lambda notebook, index, cell: cell.__setitem__("source", text)

    made = {"gen-solution": solved(), "gen-blank": {name: nbformat.from_dict(nb) for name, nb in released.items()}}
    answer_cells = [flags(cell)["grade_id"] for nb in released.values() for cell in nb.cells
                    if flags(cell).get("solution") and cell.cell_type == "code"]
    for grade_id, wrong in course.wrong.items():
        made[f"gen-wrong-{grade_id}"] = edit(solved(), grade_id, set_source(wrong))
    for grade_id in answer_cells:
        made[f"gen-raises-{grade_id}"] = edit(solved(), grade_id, lambda nb, i, cell: cell.__setitem__(
            "source", "raise RuntimeError('the student left a bug here')\n" + cell.source))
    as_written = {name: answered(course, released[name], sources[name], overrides=False) for name in released}
    if all(as_written[name].cells != made[other][name].cells for other in made for name in released):
        made["gen-passes-visible-tests-only"] = as_written  # nbgrader's hidden-tests notebook: its source hard-codes the visible cases
    made["gen-endless-loop"] = edit(solved(), answer_cells[0], lambda nb, i, cell: cell.__setitem__(
        "source", cell.source + "\nwhile True:\n    pass"))
    made["gen-infinite-recursion"] = edit(solved(), answer_cells[0], lambda nb, i, cell: cell.__setitem__(
        "source", cell.source + "\ndef recurse():\n    recurse()\nrecurse()"))
    made["gen-long-output-and-warning"] = edit(solved(), answer_cells[0], lambda nb, i, cell: cell.__setitem__(
        "source", cell.source + "\nimport warnings\nwarnings.warn('a warning from the student')\nfor i in range(2000):\n    print(i)"))
    made["gen-stderr-and-logging"] = edit(solved(), answer_cells[0], lambda nb, i, cell: cell.__setitem__(
        "source", NOISE + cell.source))
    answer, test = course.tamper
    wrong = course.wrong[answer]
    made["gen-deleted-test"] = edit(edit(solved(), answer, set_source(wrong)), test, lambda nb, i, cell: nb.cells.pop(i))
    made["gen-edited-test"] = edit(edit(solved(), answer, set_source(wrong)), test, set_source("pass"))
    made["gen-patched-assert"] = edit(edit(solved(), answer, set_source(wrong)), answer_cells[0],
                                      lambda nb, i, cell: cell.__setitem__("source", TRANSFORMER + cell.source))
    made["gen-lies-about-equality"] = edit(solved(), course.lie[0], set_source(course.lie[1]))
    empty = solved()
    for name, notebook in empty.items():
        for index, cell in enumerate(notebook.cells):
            if flags(cell).get("solution") and cell.cell_type == "markdown":
                notebook.cells[index] = nbformat.from_dict(released[name].cells[index])
    made["gen-written-left-empty"] = empty
    return made


def build(course: Course, root: Path) -> list[str]:
    """The course in nbgrader's layout, released by both tools, with its submissions. Returns the student ids."""
    if root.exists():
        shutil.rmtree(root)
    folder = root / "source" / course.assignment
    folder.mkdir(parents=True)
    for name, path in course.notebooks.items():
        shutil.copyfile(path, folder / name)
    for path in course.files:
        shutil.copyfile(path, folder / path.name)
    extra = ""
    if course.header:
        shutil.copyfile(course.header, root / "source" / "header.ipynb")
        extra = 'c.IncludeHeaderFooter.header = "source/header.ipynb"\n'
    (root / "nbgrader_config.py").write_text(NBGRADER_CONFIG.format(root=str(root), extra=extra))
    require_success(run_timed([sys.executable, "-m", "nbgrader", "generate_assignment", course.assignment, "--force"],
                              cwd=root, env=nbgrader_env(root)), "nbgrader generate_assignment")
    release_dir = root / "release" / course.assignment
    theirs = {name: (release_dir / name).read_bytes() for name in course.notebooks}
    require_success(run_timed(autograder_command() + ["release", course.assignment, "--course", str(root)], cwd=root),
                    "autograder release")
    changed = [name for name in course.notebooks if (release_dir / name).read_bytes() != theirs[name]]
    if changed:
        sys.exit(f"{course.name}: autograder release wrote other notebooks than nbgrader's: {changed}")
    released = {name: nbformat.read(release_dir / name, as_version=4) for name in course.notebooks}
    sources = {name: nbformat.read(folder / name, as_version=4) for name in course.notebooks}
    students = {student: {name: nbformat.read(path, as_version=4) for name, path in notebooks.items()}
                for student, notebooks in course.shipped.items()}
    students.update(variants(course, released, sources))
    for student, notebooks in students.items():
        target = root / "submitted" / student / course.assignment
        target.mkdir(parents=True)
        for name, notebook in notebooks.items():
            nbformat.write(notebook, target / name)
        (target / "timestamp.txt").write_text("2026-12-01 10:00:00.000000 UTC")
    return sorted(students)


def nbgrader_env(root: Path) -> dict:
    """nbgrader sees the course's config only, not the user's ~/.jupyter."""
    return dict(os.environ, JUPYTER_CONFIG_DIR=str(root.parent / f"{root.name}-no-user-jupyter-config"))


@dataclass
class Grade:
    score: float | None  # None: waits for a hand grade
    note: str = ""


def nbgrader_grades(root: Path, assignment: str) -> tuple[dict, dict]:
    """(student, notebook, question) -> Grade from nbgrader's gradebook; and notebook -> (autograded, manual)."""
    from nbgrader.api import Gradebook

    grades, questions = {}, {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        for notebook in gradebook.find_assignment(assignment).notebooks:
            solution = {cell.name for cell in notebook.solution_cells}
            manual = [cell.name for cell in notebook.grade_cells if cell.name in solution] + [c.name for c in notebook.task_cells]
            questions[notebook.name] = (len(notebook.grade_cells) - len(manual) + len(notebook.task_cells), len(manual))
        for submission in gradebook.find_assignment(assignment).submissions:
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    pending = grade.needs_manual_grade and grade.manual_score is None
                    grades[(submission.student.id, notebook.name, grade.name)] = Grade(
                        None if pending else float(grade.score), "needs a hand grade" if pending else "")
    return grades, questions


def our_grades(url: str, assignment: str) -> dict:
    from autograder.results.gradebook import Gradebook

    grades = {}
    with Gradebook(url, create=False) as gradebook:
        for row in gradebook.submissions(assignment):
            for result in row.results:
                note = f"{result.status}: {(result.message or '')[:140]}"
                if row.message:
                    note += f" [submission: {row.message[:200]}]"
                grades[(row.student_id, Path(row.notebook).stem, result.question)] = Grade(
                    None if result.status == "needs_manual_grade" and result.score is None else float(result.score or 0.0), note)
    return grades


def classify(course: Course, key, theirs: Grade | None, ours: Grade | None) -> str:
    student, _, question = key
    if theirs is None or ours is None:
        return "bug: only " + ("ours" if theirs is None else "nbgrader") + " has this grade"
    if student == "gen-deleted-test" and question == course.tamper[1] and "restored" in ours.note:
        return RESTORED
    if student == "gen-patched-assert" and ours.score is not None and theirs.score is not None and ours.score < theirs.score:
        return PATCHED
    if student == "gen-lies-about-equality" and ours.score is not None and theirs.score is not None and ours.score < theirs.score:
        return LYING
    return "bug: unexplained"


@dataclass
class Outcome:
    course: Course
    notebooks: int
    autograded: int
    manual: int
    submissions: int
    pairs: int
    identical: int
    differences: list = field(default_factory=list)  # (key, nbgrader's, ours, reason)
    nbgrader: Timed | None = None
    ours: Timed | None = None
    theirs_grades: dict = field(default_factory=dict)
    our_grades: dict = field(default_factory=dict)

    @property
    def bugs(self) -> list:
        return [d for d in self.differences if d[3].startswith("bug")]


def run_course(course: Course, base: Path, workers: int) -> Outcome:
    root = base / course.name
    students = build(course, root)
    print(f"{course.name}: {root}, {len(students)} submissions; grading with nbgrader autograde ...", flush=True)
    theirs_run = run_timed([sys.executable, "-m", "nbgrader", "autograde", course.assignment, "--force"],
                           cwd=root, env=nbgrader_env(root))
    require_success(theirs_run, "nbgrader autograde")
    url = f"sqlite:///{root / 'autograder.db'}"
    print(f"{course.name}: ... and with autograder grade", flush=True)
    ours_run = run_timed(autograder_command() + ["grade", course.assignment, "submitted", "--course", str(root),
                                                 "--force", "--workers", str(workers), "--gradebook", url], cwd=root)
    require_success(ours_run, "autograder grade")
    theirs, questions = nbgrader_grades(root, course.assignment)
    ours = our_grades(url, course.assignment)
    keys = sorted(set(theirs) | set(ours))
    outcome = Outcome(course, len(questions), sum(a for a, _ in questions.values()), sum(m for _, m in questions.values()),
                      len(students), len(keys), 0, nbgrader=theirs_run, ours=ours_run, theirs_grades=theirs, our_grades=ours)
    for key in keys:
        a, b = theirs.get(key), ours.get(key)
        if a is not None and b is not None and (a.score == b.score or (a.score is not None and b.score is not None
                                                                          and abs(a.score - b.score) < 1e-9)):
            outcome.identical += 1
        else:
            outcome.differences.append((key, a, b, classify(course, key, a, b)))
    return outcome


def show(value: Grade | None) -> str:
    return "no grade" if value is None else ("hand grade pending" if value.score is None else f"{value.score:g}")


def report(outcomes: list[Outcome]) -> None:
    print()
    print("| course | notebooks | questions (autograded / hand-graded) | submissions | (student, question) pairs "
          "| identical | different | deliberate | bugs | nbgrader autograde: wall (CPU) | autograder grade: wall (CPU) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for o in outcomes:
        print(f"| {o.course.name} | {o.notebooks} | {o.autograded + o.manual} ({o.autograded} / {o.manual}) | {o.submissions} "
              f"| {o.pairs} | {o.identical} | {len(o.differences)} | {len(o.differences) - len(o.bugs)} | {len(o.bugs)} "
              f"| {o.nbgrader.wall:.1f} s ({o.nbgrader.cpu:.1f} s) | {o.ours.wall:.1f} s ({o.ours.cpu:.1f} s) |")
    print()
    for o in outcomes:
        for (student, notebook, question), a, b, reason in o.differences:
            print(f"- {o.course.name} {student} {notebook}/{question}: nbgrader {show(a)}, ours {show(b)}; {reason}"
                  + (f"\n    ours: {b.note}" if b is not None and reason.startswith("bug") else ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.nbgrader_parity", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", help="build the courses here (default: a new temporary directory, kept)")
    parser.add_argument("--course", action="append", choices=sorted(courses()), help="only this course (repeatable)")
    parser.add_argument("--workers", type=int, default=2, help="our workers (default: 2)")
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)
    base = work_directory(args.dir, "bench-nbgrader-parity-")
    print(f"machine: {machine()}")
    chosen = [course for name, course in courses().items() if not args.course or name in args.course]
    outcomes = [run_course(course, base, args.workers) for course in chosen]
    report(outcomes)
    return 1 if any(o.bugs for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
