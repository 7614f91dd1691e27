"""What a student runs before handing in: `check` (the visible tests, run as the grader runs them) and `submit`.

A student has the released course, not the instructor's: ``release/<assignment>/<notebook>.ipynb`` and
the public files next to it. Everything here works from ``release/`` alone. ``source/`` and ``solutions/``
are never read, so hidden tests can neither run nor be revealed, even on an instructor's machine.

``check`` rebuilds the notebook against the released one with the grader's own `sanitize` (locked and
test cells restored, deleted cells put back, cells in released order), runs it top to bottom in the
grader's sandbox (`autograder.sandbox`, a fresh process in a scratch directory) with the visible checks
deciding in that process as they do in Jupyter, and says per question what happened. It also warns about
what would cost points at grading and cannot be seen from the visible tests alone: the repairs `sanitize`
made (an edited locked cell, a deleted test cell), cells that depend on state the notebook does not
create (run out of order, names used before they are defined), and imports the grading environment lacks.
"""

from __future__ import annotations

import ast
import builtins
import importlib.metadata
import importlib.util
import os
import re
import shutil
import sys
import tempfile
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import nbformat

from autograder import cells
from autograder.cells import Kind
from autograder.grade import Invalid, build_job, read_notebook
from autograder.manifest import ManifestCell, NotebookManifest, manifest_from_cells
from autograder.sandbox import Limits, RunResult, run_job
from autograder.sandbox.launch import fresh_workdir, remove_workdir
from autograder.sanitize import Sanitized, sanitize


class StudentError(Exception):
    """A notebook that cannot be checked or handed in; the message names the file and what to do."""


# ------------------------------------------------------------------------------------ the course


@dataclass(frozen=True)
class ReleasedCourse:
    """The course as a student has it: a folder with ``release/<assignment>/<notebook>.ipynb``."""

    root: Path

    @classmethod
    def locate(cls, course: str | Path | None, notebook: Path) -> "ReleasedCourse":
        """``--course DIR`` when given; else the current directory or the nearest folder above the notebook with release/."""
        if course is not None:
            root = Path(course).resolve()
            if not (root / "release").is_dir():
                raise StudentError(f"{root} has no release/ folder: pass --course the course folder you were given "
                                   "(the one that holds release/<assignment>/<notebook>.ipynb)")
            return cls(root)
        candidates = [Path.cwd(), *Path(notebook).resolve().parents]
        for candidate in candidates:
            if (candidate / "release").is_dir():
                return cls(candidate.resolve())
        raise StudentError(f"no release/ folder in the current directory or above {notebook}: pass --course DIR, "
                           "the course folder you were given (the one that holds release/<assignment>/...)")

    def released_notebooks(self) -> list[tuple[str, Path]]:
        return sorted((path.parent.name, path) for path in (self.root / "release").glob("*/*.ipynb"))


@dataclass
class ReleasedNotebook:
    assignment: str
    notebook: str  # the released file name: the name `grade` expects
    path: Path
    manifest: NotebookManifest

    @property
    def folder(self) -> Path:
        return self.path.parent


def manifest_from_release(assignment: str, notebook_name: str, released: nbformat.NotebookNode) -> NotebookManifest:
    """A grading manifest from the released notebook: test cells hold the visible tests only.

    Release already wrote what `sanitize` compares against (stubs, locked cells, nbgrader checksums), so
    the released cells are taken as they are.
    """
    return manifest_from_cells(assignment, notebook_name, dict(released.metadata), zip(released.cells, released.cells))


def changed_cell(released: nbformat.NotebookNode) -> str | None:
    """The grade_id of the first cell that no longer matches the checksum release gave it, if any.

    A file under release/ with such a cell is somebody's worked copy, not the release: it cannot say what
    the locked and test cells were.
    """
    from nbgrader.utils import compute_checksum

    for cell in released.cells:
        checksum = cells.nbgrader(cell).get("checksum")
        if checksum and compute_checksum(cell) != checksum:
            return cells.grade_id(cell) or "?"
    return None


