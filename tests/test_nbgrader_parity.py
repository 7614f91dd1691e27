"""`autograder release` writes what `nbgrader generate_assignment` writes, for the same course (issue 16).

Each test builds one course, releases it with nbgrader's own command line (nbgrader 0.9.6, in a copy of the
course) and with `autograder release`, and compares the student notebooks cell by cell: cell type, source,
metadata (nbgrader's included: flags, points, grade_id, checksum, lock), outputs, execution counts, cell ids,
and the notebook's own metadata. `ALLOWED_DIFFERENCES` lists every difference accepted as ours by design,
each with its reason; it is empty: none was found, on nbgrader's documentation course or on a course with a
header, a footer, custom stubs and delimiters, a task cell with a mark scheme and locking options.

Then a task cell (nbgrader's hand-graded "task") is followed through grading: a pending row with its points,
the student's work after it in manual grading, a hand grade that exports and feedback show.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.cli import main
from autograder.course import Course
from autograder.results.export import to_csv
from autograder.results.gradebook import Gradebook

nbgrader = pytest.importorskip("nbgrader")

#: nbgrader's documentation course, as shipped inside the nbgrader package.
NBGRADER_DOCS = Path(nbgrader.__file__).parent / "docs" / "source" / "user_guide"

#: (where, what) -> why we differ from nbgrader there on purpose. Nothing so far: a difference found by
#: `differences` fails the tests until it is fixed or listed here with its reason.
ALLOWED_DIFFERENCES: dict[tuple[str, str], str] = {}

#: nbgrader's id of the docs course's task cell ("Part E (4 points)") in ps1/problem1.ipynb.
DOCS_TASK = "cell-938593c4a215c6cc"


def nbgrader_generate(course: Path, assignment: str, tmp_path: Path) -> None:
    """Run ``nbgrader generate_assignment`` in ``course`` with no configuration but the course's own."""
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp_path / "no-user-jupyter-config"))
    done = subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", assignment, "--force"],
                          cwd=course, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def autograder_release(course: Path, capsys) -> str:
    """Run ``autograder release`` on ``course``; returns what it wrote to stderr (the warnings)."""
    capsys.readouterr()
    assert main(["release", "--course", str(course)]) == 0
    return capsys.readouterr().err


def differences(theirs: Path, ours: Path) -> list[str]:
    """Every difference between two released notebooks, one line each, less `ALLOWED_DIFFERENCES`."""
    a, b = nbformat.read(theirs, as_version=4), nbformat.read(ours, as_version=4)
    found = []
    if a.metadata != b.metadata:
        found.append(("notebook", "metadata", f"{dict(a.metadata)} != {dict(b.metadata)}"))
    if (a.nbformat, a.nbformat_minor) != (b.nbformat, b.nbformat_minor):
        found.append(("notebook", "nbformat", f"{a.nbformat}.{a.nbformat_minor} != {b.nbformat}.{b.nbformat_minor}"))
    if len(a.cells) != len(b.cells):
        found.append(("notebook", "cells", f"{len(a.cells)} cells != {len(b.cells)}"))
    for index, (x, y) in enumerate(zip(a.cells, b.cells), 1):
        for key in ("cell_type", "id", "source", "outputs", "execution_count"):
            if x.get(key) != y.get(key):
                found.append((f"cell {index}", key, f"{x.get(key)!r} != {y.get(key)!r}"))
        nb_x, nb_y = x.metadata.get("nbgrader", {}), y.metadata.get("nbgrader", {})
        for key in sorted(set(nb_x) | set(nb_y)):
            if nb_x.get(key) != nb_y.get(key):
                found.append((f"cell {index}", f"nbgrader.{key}", f"{nb_x.get(key)!r} != {nb_y.get(key)!r}"))
        other_x = {k: v for k, v in x.metadata.items() if k != "nbgrader"}
        other_y = {k: v for k, v in y.metadata.items() if k != "nbgrader"}
        if other_x != other_y:
            found.append((f"cell {index}", "metadata", f"{other_x} != {other_y}"))
    return [f"{theirs.name} {where}: {what}: {detail}" for where, what, detail in found
            if (where, what) not in ALLOWED_DIFFERENCES]


