"""Automatic mutation testing: plausible wrong answers generated from the source notebook's answer cells.

The source notebook's answer cells hold the reference solution *as a student writes it*; ``solutions/`` is
the seeded reference the grader compares with. A generated mutant changes one small thing in one answer
cell's solution region (``### BEGIN SOLUTION`` ... ``### END SOLUTION``; the whole cell when it has no
markers) and is graded, like the hand-written bank of ``tests/mutants/<assignment>.toml``, against the
unchanged reference: a mutant is *killed* when the question it belongs to (the first test cell after its
answer cell) loses points, or when the run fails (an error, a timeout). A mutant that keeps full marks
*survives*: either the tests miss a plausible wrong answer, or the change makes no difference (an
*equivalent* mutant, which an author marks in the bank with a reason)::

    [[equivalent]]
    id = "m-3f2a9c01d4"
    reason = "sorted() of an already sorted list"

The mutation score of a question is killed / (generated - marked equivalent).

Generation (stdlib ``ast``; each mutant is a textual splice of one node, so the rest of the cell keeps
its layout and comments and a survivor reads as a one-line diff):

1. every node of the solution region is offered to every operator in `OPERATORS`, in source order;
2. a candidate is kept when the cell still parses, its AST differs from the original's and from every
   candidate kept before (the first operator to produce a given program names it);
3. its id is ``m-`` + 10 hex digits of SHA-256 over (answer cell's grade_id, operator, line:column in the
   cell, replacement text): stable while that part of the cell is unchanged;
4. when a question has more than ``cap`` candidates, they are taken round-robin over the operators
   (operators in `OPERATORS` order, each operator's candidates in id order) until ``cap`` are taken, so
   every kind of mistake is represented and the choice depends only on the candidates.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from autograder.course import Assignment, CourseError
from autograder.course import cells
from autograder.course.cells import Kind

#: bump when generation or scoring changes: cached results of another version are not reused
GENERATOR_VERSION = "1"  # the outcomes are keyed by mutant id, which fixes the mutant: no bump for new operators
#: at most this many mutants per question (chosen as in the module docstring), so the full run fits CI
DEFAULT_CAP = 25
#: a question whose score is below this fails `verify`
DEFAULT_THRESHOLD = 0.9
CACHE_DIR = Path(".autograder-cache") / "mutation"

_BEGIN, _END = "### BEGIN SOLUTION", "### END SOLUTION"


@dataclass(frozen=True)
class GeneratedMutant:
    id: str
    cell: str  # grade_id of the answer cell it changes
    question: str  # grade_id of the test cell it is scored on
    operator: str
    line: int  # 1-based, in the cell
    before: str  # that line of the cell, then as mutated (the first line of a multi-line change)
    after: str
    source: str  # the whole mutated cell

    @property
    def diff(self) -> str:
        return f"{self.cell}:{self.line}: {self.before.strip()}  →  {self.after.strip()}"


@dataclass
class MutantOutcome:
    id: str
    killed: bool
    detail: str  # e.g. "count_parameters_test 0/2", "run timeout", "full marks"


@dataclass
class QuestionScore:
    question: str
    generated: int = 0
    killed: int = 0
    equivalent: int = 0
    survivors: list[GeneratedMutant] = field(default_factory=list)

    @property
    def score(self) -> float | None:
        denominator = self.generated - self.equivalent
        return None if denominator <= 0 else self.killed / denominator


# ---------------------------------------------------------------------------------------------- operators

# Each operator maps one AST node to the nodes that may replace it (an empty list: not applicable).
# A replacement of ``None`` for a statement removes it (it becomes ``pass``).

_ARITH_SWAPS = {ast.Add: [ast.Sub], ast.Sub: [ast.Add], ast.Mult: [ast.Div], ast.Div: [ast.Mult, ast.FloorDiv],
                ast.FloorDiv: [ast.Div], ast.Mod: [ast.FloorDiv], ast.Pow: [ast.Mult], ast.MatMult: [ast.Mult]}
_COMPARE_SWAPS = {ast.Lt: [ast.LtE], ast.LtE: [ast.Lt], ast.Gt: [ast.GtE], ast.GtE: [ast.Gt], ast.Eq: [ast.NotEq],
                  ast.NotEq: [ast.Eq], ast.Is: [ast.IsNot], ast.IsNot: [ast.Is], ast.In: [ast.NotIn], ast.NotIn: [ast.In]}
_AXIS_KEYWORDS = {"axis", "dim", "keepdim", "keepdims"}
_AXIS_STRINGS = {"index": "columns", "columns": "index", "rows": "columns"}
_DTYPE_NAMES = {"float": "int", "int": "float", "bool": "int", "complex": "float"}
_DTYPE_ATTRIBUTES = {"float32": "float64", "float64": "float32", "float": "double", "double": "float", "float16": "float32",
                     "int64": "float32", "int32": "int64", "long": "float32", "int": "float32", "bool": "int64"}
_DTYPE_STRINGS = {"float32": "float64", "float64": "float32", "int64": "float64", "int32": "int64", "float": "int",
                  "int": "float", "bool": "int64", "category": "object", "object": "category"}
_CAST_METHODS = {"float": "double", "double": "float", "long": "float", "int": "float", "half": "float", "bool": "float"}
_DROPPED_METHODS = {"copy", "clone", "detach", "contiguous", "item", "squeeze", "flatten", "ravel", "sort_index",
                    "reset_index", "abs", "cpu", "numpy", "tolist", "astype", "to", "float", "double", "long", "int",
                    "sort_values", "dropna", "t"}
_UNWRAPPED_CALLS = {"abs", "sorted", "list", "tuple", "float", "int", "round", "sum", "np.abs", "np.sqrt", "np.exp",
                    "np.log", "np.asarray", "np.array", "torch.abs", "torch.sqrt", "torch.exp", "torch.log",
                    "torch.tensor", "torch.as_tensor", "math.sqrt", "math.exp", "math.log"}
#: calls whose first two arguments commute: swapping them is no mistake
_SYMMETRIC_CALLS = {"max", "min", "np.maximum", "np.minimum", "np.fmax", "np.fmin", "np.logaddexp", "np.add", "np.multiply",
                    "np.hypot", "math.hypot", "torch.maximum", "torch.minimum", "torch.max", "torch.min", "torch.add", "torch.mul",
                    "torch.logaddexp", "np.array_equal", "np.allclose", "np.isclose", "torch.equal", "torch.allclose"}
#: keywords that say how long or where the work runs, not what it computes: their numbers are not mutated
_SETTINGS_KEYWORDS = {"max_iter", "n_jobs", "num_workers", "verbose", "tol", "cache_size"}
#: how a function accepts an argument as an array: ``np.asarray(x, dtype=float)`` of a parameter ``x``
_COERCIONS = {"np.asarray", "np.array", "np.asanyarray", "np.ascontiguousarray", "torch.as_tensor", "torch.tensor", "torch.asarray"}
_OUT_OF_PLACE = {"add", "sub", "mul", "div", "clamp", "fill", "zero", "abs", "neg", "exp", "sqrt", "copy", "relu",
                 "sigmoid", "tanh", "pow", "t", "transpose", "unsqueeze", "squeeze", "resize", "uniform", "normal"}


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return f"{inner}.{node.attr}" if inner else ""
    return ""


def _copy(node):
    if isinstance(node, ast.keyword):
        return ast.keyword(node.arg, _copy(node.value))
    return ast.parse(ast.unparse(node), mode="eval").body if isinstance(node, ast.expr) else ast.parse(ast.unparse(node)).body[0]


def _op_arith(node):
    if isinstance(node, ast.BinOp):
        return [ast.BinOp(_copy(node.left), new(), _copy(node.right)) for new in _ARITH_SWAPS.get(type(node.op), [])]
    if isinstance(node, ast.AugAssign):
        return [ast.AugAssign(_copy(node.target), new(), _copy(node.value)) for new in _ARITH_SWAPS.get(type(node.op), [])]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return [_copy(node.operand)]
    return []


def _op_compare(node):
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        return [ast.Compare(_copy(node.left), [new()], [_copy(node.comparators[0])]) for new in _COMPARE_SWAPS.get(type(node.ops[0]), [])]
    return []


def _op_boolean(node):
    if isinstance(node, ast.BoolOp):
        other = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        return [ast.BoolOp(other, [_copy(v) for v in node.values])]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return [_copy(node.operand)]
    if isinstance(node, ast.If) or isinstance(node, ast.While) or isinstance(node, ast.IfExp):
        negated = ast.UnaryOp(ast.Not(), _copy(node.test))
        return [("test", negated)]
    return []


def _op_constant(node):
    if getattr(node, "_keyword", None) in _SETTINGS_KEYWORDS:
        return []
    if isinstance(node, ast.Constant) and not isinstance(node.value, (str, bytes)) and node.value is not None:
        value = node.value
        if isinstance(value, bool):
            return [ast.Constant(not value)]
        if isinstance(value, int):
            return [ast.Constant(value + 1), ast.Constant(value - 1)]
        if isinstance(value, float):
            return [ast.Constant(value * 2 if value else 1.0)]
    return []


def _op_off_by_one(node):
    """Slice bounds and range() arguments that are not literals (literals are `constant`'s)."""
    bounds = []
    if isinstance(node, ast.Slice):
        for name in ("lower", "upper"):
            bound = getattr(node, name)
            if bound is not None and not isinstance(bound, ast.Constant):
                for op in (ast.Add, ast.Sub):
                    bounds.append((name, ast.BinOp(_copy(bound), op(), ast.Constant(1))))
    if isinstance(node, ast.Call) and _dotted(node.func) == "range":
        for position, argument in enumerate(node.args):
            if not isinstance(argument, ast.Constant):
                for op in (ast.Add, ast.Sub):
                    bounds.append((("args", position), ast.BinOp(_copy(argument), op(), ast.Constant(1))))
    return bounds


def _op_axis(node):
    if not isinstance(node, ast.keyword) or node.arg not in _AXIS_KEYWORDS:
        return []
    value = node.value
    replacements = []
    if isinstance(value, ast.Constant):
        if isinstance(value.value, bool):
            replacements.append(ast.Constant(not value.value))
        elif isinstance(value.value, int):
            replacements.append(ast.Constant({0: 1, 1: 0, -1: 0}.get(value.value, 0)))
        elif isinstance(value.value, str) and value.value in _AXIS_STRINGS:
            replacements.append(ast.Constant(_AXIS_STRINGS[value.value]))
    return [("value", r) for r in replacements] + [None]  # None: drop the keyword (the library's default axis)


def _op_dtype(node):
    if isinstance(node, ast.keyword) and node.arg == "dtype" and getattr(node, "_coercion", False):
        # an argument accepted as an array: only a cast that changes its values (float -> int) is a mistake
        value = node.value
        return [("value", ast.Name(_DTYPE_NAMES[value.id]))] if isinstance(value, ast.Name) and value.id == "float" else []
    if isinstance(node, ast.keyword) and node.arg == "dtype":
        value, new = node.value, None
        if isinstance(value, ast.Name) and value.id in _DTYPE_NAMES:
            new = ast.Name(_DTYPE_NAMES[value.id])
        elif isinstance(value, ast.Attribute) and value.attr in _DTYPE_ATTRIBUTES:
            new = ast.Attribute(_copy(value.value), _DTYPE_ATTRIBUTES[value.attr])
        elif isinstance(value, ast.Constant) and value.value in _DTYPE_STRINGS:
            new = ast.Constant(_DTYPE_STRINGS[value.value])
        return ([("value", new)] if new is not None else []) + [None]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and not node.args and not node.keywords \
            and node.func.attr in _CAST_METHODS:
        return [ast.Call(ast.Attribute(_copy(node.func.value), _CAST_METHODS[node.func.attr]), [], [])]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "astype" and len(node.args) == 1:
        argument = node.args[0]
        if isinstance(argument, ast.Name) and argument.id in _DTYPE_NAMES:
            return [ast.Call(_copy(node.func), [ast.Name(_DTYPE_NAMES[argument.id])], [])]
        if isinstance(argument, ast.Constant) and argument.value in _DTYPE_STRINGS:
            return [ast.Call(_copy(node.func), [ast.Constant(_DTYPE_STRINGS[argument.value])], [])]
    return []


def _op_dropped_term(node):
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)):
        kept = [_copy(node.left)]
        if isinstance(node.op, (ast.Add, ast.Mult)):
            kept.append(_copy(node.right))
        return kept
    if isinstance(node, ast.BoolOp) and len(node.values) == 2:
        return [_copy(v) for v in node.values]
    return []