def identify(notebook: nbformat.NotebookNode, path: Path, course: ReleasedCourse) -> ReleasedNotebook:
    """The released notebook this one is a copy of: the one sharing most nbgrader cells (grade_ids).

    Only notebooks under release/ that are still as released count (every cell matches its checksum).
    """
    ids = {cells.grade_id(cell) for cell in notebook.get("cells", [])} - {None}
    best: list[tuple[int, bool, ReleasedNotebook]] = []
    worked: list[tuple[Path, str]] = []
    for assignment, released_path in course.released_notebooks():
        if released_path.resolve() == path.resolve():
            continue
        try:
            released = nbformat.read(released_path, as_version=4)
        except Exception as error:
            raise StudentError(f"{released_path}: the released notebook cannot be read ({error}); get a fresh copy of the course") from None
        manifest = manifest_from_release(assignment, released_path.name, released)
        shared = len(ids & {c.grade_id for c in manifest.cells})
        if not shared:
            continue
        changed = changed_cell(released)
        if changed is not None:
            worked.append((released_path, changed))
            continue
        best.append((shared, released_path.name == path.name, ReleasedNotebook(assignment, released_path.name, released_path, manifest)))
    if not best and worked:
        where, grade_id = worked[0]
        raise StudentError(f"{path}: the released notebook it comes from, {where}, is not as released any more (cell {grade_id!r} "
                           "was changed), so it cannot tell what the grader restores. Get a fresh copy of release/ and keep "
                           "your work in a copy of the notebook (e.g. next to release/, or under another name)")
    if not best:
        raise StudentError(f"{path}: none of its cells belongs to an assignment in {course.root / 'release'}; is it a notebook "
                           "of this course? Start from the released notebook (its locked cells carry the ids the grader needs)")
    best.sort(key=lambda item: (item[0], item[1]), reverse=True)
    if len(best) > 1 and best[0][:2] == best[1][:2]:
        names = ", ".join(f"{item[2].assignment}/{item[2].notebook}" for item in best[:2])
        raise StudentError(f"{path}: its cells match more than one released notebook ({names}); rename the file as the released notebook")
    return best[0][2]


def _read(path: Path) -> nbformat.NotebookNode:
    if not path.exists():
        raise StudentError(f"{path}: no such file")
    if path.is_dir():
        raise StudentError(f"{path} is a directory; give the notebook file (.ipynb)")
    try:
        return read_notebook(path)
    except Invalid as error:
        raise StudentError(f"{path}: {error}") from None
    except OSError as error:
        raise StudentError(f"{path}: cannot be read ({error.strerror or error})") from None


# ------------------------------------------------------------------------------------------- check


@dataclass
class QuestionLine:
    question: str  # grade_id of the test cell (or hand-graded answer)
    status: str  # passed | failed | not_attempted | error | not_run | hand_graded
    points: float
    message: str = ""


@dataclass
class CheckReport:
    path: Path
    assignment: str
    notebook: str
    questions: list[QuestionLine] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def tests(self) -> list[QuestionLine]:
        return [q for q in self.questions if q.status != "hand_graded"]

    @property
    def ok(self) -> bool:
        """Every visible test passes."""
        return all(q.status == "passed" for q in self.tests)


_FRAME = re.compile(r'File "(?:<ipython-input-(\d+)-[0-9a-f]+>|<test cell (\d+)>)", line (\d+)')


