"""When a question fails because it used the student's answer to another question, and where an error was raised.

A test cell of question B often calls code the student wrote for question A (``choose_depth`` calls the
student's ``count_parameters``). When A's own checks fail, B's failures are usually A's, repeated: the
student should read "this used your `count_parameters` (question A), which fails its own check" once, and
fix A first, instead of 22 rows of B's checks that all say the same thing.

What counts as *used*, cheaply and from data the gradebook already keeps (the student view's cells): every
name a test cell's visible source reads, and every name the student's own answer cells for that question
read, followed through the answer cells that define them (a function, a class or a variable assigned at
the top of the cell), the last definition before the test cell winning, as it does when the notebook runs
top to bottom. A name defined in the answer cell of *another* question whose checks lost points is a
cause. The sentence stays true even when it is not the whole story: B did use that code, and it does fail.

`error_place` reads where an error was raised out of a cell's traceback (its frames name the cells: IPython's
``<ipython-input-N-...>`` for the notebook's own cells, ``<test cell K>`` for test cells run by the harness),
so a page can point at the answer cell and line, as ``autograder check`` does.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FRAME = re.compile(r'File "(?:<ipython-input-(\d+)-[0-9a-f]+>|<test cell (\d+)>)", line (\d+)(?:, in (\S+))?')


@dataclass(frozen=True)
class Use:
    """Question ``question``'s answer cell ``answer`` defines ``name``, which another question's test used."""

    name: str
    answer: str  # the answer cell's grade_id
    question: str  # the question (its test cell's grade_id) that answer belongs to


def defined_names(tree: ast.Module, every_binding: bool = False) -> set[str]:
    """The names a cell binds at its top level: functions, classes, assigned variables; with ``every_binding``
    also imports and any other name stored anywhere in a top-level statement (loop and ``with`` targets...)."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)) and not every_binding:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif every_binding and isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif every_binding:
            names.update(n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store))
    return names


def read_names(tree: ast.AST) -> set[str]:
    """The names a parsed cell reads."""
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _defined(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()
    return defined_names(tree)


def _read(source: str) -> set[str]:
    """The names a cell reads; a cell Python cannot parse (an IPython magic) by its identifiers."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set(_IDENTIFIER.findall(source))
    return read_names(tree)


def questions_of_answers(cells: Sequence[Mapping]) -> tuple[dict[str, list[int]], dict[int, list[str]]]:
    """(test grade_id -> the indices of its answer cells, answer cell index -> the questions it answers).

    An answer cell belongs to the test cells after it, up to the next answer cell (an answer followed by two
    test cells answers both); a test cell's answers are the answer cells since the test cells before them."""
    own: dict[str, list[int]] = {}
    answered_by: dict[int, list[str]] = {}
    current: list[int] = []
    tested_since = False
    for index, cell in enumerate(cells):
        kind = cell.get("kind")
        if kind == "answer" and cell.get("cell_type") == "code":
            if tested_since:
                current, tested_since = [], False
            current.append(index)
        elif kind == "test" and cell.get("grade_id"):
            own[cell["grade_id"]] = list(current)
            for answer in current:
                answered_by.setdefault(answer, []).append(cell["grade_id"])
            tested_since = True
    return own, answered_by


def uses(cells: Sequence[Mapping]) -> dict[str, list[Use]]:
    """test grade_id -> the definitions in other questions' answer cells its test (or its own answer) used."""
    own, answered_by = questions_of_answers(cells)
    defined = {i: _defined(str(c.get("source", ""))) for i, c in enumerate(cells) if i in answered_by}
    found: dict[str, list[Use]] = {}
    for index, cell in enumerate(cells):
        question = cell.get("grade_id")
        if cell.get("kind") != "test" or not question:
            continue
        mine = set(own.get(question, []))
        pending = list(_read(str(cell.get("source", ""))))
        for answer in mine:
            pending.extend(_read(str(cells[answer].get("source", ""))))
        seen: set[str] = set()
        result: list[Use] = []
        while pending:
            name = pending.pop()
            if name in seen:
                continue
            seen.add(name)
            where = next((i for i in range(index - 1, -1, -1) if name in defined.get(i, ())), None)
            if where is None:
                continue
            if where not in mine:
                for other in answered_by[where]:
                    if other != question:
                        result.append(Use(name, str(cells[where].get("grade_id") or ""), other))
            pending.extend(_read(str(cells[where].get("source", ""))) - seen)
        found[question] = sorted(set(result), key=lambda u: (u.question, u.name))
    return found


def causes(cells: Sequence[Mapping], lost: Iterable[str]) -> dict[str, list[Use]]:
    """For each question in ``lost`` (questions that lost points), the definitions it used from other
    questions in ``lost``: what to fix first. Questions without such a cause are left out."""
    lost = set(lost)
    found = {}
    for question, used in uses(cells).items():
        if question in lost:
            failing = [u for u in used if u.question in lost]
            if failing:
                found[question] = failing
    return found


def cause_sentence(used: Sequence[Use], title_of: Mapping[str, str] | None = None, not_attempted: Iterable[str] = ()) -> str:
    """"this used your `count_parameters` (Question 1: counting parameters), which fails its own check"; a question
    without a title is named by its grade_id ("(question count_test)")."""
    title_of = title_of or {}
    not_attempted = set(not_attempted)
    by_question: dict[str, list[str]] = {}
    for use in used:
        by_question.setdefault(use.question, []).append(use.name)
    parts = []
    for question, names in by_question.items():
        named = " and ".join(f"`{n}`" for n in sorted(set(names)))
        label = title_of.get(question) or f"question {question}"
        state = "which is not answered yet" if question in not_attempted else "which fails its own check"
        parts.append(f"your {named} ({label}), {state}")
    return "this used " + "; and ".join(parts)


@dataclass(frozen=True)
class Place:
    """Where an error was raised: a cell of the notebook (its index) and a line in it."""

    cell: int
    line: int
    function: str = ""  # the function the line is in ("<module>" at a cell's top level)


def error_place(traceback: Sequence[str], cells: Sequence[Mapping]) -> tuple[Place, Place] | None:
    """(innermost, outermost) frames of a traceback in the notebook's own cells, or None.

    ``<ipython-input-N-...>`` is the N-th cell run through IPython: the notebook's code cells that are not
    test cells, in order (test cells run through the harness and are named by index)."""
    by_input = {}
    number = 0
    for index, cell in enumerate(cells):
        if cell.get("cell_type") == "code" and cell.get("kind") != "test":
            number += 1
            by_input[number] = index
    frames = []
    for text in traceback:
        text = str(text)
        if text.startswith("Traceback"):
            continue
        if not text.startswith(" "):
            break  # the exception's own text ("ValueError: ..."): the student's to write, never read as a frame
        for match in _FRAME.finditer(text):
            index = by_input.get(int(match.group(1))) if match.group(1) else int(match.group(2))
            if index is not None and 0 <= index < len(cells):
                frames.append(Place(index, int(match.group(3)), match.group(4) or ""))
    if not frames:
        return None
    return frames[-1], frames[0]