def _op_swapped_arguments(node):
    if isinstance(node, ast.Call) and len(node.args) >= 2 and _dotted(node.func) not in _SYMMETRIC_CALLS and not any(isinstance(a, ast.Starred) for a in node.args[:2]):
        first, second = node.args[0], node.args[1]
        if ast.dump(first) != ast.dump(second):
            return [ast.Call(_copy(node.func), [_copy(second), _copy(first)] + [_copy(a) for a in node.args[2:]],
                             [_copy(k) for k in node.keywords])]
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Sub, ast.Div, ast.FloorDiv, ast.Pow, ast.MatMult, ast.Mod)):
        if ast.dump(node.left) != ast.dump(node.right):
            return [ast.BinOp(_copy(node.right), type(node.op)(), _copy(node.left))]
    return []


def _op_in_place(node):
    """In place vs copy: ``x += y`` <-> ``x = x + y``, ``inplace=``, ``t.add_()`` <-> ``t.add()``."""
    if isinstance(node, ast.AugAssign):
        return [ast.Assign([_copy(node.target)], ast.BinOp(_copy(node.target), type(node.op)(), _copy(node.value)), lineno=0)]
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.value, ast.BinOp) \
            and ast.unparse(node.targets[0]) == ast.unparse(node.value.left) and not isinstance(node.value.op, ast.MatMult):
        return [ast.AugAssign(_copy(node.targets[0]), type(node.value.op)(), _copy(node.value.right))]
    if isinstance(node, ast.keyword) and node.arg == "inplace" and isinstance(node.value, ast.Constant) and isinstance(node.value.value, bool):
        return [("value", ast.Constant(not node.value.value))]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        attr = node.func.attr
        if attr.endswith("_") and not attr.startswith("_") and len(attr) > 1:
            return [ast.Call(ast.Attribute(_copy(node.func.value), attr[:-1]), [_copy(a) for a in node.args], [_copy(k) for k in node.keywords])]
        if attr in _OUT_OF_PLACE and _dotted(node.func.value).split(".")[0] not in {"np", "torch", "math", "pd", "nn", "F"}:
            return [ast.Call(ast.Attribute(_copy(node.func.value), attr + "_"), [_copy(a) for a in node.args], [_copy(k) for k in node.keywords])]
    return []