class _Places:
    """Names the cells of the restored notebook the way the student sees them."""

    def __init__(self, sanitized: Sanitized, student: nbformat.NotebookNode, job: dict):
        self.sanitized = sanitized
        # IPython numbers the inputs it runs (<ipython-input-N-...>); test cells run through the harness.
        self.by_input = {number: cell["index"] for number, cell in
                         enumerate((c for c in job["cells"] if not c.get("harness_exec")), start=1)}
        self.positions: dict[int, int] = {}
        unmatched = list(enumerate(student.get("cells", []), start=1))
        for index, cell in enumerate(sanitized.cells):
            if cell.origin != "student" or cell.grade_id:
                continue
            for position, (number, original) in enumerate(unmatched):
                if _text(original.get("source", "")) == cell.source:
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

    def frames(self, error: dict) -> list[tuple[int, int]]:
        """(cell index, line) of the traceback's frames in the notebook's own cells, outermost first."""
        frames = []
        for line in error.get("traceback", []):
            for match in _FRAME.finditer(line):
                index = self.by_input.get(int(match.group(1))) if match.group(1) else int(match.group(2))
                if index is not None:
                    frames.append((index, int(match.group(3))))
        return frames

    def where(self, error: dict) -> str:
        """'at answer cell 'x', line 3 (called from test cell 'x_test', line 2)' from a traceback."""
        frames = self.frames(error)
        if not frames:
            return ""
        inner = frames[-1]
        text = f"at {self.label(inner[0])}, line {inner[1]}"
        if frames[0][0] != inner[0]:
            text += f" (called from {self.label(frames[0][0])}, line {frames[0][1]})"
        return text


def _text(source) -> str:
    return "".join(source) if isinstance(source, list) else str(source or "")


def _error(end: dict | None) -> dict | None:
    if not end:
        return None
    return next((o for o in end.get("outputs", []) if o.get("output_type") == "error"), None)


def _stream(end: dict, name: str) -> str:
    return "".join(o.get("text", "") for o in end.get("outputs", []) if o.get("output_type") == "stream" and o.get("name") == name)


def _answers_before(sanitized: Sanitized, index: int) -> list:
    """The answer cells between the previous test cell and this one: what the test exercises."""
    found = []
    for cell in reversed(sanitized.cells[:index]):
        if cell.kind == Kind.TEST.value:
            break
        if cell.kind == Kind.ANSWER.value:
            found.append(cell)
    return found


def _question(item: ManifestCell, index: int, sanitized: Sanitized, run: RunResult, places: _Places) -> QuestionLine:
    if item.kind == Kind.MANUAL.value:
        answered = not sanitized.cells[index].checksum_matches_release
        return QuestionLine(item.grade_id, "hand_graded", item.points,
                            "answered; graded by hand" if answered else "not answered yet (still as released); graded by hand")
    end = run.cells.get(index)
    if end is None:
        return QuestionLine(item.grade_id, "not_run", item.points, f"the test cell did not run: {run.message or 'the notebook stopped before it'}")
    if end["status"] == "ok":
        stderr = _stream(end, "stderr").strip()
        if stderr:  # the grader scores a plain test cell that writes to stderr as failed (nbgrader's rule)
            return QuestionLine(item.grade_id, "failed", item.points, f"the test cell wrote to stderr: {stderr[:300]}")
        out = _stream(end, "stdout").splitlines()
        passed = sum(1 for line in out if line.startswith("✓ "))
        later = sum(1 for line in out if line.startswith("- "))
        message = f"{passed} visible check(s) passed" if passed or later else "the test cell ran without an error"
        if later:
            message += f"; {later} more decided only when graded"
        return QuestionLine(item.grade_id, "passed", item.points, message)
    error = _error(end) or {}
    name, value = error.get("ename", "Error"), str(error.get("evalue", "")).strip()
    where = places.where(error)
    if end["status"] == "timeout":
        return QuestionLine(item.grade_id, "error", item.points, f"{value or 'the cell ran out of time'} {where}".strip())
    if name == "NotImplementedError":
        frames = places.frames(error)
        raiser = f"{places.label(frames[-1][0])} (line {frames[-1][1]})" if frames else "the answer"
        return QuestionLine(item.grade_id, "not_attempted", item.points, f"{raiser} still raises NotImplementedError")
    answers = _answers_before(sanitized, index)
    if answers and all(cell.checksum_matches_release for cell in answers):
        return QuestionLine(item.grade_id, "not_attempted", item.points, f"the answer cell above is still as released ({name}: {value})")
    if name == "AssertionError":
        message = value if value.startswith("check '") else f"AssertionError{': ' + value if value else ''} {where}".strip()
        return QuestionLine(item.grade_id, "failed", item.points, message)
    return QuestionLine(item.grade_id, "error", item.points, f"{name}: {value} {where}".strip())