def released_files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def compare_releases(course: Path, assignment: str, tmp_path: Path, capsys) -> str:
    """Release ``course`` with nbgrader (in a copy) and with autograder; assert the notebooks and files are
    the same; returns autograder's warnings."""
    theirs = tmp_path / "nbgrader-course"
    shutil.copytree(course, theirs)
    nbgrader_generate(theirs, assignment, tmp_path)
    warnings = autograder_release(course, capsys)
    their_release, our_release = theirs / "release" / assignment, course / "release" / assignment
    assert released_files(our_release) == released_files(their_release)
    notebooks = sorted(p.name for p in their_release.glob("*.ipynb"))
    assert notebooks, "nbgrader released no notebook"
    found = [line for name in notebooks for line in differences(their_release / name, our_release / name)]
    assert found == []
    return warnings


# ----------------------------------------------------------------------------- the courses compared


def docs_course(root: Path) -> Path:
    """nbgrader's documentation course (ps1 and its header), configured as its docs release it
    (``--IncludeHeaderFooter.header=source/header.ipynb``), in a config file."""
    (root / "source").mkdir(parents=True)
    shutil.copytree(NBGRADER_DOCS / "source" / "ps1", root / "source" / "ps1")
    shutil.copyfile(NBGRADER_DOCS / "source" / "header.ipynb", root / "source" / "header.ipynb")
    (root / "nbgrader_config.py").write_text('c = get_config()\nc.IncludeHeaderFooter.header = "source/header.ipynb"\n')
    return root


CUSTOM_CONFIG = '''\
c = get_config()
c.CourseDirectory.course_id = "ml101"
c.IncludeHeaderFooter.header = "source/header.ipynb"
c.IncludeHeaderFooter.footer = "source/footer.ipynb"
c.ClearSolutions.code_stub = {"python": "# TODO: write your code here\\npass"}
c.ClearSolutions.text_stub = "Write your answer here."
c.ClearSolutions.begin_solution_delimeter = "BEGIN ANSWER"
c.ClearSolutions.end_solution_delimeter = "END ANSWER"
c.ClearHiddenTests.begin_test_delimeter = "BEGIN SECRET"
c.ClearHiddenTests.end_test_delimeter = "END SECRET"
c.LockCells.lock_all_cells = True
c.Execute.timeout = 7
c.Execute.allow_errors = False
'''


def nbgrader_meta(grade_id: str, **flags) -> dict:
    return {"nbgrader": {"grade": False, "solution": False, "locked": False, "schema_version": 3, "grade_id": grade_id, **flags}}


def custom_course(root: Path) -> Path:
    """A course with a header and a footer, a custom code stub and text stub, its own solution and hidden-test
    delimiters, every cell locked, a task cell with a mark scheme, outputs to clear and a data file."""
    source = root / "source" / "hw"
    source.mkdir(parents=True)
    (root / "nbgrader_config.py").write_text(CUSTOM_CONFIG)
    v4 = nbformat.v4
    nbformat.write(v4.new_notebook(cells=[v4.new_markdown_cell("# ML 101: homework"), v4.new_code_cell('NAME = ""')]),
                   root / "source" / "header.ipynb")
    nbformat.write(v4.new_notebook(cells=[v4.new_markdown_cell("Hand it in before Friday.")]), root / "source" / "footer.ipynb")
    (source / "data.csv").write_text("x,y\n1,2\n")
    notebook = v4.new_notebook(cells=[
        v4.new_code_cell("import math", metadata=nbgrader_meta("setup", locked=True)),
        v4.new_markdown_cell("## Question 1 (2 points)\nWrite `f`."),
        v4.new_code_cell("def f(x):\n    ### BEGIN ANSWER\n    return x + 1\n    ### END ANSWER", metadata=nbgrader_meta("f", solution=True)),
        v4.new_code_cell("f(1)", execution_count=3, outputs=[v4.new_output("execute_result", data={"text/plain": "2"}, execution_count=3)]),
        v4.new_code_cell("assert f(1) == 2\n### BEGIN SECRET\nassert f(2) == 3\n### END SECRET",
                         metadata=nbgrader_meta("f_test", grade=True, points=2)),
        v4.new_markdown_cell("Why does `f` add one?"),
        v4.new_markdown_cell("Because the question says so.", metadata=nbgrader_meta("why", grade=True, solution=True, points=1)),
        v4.new_markdown_cell("## Task (3 points)\nPlot `f` on [0, 1].\n=== BEGIN MARK SCHEME ===\nAxes labelled: 1 point\n"
                             "=== END MARK SCHEME ===", metadata=nbgrader_meta("plot_task", task=True, locked=True, points=3)),
    ])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, source / "hw.ipynb")
    return root