def _op_removed_call(node):
    """``x.copy()`` -> ``x``, ``np.abs(x)`` -> ``x``, and a statement that only calls something removed."""
    if getattr(node, "_coercion", False):
        return []
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _DROPPED_METHODS \
            and _dotted(node.func.value).split(".")[0] not in {"np", "torch", "math", "pd", "nn", "F"}:
        return [_copy(node.func.value)]
    if isinstance(node, ast.Call) and _dotted(node.func) in _UNWRAPPED_CALLS and len(node.args) == 1 \
            and not isinstance(node.args[0], ast.Starred):
        return [_copy(node.args[0])]
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        return [None]
    return []


#: (name, operator): the order is the order of the round-robin when a question has more than the cap
OPERATORS: list[tuple[str, Callable]] = [
    ("arithmetic", _op_arith),
    ("comparison", _op_compare),
    ("boolean", _op_boolean),
    ("constant", _op_constant),
    ("off-by-one", _op_off_by_one),
    ("axis", _op_axis),
    ("dtype", _op_dtype),
    ("dropped-term", _op_dropped_term),
    ("swapped-arguments", _op_swapped_arguments),
    ("in-place", _op_in_place),
    ("removed-call", _op_removed_call),
]


# ---------------------------------------------------------------------------------------------- splicing


