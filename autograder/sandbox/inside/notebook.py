"""The check loop inside Jupyter: ``ag.check("count_parameters")`` and ``ag.check_all()``.

A student runs them in the live kernel, after editing an answer, instead of scrolling to the test cell:
each runs the *visible* tests of a question (or of every question) in the notebook's own namespace and
prints one concise line per check (passed, what differed, not attempted yet, the error and the line of
the student's cell it came from, and the instructor's ``hint=`` after a failure), never a traceback through
this package. A question that fails while using the student's answer to another failing question gets one
more line saying so (`autograder.wire.causes`): "→ mean_rows: this used your `double` (question double),
which fails its own check: fix that first". The tests come from the
released notebook when the course's ``release/`` folder is above the working directory (test cells are
locked, so that is what the notebook holds too), else from the notebook file itself. Hidden tests are not
in either: they run only when the notebook is graded.

Also here: the short form of the two failures a student meets most in Jupyter when running a test cell by
hand: a failed check (`CheckFailed` renders as one line) and an unanswered question (NotImplementedError
from the stub, shown as "not attempted yet" by an IPython handler installed when the checks are imported
in a real Jupyter or IPython session, never in a grading run).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import traceback
from dataclasses import dataclass
from pathlib import Path

#: Released notebooks are looked for this many folders up from the working directory.
MAX_PARENTS_SEARCHED = 4


class CheckFailed(AssertionError):
    """A visible check that failed in a student's session; IPython shows it as one line, not a traceback."""

    def _render_traceback_(self):  # IPython's hook for exceptions that render themselves
        return [f"\x1b[31m✗ {self}\x1b[0m"]


@dataclass
class Line:
    status: str  # passed | failed | recorded | not_attempted | error | cause
    text: str
    test: str = ""  # the grade_id of the test cell the line is about

    def __str__(self) -> str:
        mark = {"passed": "✓", "failed": "✗", "recorded": "-", "not_attempted": "…", "error": "✗", "cause": "→"}[self.status]
        return f"{mark} {self.text}"


class Checked:
    """What ``ag.check``/``ag.check_all`` return: true when every check passed (``if ag.check("q3"): ...``),
    with the lines printed. Jupyter shows nothing for it when it ends a cell (the lines above say it all; a
    bare ``True``/``False`` under them would only repeat it); elsewhere its repr is one short phrase."""

    def __init__(self, passed: bool, lines: list[Line]):
        self.passed, self.lines = passed, list(lines)

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return "<every check passed>" if self.passed else "<some checks to fix>"

    def _ipython_display_(self) -> None:  # IPython's hook: the object displays itself, here as nothing
        pass


# ----------------------------------------------------------------------------------------- the tests


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _nbgrader(cell: dict) -> dict:
    meta = (cell.get("metadata") or {}).get("nbgrader")
    return meta if isinstance(meta, dict) else {}


def _candidates(directory: Path) -> list[Path]:
    """The notebook this kernel runs (Jupyter says so in JPY_SESSION_NAME), then the others of the folder, newest first."""
    found = []
    session = os.environ.get("JPY_SESSION_NAME", "")
    if session.endswith(".ipynb") and Path(session).is_file():
        found.append(Path(session))
    others = sorted(directory.glob("*.ipynb"), key=lambda p: p.stat().st_mtime, reverse=True)
    return found + [p for p in others if p not in found]


def _released_twin(notebook: Path) -> Path | None:
    folder = notebook.resolve().parent
    for parent in [folder, *list(folder.parents)[:MAX_PARENTS_SEARCHED]]:
        release = parent / "release"
        if release.is_dir():
            twins = list(release.glob(f"*/{notebook.name}"))
            if len(twins) == 1:
                return twins[0]
    return None


def _read(path: Path) -> list[dict]:
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError, AttributeError):
        return []