@pytest.mark.slow  # nbgrader's command line: 8 s alone, 47 s on 2 busy shared cores
def test_release_of_nbgraders_docs_course_is_nbgraders(tmp_path, capsys):
    course = docs_course(tmp_path / "course")
    assert compare_releases(course, "ps1", tmp_path, capsys) == ""  # nothing in its config is ignored


def test_release_of_nbgraders_docs_course_is_the_release_nbgrader_ships(tmp_path, capsys):
    """nbgrader's package ships the docs course as its own generate_assignment released it."""
    course = docs_course(tmp_path / "course")
    autograder_release(course, capsys)
    shipped = NBGRADER_DOCS / "release" / "ps1"
    for name in ("problem1.ipynb", "problem2.ipynb"):
        assert differences(shipped / name, course / "release" / "ps1" / name) == []


@pytest.mark.slow  # nbgrader's command line: 8 s alone, 47 s on 2 busy shared cores
def test_release_of_a_course_with_header_footer_and_custom_stubs_is_nbgraders(tmp_path, capsys):
    course = custom_course(tmp_path / "course")
    warnings = compare_releases(course, "hw", tmp_path, capsys)
    released = nbformat.read(course / "release" / "hw" / "hw.ipynb", as_version=4)
    sources = [cell.source for cell in released.cells]
    # what the comparison covered, spelled out: header first, footer last, our stubs, no secret, no mark scheme
    assert sources[:2] == ["# ML 101: homework", 'NAME = ""'] and sources[-1] == "Hand it in before Friday."
    assert "def f(x):\n    # TODO: write your code here\n    pass" in sources and "Write your answer here." in sources
    assert "assert f(1) == 2" in sources and not any("SECRET" in s or "MARK SCHEME" in s for s in sources)
    assert all(cell.metadata.get("editable") is False for cell in released.cells if cell.cell_type == "markdown"
               and not cell.metadata.get("nbgrader", {}).get("solution"))  # lock_all_cells
    # the one setting present that neither release nor grading honours, named once
    lines = [line for line in warnings.splitlines() if line.startswith("warning:")]
    assert len(lines) == 1 and "Execute.allow_errors is ignored" in lines[0]


def test_the_courses_execute_timeout_is_the_cell_limit_unless_timeout_is_given(tmp_path):
    from autograder.grading.plan import course_limits
    from autograder.sandbox.limits import Limits

    assignment = Course.at(custom_course(tmp_path / "course")).assignment("hw")
    assert course_limits(assignment, Limits()).cell_timeout == 7.0  # c.Execute.timeout = 7
    assert course_limits(assignment, Limits(cell_timeout=30.0)).cell_timeout == 30.0  # --timeout 30 wins