def solution_lines(source: str) -> set[int]:
    """1-based line numbers of the cell that lie inside a solution region (every line when there is none)."""
    lines = source.splitlines()
    inside, found, region = False, False, set()
    for number, line in enumerate(lines, start=1):
        if line.strip().startswith(_BEGIN):
            inside, found = True, True
        elif line.strip().startswith(_END):
            inside = False
        elif inside:
            region.add(number)
    return region if found else set(range(1, len(lines) + 1))


class _Text:
    """The cell as UTF-8 bytes with line starts: `ast` positions are (line, UTF-8 byte column)."""

    def __init__(self, source: str):
        self.data = source.encode("utf-8")
        self.starts = [0]
        for index, byte in enumerate(self.data):
            if byte == 0x0A:
                self.starts.append(index + 1)

    def offset(self, line: int, column: int) -> int:
        return self.starts[line - 1] + column

    def splice(self, node: ast.AST, text: str) -> str:
        start = self.offset(node.lineno, node.col_offset)
        end = self.offset(node.end_lineno, node.end_col_offset)
        return (self.data[:start] + text.encode("utf-8") + self.data[end:]).decode("utf-8")

    def segment(self, node: ast.AST) -> str:
        return self.data[self.offset(node.lineno, node.col_offset):self.offset(node.end_lineno, node.end_col_offset)].decode("utf-8")