def visible_tests(directory: Path | None = None) -> list[tuple[str, str, str]]:
    """(question, test cell grade_id, source) of every test cell, in notebook order, as released.

    ``question`` is the grade_id of the answer cell before the test (what a student calls the question).
    """
    for notebook in _candidates(Path(directory or os.getcwd())):
        cells = _read(_released_twin(notebook) or notebook)
        tests, answer = [], None
        for cell in cells:
            meta = _nbgrader(cell)
            if meta.get("solution") and not meta.get("grade"):
                answer = meta.get("grade_id") or answer
            elif meta.get("grade") and not meta.get("solution") and cell.get("cell_type") == "code":
                tests.append((str(answer or meta.get("grade_id")), str(meta.get("grade_id")), _source(cell)))
        if tests:
            return tests
    return []


def select(tests: list[tuple[str, str, str]], question) -> list[tuple[str, str, str]]:
    """The tests of ``question``: an answer cell's grade_id, a test cell's, or the question's number (1, "3", "q3")."""
    wanted = str(question).strip()
    chosen = [t for t in tests if wanted in (t[0], t[1])]
    if chosen:
        return chosen
    number = re.fullmatch(r"(?:q|question\s*)?(\d+)", wanted, re.IGNORECASE)
    if number:
        order = list(dict.fromkeys(t[0] for t in tests))
        position = int(number.group(1)) - 1
        if 0 <= position < len(order):
            return [t for t in tests if t[0] == order[position]]
    return []


# ------------------------------------------------------------------------------------------ running