def test_a_changed_config_changes_the_kept_manifest(tmp_path, capsys):
    from autograder.prepare.manifest import assignment_manifest

    course = custom_course(tmp_path / "course")
    autograder_release(course, capsys)
    before = assignment_manifest(Course.at(course).assignment("hw"), "hw.ipynb")
    (course / "source" / "footer.ipynb").write_bytes(
        (course / "source" / "footer.ipynb").read_bytes().replace(b"before Friday", b"before Monday"))
    after = assignment_manifest(Course.at(course).assignment("hw"), "hw.ipynb")
    assert before.plain_cells[-1][2] == "Hand it in before Friday."
    assert after.plain_cells[-1][2] == "Hand it in before Monday."


def test_the_gradescope_package_carries_the_config_its_manifest_was_built_with(tmp_path, capsys):
    import zipfile

    from autograder.grading.gradescope import build_package
    from autograder.prepare.manifest import assignment_manifest

    course = custom_course(tmp_path / "course")
    autograder_release(course, capsys)
    build_package(Course.at(course).assignment("hw"), tmp_path / "autograder.zip")
    with zipfile.ZipFile(tmp_path / "autograder.zip") as archive:
        names = set(archive.namelist())
        archive.extractall(tmp_path / "unzipped")
    assert {"course/nbgrader_config.py", "course/source/header.ipynb", "course/source/footer.ipynb"} <= names
    unzipped = tmp_path / "unzipped" / "course"
    kept = set((unzipped / ".autograder" / "manifests").iterdir())
    manifest = assignment_manifest(Course.at(unzipped).assignment("hw"), "hw.ipynb")
    assert set((unzipped / ".autograder" / "manifests").iterdir()) == kept  # the packaged manifest is the one used
    assert manifest.plain_cells[-1][2] == "Hand it in before Friday."  # built with the footer


# --------------------------------------------------------------------- a task cell through grading


@pytest.fixture
def graded_docs_course(tmp_path, capsys):
    """nbgrader's docs course released and its two submissions graded (bitdiddle, hacker)."""
    course = docs_course(tmp_path / "course")
    shutil.copytree(NBGRADER_DOCS / "submitted", course / "submitted")
    autograder_release(course, capsys)
    assert main(["grade", "ps1", str(course / "submitted"), "--course", str(course), "--quiet"]) == 0
    return course