def _render(original: ast.AST, replacement) -> str:
    """The text that replaces ``original``'s segment. Expressions are parenthesized unless atomic, so a
    replacement never changes how the code around it parses."""
    if replacement is None:
        return "pass"
    text = ast.unparse(ast.fix_missing_locations(replacement))
    if isinstance(replacement, ast.expr) and not isinstance(replacement, (ast.Name, ast.Constant, ast.Attribute, ast.Call, ast.Subscript)):
        text = f"({text})"
    if isinstance(replacement, ast.Constant) and isinstance(replacement.value, (int, float)) and replacement.value < 0:
        text = f"({text})"
    return text


def _edits(text: _Text, node: ast.AST, replacement) -> Iterator[tuple[ast.AST, str]]:
    """(node whose segment is replaced, new text) for one operator result."""
    if isinstance(node, ast.keyword):
        if replacement is None:  # drop the keyword: splice the call without it
            return
        field_name, value = replacement
        yield getattr(node, field_name), _render(getattr(node, field_name), value)
        return
    if isinstance(replacement, tuple):  # (field of node, new value): only that child is replaced
        where, value = replacement
        child = node.args[where[1]] if isinstance(where, tuple) else getattr(node, where)
        yield child, _render(child, value)
        return
    yield node, _render(node, replacement)


def _dropped_keyword(text: _Text, call: ast.Call, keyword: ast.keyword) -> str:
    rebuilt = ast.Call(_copy(call.func), [_copy(a) for a in call.args], [_copy(k) for k in call.keywords if k is not keyword])
    return text.splice(call, _render(call, rebuilt))


