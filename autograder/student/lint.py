"""What would cost points at grading and the visible tests cannot show: cells that depend on state the
notebook does not create (run out of order, names used before they are defined), and imports the grading
environment lacks.
"""

from __future__ import annotations

import ast
import builtins
import importlib.metadata
import importlib.util
import os
import re
import sys
import tomllib
from pathlib import Path

import nbformat

from autograder.grading.sanitize import Sanitized
from autograder.student.places import Places

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


def hidden_state_warnings(sanitized: Sanitized, places: Places) -> list[str]:
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


#: The extras of a course's pyproject.toml that the grading environment installs with its dependencies.
GRADING_EXTRAS = ("course", "grader")


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
    optional = project.get("optional-dependencies") or {}
    # the grading environment installs the course's libraries and the grader's extras too
    pending = list(project["dependencies"]) + [r for group in GRADING_EXTRAS for r in optional.get(group, [])]
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


def import_warnings(sanitized: Sanitized, course_root: Path, places: Places) -> list[str]:
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


