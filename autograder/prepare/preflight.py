"""The cheap checks `release` runs before writing anything, so that an author hears of the mistakes `verify`
would catch (minutes later) in the second it takes to release:

* a check name used twice with a literal name (``ag.check_close("q1.small", ...)`` in two places): the grader
  accepts each name once per test cell and flags a submission that records one twice, so every student
  would be flagged;
* a name the tests read that only an answer cell defines and ``solutions/<assignment>.py`` does not: the
  reference pass, which puts the module's names in place of the answers, would fail with a NameError.

Source is parsed (`ast`), never run. A cell that does not parse is left to `verify`, which says why.
"""

from __future__ import annotations

import ast
from pathlib import Path

from autograder.course import Assignment, cells
from autograder.course.cells import Kind
from autograder.wire.causes import defined_names, read_names

#: The check functions whose first argument names the check.
CHECK_FUNCTIONS = frozenset({"check_close", "check_equal", "check_true", "check_metric"})


def _parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(_without_magics(source))
    except (SyntaxError, ValueError, RecursionError):
        return None


def _without_magics(source: str) -> str:
    """IPython's ``%magic`` and ``!shell`` lines are not Python: blanked for parsing (line numbers kept)."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def _literal_check_names(tree: ast.Module) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        function = node.func
        called = function.attr if isinstance(function, ast.Attribute) else function.id if isinstance(function, ast.Name) else None
        first = node.args[0]
        if called in CHECK_FUNCTIONS and isinstance(first, ast.Constant) and isinstance(first.value, str):
            found.append((first.value, node.lineno))
    return found


def _solutions_names(path: Path) -> set[str] | None:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return None  # verify's reference pass says what is wrong with the module
    names = defined_names(tree, every_binding=True)
    for node in tree.body:  # `__all__` or star imports: the module may define more than it spells out
        if isinstance(node, ast.ImportFrom) and any(alias.name == "*" for alias in node.names):
            return None
    return names


def preflight(assignment: Assignment) -> list[str]:
    """Every problem found in the assignment's source notebooks, one line each naming the notebook, the cell
    and what to do; empty when release may go on."""
    problems: list[str] = []
    solutions = assignment.solutions_path
    provided = _solutions_names(solutions) if solutions is not None else None
    for name in assignment.notebook_names:
        notebook = assignment.read_source(name)
        where = f"source/{assignment.name}/{name}"
        seen: dict[str, str] = {}
        answer_names: dict[str, str] = {}  # name -> the answer cell defining it
        other_names: set[str] = set()  # names bound by cells that are not answers (setup, read-only, tests)
        test_reads: list[tuple[str, set[str]]] = []
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type != "code":
                continue
            tree = _parse(cell.source)
            if tree is None:
                continue
            label = cells.grade_id(cell) or f"cell {index + 1}"
            kind = cells.kind(cell)
            if kind is Kind.TEST:
                for check, line in _literal_check_names(tree):
                    if check in seen:
                        problems.append(f"{where}: test cell '{label}', line {line}: the check name {check!r} is also used in "
                                        f"{seen[check]}; give each check its own name (the grader accepts each once and flags "
                                        "a submission that records one twice)")
                    else:
                        seen[check] = f"test cell '{label}', line {line}"
                test_reads.append((label, read_names(tree)))
            if kind is Kind.ANSWER:  # what solutions/ must provide: the answer's functions, classes and variables
                for defined in defined_names(tree):
                    answer_names.setdefault(defined, label)
            else:
                other_names |= defined_names(tree, every_binding=True)
        if provided is None:
            continue
        missing: dict[str, list[str]] = {}
        for label, read in test_reads:
            for needed in sorted(read):
                if needed in answer_names and needed not in provided and needed not in other_names:
                    missing.setdefault(needed, []).append(label)
        for needed, labels in missing.items():
            problems.append(f"{where}: test cell{'s' if len(labels) > 1 else ''} {', '.join(repr(x) for x in labels)} "
                            f"read{'' if len(labels) > 1 else 's'} {needed!r}, which answer cell '{answer_names[needed]}' "
                            f"defines but {solutions.relative_to(assignment.course.root)} does not; define it there "
                            "(the reference pass puts that module's names in place of the answers)")
    return problems