def _candidates(grade_id: str, source: str) -> Iterator[tuple[str, int, int, str, str]]:
    """(operator, line, column, replacement text, mutated cell source) for every applicable change."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return
    region = solution_lines(source)
    text = _Text(source)
    parents: dict[ast.AST, ast.AST] = {}
    for parent in ast.walk(tree):
        for child in ast.iter_child_nodes(parent):
            parents[child] = parent
    _mark_coercions(tree)
    for parent in ast.walk(tree):
        if isinstance(parent, ast.keyword):
            for child in ast.walk(parent.value):
                child._keyword = parent.arg  # what `_op_constant` leaves alone
    nodes = [n for n in ast.walk(tree) if hasattr(n, "lineno") and n.lineno in region and n.end_lineno in region]
    nodes.sort(key=lambda n: (n.lineno, n.col_offset, -(n.end_lineno or 0), -(n.end_col_offset or 0)))
    for node in nodes:
        for name, operator in OPERATORS:
            for replacement in operator(node):
                if isinstance(node, ast.keyword) and replacement is None:
                    call = parents.get(node)
                    if not isinstance(call, ast.Call) or not hasattr(call, "lineno"):
                        continue
                    mutated, where, new_text = _dropped_keyword(text, call, node), node, f"(no {node.arg}=)"
                    yield name, where.lineno, where.col_offset, new_text, mutated
                    continue
                for target, new_text in _edits(text, node, replacement):
                    yield name, target.lineno, target.col_offset, new_text, text.splice(target, new_text)


def _mark_coercions(tree: ast.AST) -> None:
    """Mark ``np.asarray(param, ...)``-style calls on a parameter of the enclosing function (and their
    ``dtype=``): how an argument is accepted, not what is computed. Removing one, dropping its dtype or
    switching float64 and float32 gives the same values for every input the question promises (arrays of
    numbers), so only a cast to int is generated there (see `_op_dtype`, `_op_removed_call`)."""
    for function in ast.walk(tree):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        arguments = function.args
        parameters = {a.arg for a in arguments.posonlyargs + arguments.args + arguments.kwonlyargs}
        for node in ast.walk(function):
            if isinstance(node, ast.Call) and _dotted(node.func) in _COERCIONS and node.args \
                    and isinstance(node.args[0], ast.Name) and node.args[0].id in parameters:
                node._coercion = True
                for keyword in node.keywords:
                    if keyword.arg == "dtype":
                        keyword._coercion = True


def _mutant_id(grade_id: str, operator: str, line: int, column: int, replacement: str) -> str:
    digest = hashlib.sha256("\0".join([grade_id, operator, f"{line}:{column}", replacement]).encode("utf-8")).hexdigest()
    return f"m-{digest[:10]}"


def mutants_of_cell(grade_id: str, question: str, source: str) -> list[GeneratedMutant]:
    """Every distinct mutant of one answer cell, in source order."""
    try:
        original = ast.dump(ast.parse(source))
    except SyntaxError:
        return []
    seen = {original}
    found = []
    old_lines = source.splitlines()
    for operator, line, column, replacement, mutated in _candidates(grade_id, source):
        try:
            shape = ast.dump(ast.parse(mutated))
        except SyntaxError:
            continue
        if shape in seen:
            continue
        seen.add(shape)
        new_lines = mutated.splitlines()
        changed = next((i for i, (a, b) in enumerate(zip(old_lines, new_lines)) if a != b), line - 1)
        found.append(GeneratedMutant(_mutant_id(grade_id, operator, line, column, replacement), grade_id, question, operator,
                                     changed + 1, old_lines[changed] if changed < len(old_lines) else "",
                                     new_lines[changed] if changed < len(new_lines) else "", mutated))
    return found


def select(mutants: list[GeneratedMutant], cap: int) -> list[GeneratedMutant]:
    """At most ``cap`` mutants: round-robin over the operators, each operator's mutants in id order."""
    if len(mutants) <= cap:
        return list(mutants)
    queues = [sorted((m for m in mutants if m.operator == name), key=lambda m: m.id) for name, _ in OPERATORS]
    chosen: list[GeneratedMutant] = []
    while len(chosen) < cap:
        for queue in queues:
            if queue and len(chosen) < cap:
                chosen.append(queue.pop(0))
    order = {m.id: i for i, m in enumerate(mutants)}
    return sorted(chosen, key=lambda m: order[m.id])


def generate(notebook, cap: int = DEFAULT_CAP) -> list[GeneratedMutant]:
    """The mutants of every autograded answer cell of a source notebook, at most ``cap`` per question.

    A code answer cell belongs to the first test cell after it; answer cells after the last test cell,
    hand-graded answers and cells without a test are not mutated (nothing could kill them), nor are the
    answers of a question judged by ``check_metric`` (an open question: any answer that meets the bound is
    right, so a mutant that keeps the points is a correct answer, not a gap in the tests).
    """
    pending: list[tuple[str, str]] = []
    by_question: dict[str, list[GeneratedMutant]] = {}
    for cell in notebook.cells:
        kind = cells.kind(cell)
        if kind is Kind.ANSWER and cell.cell_type == "code":
            pending.append((cells.grade_id(cell), cell.source))
        elif kind is Kind.TEST:
            question = cells.grade_id(cell)
            if _calls_check_metric(cell.source):
                pending = []
                continue
            for grade_id, source in pending:
                by_question.setdefault(question, []).extend(mutants_of_cell(grade_id, question, source))
            pending = []
    chosen = []
    for question, mutants in by_question.items():
        chosen.extend(select(mutants, cap))
    return chosen