def _where(error: BaseException) -> str:
    """The innermost frame in the student's own cells (IPython names them <ipython-input-...> or a cell file)."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if "autograder" not in f.filename.replace("\\", "/").split("/")]
    student = [f for f in frames if f.filename.startswith("<ipython-input") or "/ipykernel_" in f.filename or f.filename.startswith("<cell")]
    frame = (student or frames or [None])[-1]
    if frame is None:
        return ""
    return f" (in {frame.name}, line {frame.lineno}: {frame.line.strip()})" if frame.line else f" (in {frame.name}, line {frame.lineno})"


def run_tests(tests: list[tuple[str, str, str]], namespace: dict, collecting) -> list[Line]:
    """Run each test's source in ``namespace``, the checks' verdicts gathered by ``collecting`` (the checks
    module's context manager, passed in: this module is imported by it, not the other way round)."""
    lines: list[Line] = []
    for question, grade_id, source in tests:
        before = len(lines)
        _run_test(question, grade_id, source, namespace, collecting, lines)
        for line in lines[before:]:
            line.test = grade_id
    return lines


def _run_test(question: str, grade_id: str, source: str, namespace: dict, collecting, lines: list[Line]) -> None:
    with collecting() as outcomes:
        try:
            exec(compile(source, f"<test cell {grade_id}>", "exec"), namespace)  # noqa: S102 - the released test
            error = None
        except NotImplementedError as raised:
            error = raised
            lines.extend(Line(*item) for item in outcomes)
            lines.append(Line("not_attempted", f"{question}: not attempted yet (the answer still raises NotImplementedError); "
                                               "replace the `raise NotImplementedError()` line with your code"))
            return
        except Exception as raised:  # the student's code raised inside the test: say where, in one line
            error = raised
    lines.extend(Line(*item) for item in outcomes)
    if error is not None:
        lines.append(Line("error", f"{question}: {type(error).__name__}: {error}{_where(error)}"))


def _student_cells(directory: Path | None) -> list[dict]:
    """The student's own notebook (not its released twin: the answers are in this one), as
    `autograder.wire.causes` reads cells."""
    for notebook in _candidates(Path(directory or os.getcwd())):
        cells = []
        for cell in _read(notebook):
            meta = _nbgrader(cell)
            kind = ("manual" if meta.get("grade") else "answer") if meta.get("solution") else "test" if meta.get("grade") else "other"
            cells.append({"kind": kind, "source": _source(cell), "grade_id": meta.get("grade_id"), "cell_type": cell.get("cell_type")})
        if any(c["kind"] == "test" for c in cells):
            return cells
    return []


def cause_lines(lines: list[Line], tests: list[tuple[str, str, str]], directory: Path | None,
                only: set[str] | None = None) -> list[Line]:
    """One line per failing question that used the student's answer to another failing question (named as the
    student names questions: by their answer cell), so the root cause is read once, not on every check."""
    from autograder.wire.causes import cause_sentence, causes

    lost = {line.test for line in lines if line.status in ("failed", "error", "not_attempted")}
    if len(lost) < 2:
        return []
    name_of = {test: question for question, test, _ in tests}
    not_attempted = {line.test for line in lines if line.status == "not_attempted"}
    found = causes(_student_cells(directory), lost)
    labels = {test: f"question {name}" for test, name in name_of.items()}
    return [Line("cause", f"{name_of.get(test, test)}: {cause_sentence(used, labels, not_attempted)}: fix that first", test)
            for test, used in found.items() if only is None or test in only]


def _shell():
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def _namespace() -> dict:
    shell = _shell()
    if shell is not None:
        return shell.user_ns
    import __main__

    return vars(__main__)


def check(question, collecting, *, directory=None, namespace: dict | None = None) -> Checked:
    """Run the visible tests of one question in this session and print one line per check; true if all pass."""
    tests = visible_tests(directory)
    chosen = select(tests, question)
    if not chosen:
        known = ", ".join(dict.fromkeys(t[0] for t in tests)) or "none found: open this from the notebook's folder"
        print(f"✗ no visible test for {question!r}; the questions are: {known}")
        return Checked(False, [])
    namespace = _namespace() if namespace is None else namespace
    lines = run_tests(chosen, namespace, collecting)
    for line in lines + _causes_of_one(lines, chosen, tests, namespace, collecting, directory):
        print(line)
    return Checked(bool(lines) and all(line.status in ("passed", "recorded") for line in lines), lines)


_FAILING = ("failed", "error", "not_attempted")


def _causes_of_one(lines: list[Line], chosen, tests, namespace: dict, collecting, directory) -> list[Line]:
    """For ``ag.check(one question)`` that fails: the visible tests of the other questions it used are run
    quietly (their lines and prints are not shown), and a cause line is printed when one of them fails too."""
    if not any(line.status in _FAILING for line in lines):
        return []
    from autograder.wire.causes import uses

    failing = {line.test for line in lines if line.status in _FAILING}
    used = uses(_student_cells(directory))
    others = {use.question for test in failing for use in used.get(test, ())} - {t[1] for t in chosen}
    if not others:
        return []
    with contextlib.redirect_stdout(io.StringIO()):
        quiet = run_tests([t for t in tests if t[1] in others], namespace, collecting)
    return cause_lines(lines + quiet, tests, directory, only={t[1] for t in chosen})


def check_all(collecting, *, directory=None, namespace: dict | None = None) -> Checked:
    """Every question's visible tests, one line per check, then a summary line; true if all pass."""
    tests = visible_tests(directory)
    if not tests:
        print("✗ no visible tests found: run this from the notebook's folder")
        return Checked(False, [])
    lines = run_tests(tests, _namespace() if namespace is None else namespace, collecting)
    for line in lines + cause_lines(lines, tests, directory):
        print(line)
    passed = sum(line.status == "passed" for line in lines)
    failing = sum(line.status in ("failed", "error", "not_attempted") for line in lines)
    print(f"{passed} passed, {failing} to fix; hidden tests run only when graded")
    return Checked(failing == 0, lines)


# ----------------------------------------------------------------------------------- in IPython itself


def _not_attempted(shell, etype, value, tb, tb_offset=None):
    """IPython's handler for NotImplementedError: one line that says what to do, not the stub's traceback."""
    frames = traceback.extract_tb(tb)
    name = frames[-1].name if frames else "the answer"
    print(f"\x1b[33m… not attempted yet: `{name}` still raises NotImplementedError; replace the "
          "`raise NotImplementedError()` line in its answer cell with your code.\x1b[0m")


def install_short_errors() -> None:
    """In a real Jupyter kernel or IPython terminal (never in a grading run), show NotImplementedError briefly."""
    shell = _shell()
    if shell is not None and type(shell).__name__ in ("ZMQInteractiveShell", "TerminalInteractiveShell"):
        shell.set_custom_exc((NotImplementedError,), _not_attempted)