def check_notebook(path: str | Path, course: str | Path | None = None, limits: Limits | None = None) -> CheckReport:
    """Run ``path`` with the visible tests, as the grader would run it; see the module docstring."""
    path = Path(path)
    student = _read(path)
    released_course = ReleasedCourse.locate(course, path)
    released = identify(student, path, released_course)
    sanitized = sanitize(student, released.manifest)
    job = build_job(sanitized, mode="local")
    limits = limits or Limits()
    workdir = fresh_workdir("autograder-check-")
    try:
        _stage_release_files(released, workdir)
        shutil.copyfile(path, workdir / released.notebook)
        run = run_job(job, workdir, limits, course_root=released_course.root)
    finally:
        remove_workdir(workdir)
    places = _Places(sanitized, student, job)
    report = CheckReport(path, released.assignment, released.notebook, seconds=round(run.duration, 2))
    for item in released.manifest.graded_cells:
        index = sanitized.index_of(item.grade_id)
        report.questions.append(_question(item, index, sanitized, run, places))
    report.warnings.extend(f"at grading: {note}" for note in sanitized.notes)
    if run.status != "ok":
        report.warnings.append(f"the run stopped: {run.message}")
    report.warnings.extend(_cell_errors(sanitized, run, places))
    report.warnings.extend(execution_order_warnings(student))
    report.warnings.extend(hidden_state_warnings(sanitized, places))
    report.warnings.extend(import_warnings(sanitized, released_course.root, places))
    return report


def _stage_release_files(released: ReleasedNotebook, workdir: Path) -> None:
    """The public files the student received next to the notebook (data/ ...), as the grader stages them."""
    for item in sorted(released.folder.rglob("*")):
        relative = item.relative_to(released.folder)
        if item.is_dir() or item.suffix == ".ipynb" or any(part.startswith(".") for part in relative.parts):
            continue
        target = workdir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(item, target)


def _cell_errors(sanitized: Sanitized, run: RunResult, places: _Places) -> list[str]:
    """Errors outside the test cells: the grader runs these cells too, and what fails there fails the questions after."""
    found = []
    for index, cell in enumerate(sanitized.cells):
        end = run.cells.get(index)
        if cell.kind == Kind.TEST.value or end is None or end.get("status") == "ok":
            continue
        error = _error(end) or {}
        if error.get("ename") == "NotImplementedError":
            continue
        label = places.label(index)
        where = places.where(error)
        where = where.replace(f"at {label}, ", "at ", 1) if where.startswith(f"at {label}, ") else where
        found.append(f"{label} raised {error.get('ename', 'Error')}: {str(error.get('evalue', '')).strip()}"
                     f"{' (' + where + ')' if where else ''}; the grader runs it too")
    return found


# ---------------------------------------------------------------------------------- hidden state


def execution_order_warnings(student: nbformat.NotebookNode) -> list[str]:
    """Cells run out of order in the student's session (their saved execution counts go down somewhere)."""
    counts = [(position, cell.get("execution_count")) for position, cell in enumerate(student.get("cells", []), start=1)
              if cell.get("cell_type") == "code" and isinstance(cell.get("execution_count"), int)]
    highest: tuple[int, int] | None = None
    for position, count in counts:
        if highest is not None and count < highest[1]:
            return [f"cells were run out of order in your session: cell {position} [In {count}] ran before cell {highest[0]} "
                    f"above it [In {highest[1]}]. The grader runs every cell once, top to bottom: restart the kernel and "
                    "run all cells (Kernel > Restart Kernel and Run All Cells) to see what it sees"]
        if highest is None or count > highest[1]:
            highest = (position, count)
    return []


_IPYTHON_NAMES = {"get_ipython", "display", "In", "Out", "exit", "quit", "_", "__", "___", "_i", "_ii", "_iii", "_ih", "_oh", "_dh"}