def _calls_check_metric(test_source: str) -> bool:
    try:
        tree = ast.parse(test_source)
    except SyntaxError:
        return False
    return any(isinstance(n, ast.Call) and (_dotted(n.func).rsplit(".", 1)[-1] == "check_metric") for n in ast.walk(tree))


# ---------------------------------------------------------------------------------------------- marks, cache, scores


@dataclass(frozen=True)
class EquivalentMark:
    id: str
    reason: str


def load_equivalent(path: Path) -> dict[str, EquivalentMark]:
    """``[[equivalent]]`` entries of a mutant bank: id and a non-empty reason each."""
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise CourseError(f"{path}: not valid TOML: {error}") from None
    marks = {}
    for position, entry in enumerate(data.get("equivalent", []), start=1):
        mark_id, reason = entry.get("id"), entry.get("reason")
        if not isinstance(mark_id, str) or not re.fullmatch(r"m-[0-9a-f]{10}", mark_id):
            raise CourseError(f"{path}: equivalent mutant {position}: id must be a generated mutant's id (m- and 10 hex digits), "
                              f"as `autograder verify --mutation` lists it, not {mark_id!r}")
        if not isinstance(reason, str) or not reason.strip():
            raise CourseError(f"{path}: equivalent mutant {mark_id}: give a reason (why the change makes no difference)")
        marks[mark_id] = EquivalentMark(mark_id, reason.strip())
    return marks


def cache_key(assignment: Assignment, cap: int) -> str:
    """Hash of what the outcomes depend on: the source notebooks (answers and tests), solutions/, the
    generator's version and the cap. The bank's equivalence marks are applied after the cache, so marking a
    mutant needs no new run."""
    digest = hashlib.sha256(f"generator {GENERATOR_VERSION} cap {cap}\n".encode())
    for name in assignment.notebook_names:
        digest.update(name.encode() + b"\0" + (assignment.source_dir / name).read_bytes())
    solutions = assignment.solutions_path
    if solutions is not None:
        files = [solutions] if solutions.name != "__init__.py" else sorted(solutions.parent.rglob("*.py"))
        for path in files:
            digest.update(str(path.relative_to(assignment.course.root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:32]


def cache_path(assignment: Assignment, cap: int) -> Path:
    return assignment.course.root / CACHE_DIR / f"{assignment.name}-{cache_key(assignment, cap)}.json"


def read_cache(path: Path) -> dict[str, MutantOutcome] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {item["id"]: MutantOutcome(item["id"], bool(item["killed"]), str(item["detail"])) for item in data["outcomes"]}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_cache(path: Path, outcomes: dict[str, MutantOutcome]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"generator": GENERATOR_VERSION, "outcomes": [asdict(o) for o in outcomes.values()]}, indent=1),
                         encoding="utf-8")
    temporary.replace(path)


def outcome(mutant: GeneratedMutant, status: str, scores: dict[str, tuple[float | None, float]]) -> MutantOutcome:
    """Killed when the mutant's question loses points, or the run did not end normally (error, timeout)."""
    score, maximum = scores.get(mutant.question, (None, 0.0))
    if status != "ok":
        return MutantOutcome(mutant.id, True, f"run {status}")
    if score is None or score < maximum:
        return MutantOutcome(mutant.id, True, f"{mutant.question} {0 if score is None else score:g}/{maximum:g}")
    return MutantOutcome(mutant.id, False, "full marks")


def score_questions(mutants: list[GeneratedMutant], outcomes: dict[str, MutantOutcome],
                    marks: dict[str, EquivalentMark]) -> list[QuestionScore]:
    by_question: dict[str, QuestionScore] = {}
    for mutant in mutants:
        row = by_question.setdefault(mutant.question, QuestionScore(mutant.question))
        row.generated += 1
        if outcomes[mutant.id].killed:
            row.killed += 1
        elif mutant.id in marks:
            row.equivalent += 1
        else:
            row.survivors.append(mutant)
    return list(by_question.values())