def text_of(page: Path) -> str:
    """A page's text as read: tags, styles and scripts dropped, entities decoded, spaces collapsed."""
    import html
    import re

    text = re.sub(r"<(style|script)\b.*?</\1>", " ", page.read_text(), flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", text))).strip()


def export_rows(course: Path) -> list[dict]:
    with Gradebook(Course.at(course).gradebook_url) as gradebook:
        return list(csv.DictReader(io.StringIO(to_csv(gradebook, "ps1"))))


@pytest.mark.slow  # grades two submissions
def test_a_task_cell_is_a_hand_graded_question_from_release_to_feedback(graded_docs_course, tmp_path):
    from autograder.results.manual import ManualGrading

    course = graded_docs_course
    rows = [r for r in export_rows(course) if r["notebook"] == "problem1.ipynb"]
    task = {r["student_id"]: r for r in rows if r["question"] == DOCS_TASK}
    assert {s: (r["score"], float(r["max_score"]), r["status"]) for s, r in task.items()} == {
        "bitdiddle": ("", 4.0, "needs_manual_grade"), "hacker": ("", 4.0, "needs_manual_grade")}
    # the notebook's maximum counts the task, as nbgrader's does: 6 autograded or written points + 4
    assert sum(float(r["max_score"]) for r in rows if r["student_id"] == "hacker") == 10.0

    with Gradebook(Course.at(course).gradebook_url) as gradebook:
        grading = ManualGrading(gradebook, "ps1", grader="ta")
        answer = next(a for a in grading.answers() if a.student_id == "hacker" and a.question == DOCS_TASK)
        assert answer.source == "$\\sum x^i = \\frac{1}{1-x}$"  # hacker's cell after the task
        gradebook.set_manual_grade("ps1", "hacker", "problem1.ipynb", DOCS_TASK, 3, "the geometric sum needs |x| < 1",
                                   answer_sha256=answer.sha256, grader="ta")

    graded = next(r for r in export_rows(course) if r["student_id"] == "hacker" and r["question"] == DOCS_TASK)
    assert (float(graded["score"]), graded["status"]) == (3.0, "manually_graded")
    assert main(["feedback", "ps1", "--course", str(course), "--output", str(tmp_path / "feedback")]) == 0
    page = text_of(tmp_path / "feedback" / "hacker.html")
    assert "score 6 / 13" in page  # 3 autograded + the task's 3, out of problem1's 10 and problem2's 3
    assert "Part E (1 point lost, graded by hand) the geometric sum needs |x| < 1" in page
    pending = text_of(tmp_path / "feedback" / "bitdiddle.html")
    assert f"Part E {DOCS_TASK} pending 4 waiting for a hand grade" in pending
    assert main(["report", "ps1", "--course", str(course), "--output", str(tmp_path / "report.html")]) == 0
    assert "scores out of 13" in (tmp_path / "report.html").read_text()


@pytest.mark.slow  # grades two submissions, then one again
def test_a_hand_grade_of_a_task_waits_again_when_the_cells_after_it_change(graded_docs_course):
    course = graded_docs_course
    with Gradebook(Course.at(course).gradebook_url) as gradebook:
        view = gradebook.student_views("ps1", "hacker", with_cells=False)[("hacker", "problem1.ipynb")]
        gradebook.set_manual_grade("ps1", "hacker", "problem1.ipynb", DOCS_TASK, 4, answer_sha256=view["answers"][DOCS_TASK]["sha256"])
    path = course / "submitted" / "hacker" / "ps1" / "problem1.ipynb"
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell("sum(0.5 ** i for i in range(50))"))  # more work for the task
    nbformat.write(notebook, path)
    assert main(["grade", "ps1", str(course / "submitted"), "--course", str(course), "--quiet"]) == 0
    row = next(r for r in export_rows(course) if r["student_id"] == "hacker" and r["question"] == DOCS_TASK)
    assert (row["score"], row["status"]) == ("", "needs_manual_grade")
    assert row["message"].startswith("the answer changed after it was graded by hand (4 / 4")


@pytest.mark.slow  # grades two submissions, one of which runs into the course's timeout
def test_grading_a_configured_course_uses_its_stubs_and_its_execute_timeout(tmp_path, capsys):
    course = custom_course(tmp_path / "course")
    config = course / "nbgrader_config.py"
    config.write_text(config.read_text().replace("c.Execute.timeout = 7", "c.Execute.timeout = 2"))
    autograder_release(course, capsys)
    for student, answer in (("ada", "def f(x):\n    return x + 1"), ("slow", "import time\ndef f(x):\n    time.sleep(5)\n    return x + 1")):
        notebook = nbformat.read(course / "release" / "hw" / "hw.ipynb", as_version=4)
        next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "f").source = answer
        (course / "submitted" / student).mkdir(parents=True)
        nbformat.write(notebook, course / "submitted" / student / "hw.ipynb")
    assert main(["grade", "hw", str(course / "submitted"), "--course", str(course), "--quiet"]) == 0
    with Gradebook(Course.at(course).gradebook_url) as gradebook:
        rows = {(r["student_id"], r["question"]): r for r in csv.DictReader(io.StringIO(to_csv(gradebook, "hw")))}
    assert (rows[("ada", "f_test")]["status"], float(rows[("ada", "f_test")]["score"])) == ("passed", 2.0)  # hidden test included
    assert rows[("ada", "why")]["status"] == "not_attempted"  # the course's own text stub, left as released
    assert (rows[("ada", "plot_task")]["status"], float(rows[("ada", "plot_task")]["max_score"])) == ("needs_manual_grade", 3.0)
    assert (rows[("slow", "f_test")]["status"], rows[("slow", "f_test")]["message"]) == ("timeout", "CellTimeout: the cell ran longer than 2 s")