class _Names(ast.NodeVisitor):
    """Names a cell binds and the names it reads when it runs (function bodies run later, when called)."""

    def __init__(self):
        self.bound: set[str] = set()
        self.used: list[tuple[str, int]] = []
        self.star = False
        self.modules: set[str] = set()

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self.used.append((node.id, node.lineno))
        else:
            self.bound.add(node.id)

    def _function(self, node) -> None:
        self.bound.add(node.name)
        for child in [*node.decorator_list, *node.args.defaults, *[d for d in node.args.kw_defaults if d is not None]]:
            self.visit(child)
        for child in ast.walk(node):  # imports inside functions still need the module at grading
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                self._imports(child, bind=False)

    visit_FunctionDef = visit_AsyncFunctionDef = _function

    def visit_Lambda(self, node: ast.Lambda) -> None:
        for child in [*node.args.defaults, *[d for d in node.args.kw_defaults if d is not None]]:
            self.visit(child)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.bound.add(node.name)
        self.generic_visit(node)

    def _imports(self, node, bind: bool = True) -> None:
        if isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                self.modules.add(node.module.split(".")[0])
            for alias in node.names:
                if alias.name == "*":
                    self.star = True
                elif bind:
                    self.bound.add(alias.asname or alias.name)
        else:
            for alias in node.names:
                self.modules.add(alias.name.split(".")[0])
                if bind:
                    self.bound.add(alias.asname or alias.name.split(".")[0])

    visit_Import = visit_ImportFrom = _imports

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name:
            self.bound.add(node.name)
        self.generic_visit(node)

    def visit_MatchAs(self, node) -> None:
        if node.name:
            self.bound.add(node.name)
        self.generic_visit(node)

    def visit_MatchStar(self, node) -> None:
        if node.name:
            self.bound.add(node.name)

    def visit_Global(self, node: ast.Global) -> None:
        self.bound.update(node.names)


def _analyse(sanitized: Sanitized) -> dict[int, _Names]:
    from IPython.core.inputtransformer2 import TransformerManager

    transformer = TransformerManager()
    found = {}
    for index, cell in enumerate(sanitized.cells):
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(transformer.transform_cell(cell.source))
        except (SyntaxError, ValueError):
            continue  # the run reports it
        names = _Names()
        names.visit(tree)
        found[index] = names
    return found


def _written_by_student(cell) -> bool:
    return cell.origin == "student" and not cell.checksum_matches_release


def hidden_state_warnings(sanitized: Sanitized, places: _Places) -> list[str]:
    """A cell of the student's that reads a name before any cell above it defines it, or that no cell defines.

    Such a notebook works in the session where it was written only because of something that ran
    earlier (a cell run out of order, a cell since deleted or edited); the grader starts from nothing.
    """
    analysed = _analyse(sanitized)
    if any(names.star for names in analysed.values()):
        return []  # `from x import *` defines names no one can list
    known = set(dir(builtins)) | _IPYTHON_NAMES
    defined_at: dict[str, int] = {}
    for index, names in analysed.items():
        for name in names.bound:
            defined_at.setdefault(name, index)
    warnings, seen = [], set()
    defined_so_far: set[str] = set(known)
    for index, names in analysed.items():
        defined_so_far |= names.bound
        if not _written_by_student(sanitized.cells[index]):
            continue
        for name, line in names.used:
            if name in defined_so_far or name in seen or re.fullmatch(r"_i?\d+", name):
                continue
            seen.add(name)
            if name in defined_at:
                warnings.append(f"{places.label(index)}, line {line}, uses `{name}` before {places.label(defined_at[name])} below it "
                                "defines it: it works in your session only because that cell ran first")
            else:
                warnings.append(f"{places.label(index)}, line {line}, uses `{name}`, which no cell of the notebook defines: it exists "
                                "only in your session (from a cell since deleted or edited?)")
    return warnings


# --------------------------------------------------------------------------------------- imports


def declared_distributions(course_root: Path) -> set[str] | None:
    """The distributions of the grading environment: the course's declared dependencies (``pyproject.toml``'s
    ``[project] dependencies``) and everything they require, as installed here. None when the course declares none."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    pyproject = Path(course_root) / "pyproject.toml"
    if not pyproject.is_file():
        return None
    try:
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project") or {}
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None
    if "dependencies" not in project:
        return None
    names = {canonicalize_name(project["name"])} if project.get("name") else set()
    pending = list(project["dependencies"])
    while pending:
        try:
            requirement = Requirement(pending.pop())
        except InvalidRequirement:
            continue
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        name = canonicalize_name(requirement.name)
        if name in names:
            continue
        names.add(name)
        try:
            pending.extend(importlib.metadata.distribution(requirement.name).requires or [])
        except importlib.metadata.PackageNotFoundError:
            continue
    return names


def _importable_in_sandbox(module: str, course_root: Path) -> bool:
    """Whether the sandbox's interpreter finds ``module``: this interpreter's path without the course or the
    current directory (as `autograder.sandbox.launch` builds it); `autograder` itself is always there."""
    if module == "autograder" or module in sys.stdlib_module_names:
        return True
    excluded = {str(Path.cwd().resolve()), str(Path(course_root).resolve())}
    saved = sys.path[:]
    try:
        sys.path[:] = [p for p in saved if p and not any(os.path.realpath(p).startswith(e) for e in excluded)]
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
    finally:
        sys.path[:] = saved


def import_warnings(sanitized: Sanitized, course_root: Path, places: _Places) -> list[str]:
    """Modules the student's cells import that the grading environment does not have."""
    from packaging.utils import canonicalize_name

    analysed = _analyse(sanitized)
    first_use: dict[str, int] = {}
    for index, names in analysed.items():
        if _written_by_student(sanitized.cells[index]):
            for module in sorted(names.modules):
                first_use.setdefault(module, index)
    if not first_use:
        return []
    declared = declared_distributions(course_root)
    providers = importlib.metadata.packages_distributions() if declared is not None else {}
    warnings = []
    for module, index in first_use.items():
        if not _importable_in_sandbox(module, course_root):
            warnings.append(f"{places.label(index)} imports `{module}`, which the grading environment cannot import "
                            "(it is not installed, or it is a file of yours that is not handed in with the notebook)")
            continue
        if declared is None or module in sys.stdlib_module_names or module == "autograder":
            continue
        dists = {canonicalize_name(d) for d in providers.get(module, [])}
        if dists and not dists & declared:
            warnings.append(f"{places.label(index)} imports `{module}` (from {', '.join(sorted(dists))}), which is installed here but is "
                            "not among the course's dependencies (pyproject.toml): the grading environment does not have it")
    return warnings


# ------------------------------------------------------------------------------------------ submit


_STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,199}")


@dataclass
class Receipt:
    path: Path  # where the notebook now is: <to>/<student>/<assignment>/<notebook>.ipynb
    assignment: str
    notebook: str
    submitted_at: str  # what timestamp.txt holds
    replaced: bool  # an earlier submission of this notebook was replaced


def submit_notebook(path: str | Path, student_id: str, to: str | Path, course: str | Path | None = None,
                    now: datetime | None = None) -> Receipt:
    """Check that ``path`` is a notebook of one of the course's assignments and place it where `grade` finds it.

    Writes ``<to>/<student_id>/<assignment>/<notebook>.ipynb`` (the file's bytes, unchanged) and, next to
    it, nbgrader's ``timestamp.txt`` with the time in UTC (ISO 8601 with its offset). A second submission
    of the same notebook replaces the first, timestamp included.
    """
    path = Path(path)
    if not _STUDENT_ID.fullmatch(student_id or ""):
        raise StudentError(f"--student {student_id!r} is not a usable id: use letters, digits and . _ @ + - "
                           "(starting with a letter or digit), e.g. your university login")
    notebook = _read(path)
    released = identify(notebook, path, ReleasedCourse.locate(course, path))
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is None:
        raise ValueError("submit_notebook needs a timezone-aware time")
    stamp = now.astimezone(timezone.utc).isoformat()
    folder = Path(to) / student_id / released.assignment
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / released.notebook
    replaced = target.exists()
    _write_atomically(target, path.read_bytes())
    _write_atomically(folder / "timestamp.txt", (stamp + "\n").encode("utf-8"))
    return Receipt(target, released.assignment, released.notebook, stamp, replaced)


def _write_atomically(target: Path, data: bytes) -> None:
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
