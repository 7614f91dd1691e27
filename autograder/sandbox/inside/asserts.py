"""Assertions of test cells, rewritten so that a value cannot lie about itself (untrusted side).

A test cell written for nbgrader asks the student's value whether it is right: ``assert add(1, 2) == 3``
calls ``add(1, 2).__eq__``, and an ``int`` subclass whose ``__eq__`` always says yes passes. As pytest
rewrites ``assert`` statements to explain them, the harness rewrites each ``assert`` of a test cell (its
AST, before it is compiled) so that what it decides is decided on plain values:

* each operand of a comparison (``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``in``, ``not in``) is first
  reduced to a plain value (`plain`): a subclass of ``int``, ``float`` or ``str`` to the built-in value its
  type stores (``int.__int__``, ``float.__float__``, ``str.__str__``, which no subclass can override),
  lists, tuples, dicts and sets item by item, a subclass of a NumPy array or a torch tensor to the plain
  array or tensor of the same data and dtype; plain values, library types, ``type`` objects as they are;
  an object of a class the notebook defined is no plain value and fails the assertion;
* ``isinstance(x, T)`` asks ``type(x)``, which an object cannot fake (its ``__class__`` can say anything);
* a call of a library's comparison (``np.allclose(a, b)``, ``math.isclose``, ``torch.equal``...) goes to the
  function as it was before the notebook ran, on reduced arguments;
* ``and``, ``or``, ``not`` and the assertion itself take the truth of plain values only (`truth`): a bool,
  a NumPy bool, a number, a string, a container, an array or tensor; anything else fails.

A right answer in any ordinary form still passes (NumPy scalars, ``tensor.item()`` against a Python
number, lists of floats, strings, tuples). What stays open: an object of a library class that the notebook
patched, and code that does not go through ``assert`` (``if not ok: raise``) (docs/security.md).
"""

from __future__ import annotations

import ast
import operator
import sys
import types

from autograder.sandbox.inside.tamper import is_notebook_code

#: The name under which a test cell's rewritten assertions find the helper (set before each test cell).
HELPER_NAME = "__autograder_assertions__"

_OPERATORS = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt,
              ast.GtE: operator.ge, ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
              ast.Is: operator.is_, ast.IsNot: operator.is_not}
_OPERATOR_NAMES = {op: op.__name__ for op in _OPERATORS}
_BY_NAME = {op.__name__: function for op, function in _OPERATORS.items()}
_EXACT = (bool, int, float, complex, str, bytes, type(None), range, slice, type(Ellipsis))
_type, _isinstance, _issubclass, _getattr, _bool, _len = type, isinstance, issubclass, getattr, bool, len
_int, _float, _str, _tuple, _list, _dict, _set, _frozenset = int.__int__, float.__float__, str.__str__, tuple, list, dict, set, frozenset


#: An assertion's value that is not a plain value fails the assertion, with a message that says why.
NotPlain = AssertionError


def _from_notebook(cls: type, trusted: dict | None = None) -> bool:
    """A class the notebook's answers defined (or one deriving from it): its comparisons are the student's.
    ``trusted``: classes of read-only cells (the instructor's), with their functions when defined."""
    for klass in cls.__mro__:
        if trusted and klass in trusted:
            if all(vars(klass).get(k) is v for k, v in trusted[klass].items()) and \
                    not any(_isinstance(v, types.FunctionType) and k not in trusted[klass] for k, v in vars(klass).items()):
                continue
            return True
        if klass.__module__ == "__main__":
            return True
        for value in vars(klass).values():
            code = _getattr(value, "__code__", None)
            if _isinstance(code, types.CodeType) and is_notebook_code(code):
                return True
    return False


class Assertions:
    """The runtime half of the rewriting: what a rewritten ``assert`` calls (see the module docstring)."""

    def __init__(self, guard, evidence=None):
        self.guard = guard  # its snapshot holds the library functions as they were before the notebook ran
        self.evidence = evidence  # called with what a person should look at (`tamper.TamperWatch.note`)
        self.numpy_exact: frozenset = frozenset()  # NumPy's scalar types, once NumPy is imported
        for name in ("rewrite", "plain", "compare", "isinstance", "truth", "call", "_note", "_numpy"):
            setattr(self, name, getattr(self, name))  # bound now: a notebook replacing a method of the class changes nothing here

    def _numpy(self):
        numpy = sys.modules.get("numpy")
        if numpy is not None and not self.numpy_exact:
            self.numpy_exact = frozenset(t for t in numpy.sctypeDict.values() if _isinstance(t, type))
        return numpy

    # --------------------------------------------------------------------------------- rewriting

    def rewrite(self, tree: ast.Module) -> ast.Module:
        """Every ``assert`` statement of a test cell's AST, rewritten (the line numbers kept)."""
        return ast.fix_missing_locations(_Rewriter().visit(tree))

    # ---------------------------------------------------------------------------------- at runtime

    def plain(self, value, depth: int = 0):
        kind = _type(value)
        if kind in _EXACT or kind is type:
            return value
        if depth > 50:
            raise NotPlain("a value nested more than 50 levels deep")
        numpy = self._numpy()
        torch = sys.modules.get("torch")
        if numpy is not None:
            if kind is numpy.ndarray or kind in self.numpy_exact:
                return value
            if _issubclass(kind, numpy.generic):
                return numpy.ndarray.__getitem__(numpy.asarray(value), ())
            if _issubclass(kind, numpy.ndarray):
                if kind.__module__.startswith("numpy") and not _from_notebook(kind, self.guard.trusted_classes):  # masked arrays, matrices
                    return value
                self._note(kind)
                return numpy.ndarray.view(value, numpy.ndarray)
        if torch is not None and _issubclass(kind, torch.Tensor):
            if kind is torch.Tensor or kind is torch.nn.Parameter:
                return value
            if _from_notebook(kind, self.guard.trusted_classes):
                self._note(kind)
            with torch._C.DisableTorchFunctionSubclass():
                return torch.Tensor.as_subclass(torch.Tensor.detach(value), torch.Tensor)
        if _issubclass(kind, bool):
            return value
        if _from_notebook(kind, self.guard.trusted_classes):
            self._note(kind)
        if _issubclass(kind, int):
            return _int(value)
        if _issubclass(kind, float):
            return _float(value)
        if _issubclass(kind, str):
            return _str(value)
        if _issubclass(kind, tuple):
            return _tuple(self.plain(item, depth + 1) for item in tuple.__iter__(value))
        if _issubclass(kind, list):
            return [self.plain(item, depth + 1) for item in list.__iter__(value)]
        if _issubclass(kind, dict):
            return {self.plain(k, depth + 1): self.plain(v, depth + 1) for k, v in dict.items(value)}
        if _issubclass(kind, (set, frozenset)):
            iterate = set.__iter__ if _issubclass(kind, set) else frozenset.__iter__
            items = [self.plain(item, depth + 1) for item in iterate(value)]
            return _frozenset(items) if _issubclass(kind, frozenset) else _set(items)
        if _from_notebook(kind, self.guard.trusted_classes):  # (noted above)
            raise NotPlain(f"the test compares a value of a class the notebook defined ({kind.__qualname__}), "
                           "which decides its own comparisons; return a plain value")
        return value  # a library's own type (Fraction, a DataFrame, a model...): it compares as it always does

    def _note(self, kind: type) -> None:
        if self.evidence is not None:
            base = next((b.__name__ for b in kind.__mro__[1:] if not _from_notebook(b, self.guard.trusted_classes) and b is not object), "object")
            self.evidence(f"passed a value of its own class {kind.__qualname__} (a {base}) to a test's assertion; "
                          "it was compared as a plain value")

    def compare(self, op: str, *operands) -> object:
        """``a OP b OP c`` on plain operands (each evaluated once, as Python does)."""
        plain = [self.plain(operand) for operand in operands]
        result = True
        for position, name in enumerate(op.split(",")):
            result = _BY_NAME[name](plain[position], plain[position + 1])
            if position + 2 < _len(plain) and not self.truth(result):
                return False
        return result

    def isinstance(self, value, classes) -> bool:
        return _issubclass(_type(value), classes)

    def truth(self, value) -> bool:
        kind = _type(value)
        if kind is bool:
            return value
        if kind in _EXACT or kind in (list, tuple, dict, set, frozenset):
            return _bool(value)
        numpy = self._numpy()
        if numpy is not None and (kind is numpy.ndarray or kind in self.numpy_exact):
            return _bool(value)
        torch = sys.modules.get("torch")
        if torch is not None and kind is torch.Tensor:
            return _bool(value)
        if _from_notebook(kind, self.guard.trusted_classes):  # its __bool__ (or __len__) is the student's: a yes that means nothing
            self._note(kind)
            raise NotPlain(f"the test's condition is not a plain bool (got {kind.__qualname__})")
        return _bool(value)  # a library's object (a regex match, an estimator): its truth as always

    def call(self, owner, name: str, /, *args, **kwargs):
        """``owner.name(*args, **kwargs)``; a library module's function as it was before the notebook ran,
        called on plain arguments."""
        original = self.guard.original(owner, name) if _type(owner) is types.ModuleType else None
        if original is None:
            return _getattr(owner, name)(*args, **kwargs)
        return original(*(self.plain(a) for a in args), **{k: self.plain(v) for k, v in kwargs.items()})


class _Rewriter(ast.NodeTransformer):
    """``assert test, msg`` -> ``assert H.truth(test'), msg`` with test' as the module docstring says."""

    def visit_Assert(self, node: ast.Assert) -> ast.Assert:
        test = _Test().visit(node.test)
        return ast.copy_location(ast.Assert(test=_helper_call("truth", [test]), msg=node.msg), node)


def _helper_call(method: str, args: list, keywords: list | None = None) -> ast.Call:
    return ast.Call(func=ast.Attribute(value=ast.Name(id=HELPER_NAME, ctx=ast.Load()), attr=method, ctx=ast.Load()),
                    args=args, keywords=keywords or [])


class _Test(ast.NodeTransformer):
    """The expression of one ``assert``: comparisons, isinstance, library calls and boolean logic."""

    def visit_Compare(self, node: ast.Compare):
        self.generic_visit(node)
        if all(_type(op) in (ast.Is, ast.IsNot) for op in node.ops):
            return node  # identity cannot lie
        names = ",".join(_OPERATOR_NAMES[_type(op)] for op in node.ops)
        return ast.copy_location(_helper_call("compare", [ast.Constant(names), node.left, *node.comparators]), node)

    def visit_BoolOp(self, node: ast.BoolOp):
        self.generic_visit(node)
        return ast.copy_location(ast.BoolOp(op=node.op, values=[_helper_call("truth", [v]) for v in node.values]), node)

    def visit_UnaryOp(self, node: ast.UnaryOp):
        self.generic_visit(node)
        if _isinstance(node.op, ast.Not):
            return ast.copy_location(ast.UnaryOp(op=node.op, operand=_helper_call("truth", [node.operand])), node)
        return node

    def visit_Call(self, node: ast.Call):
        self.generic_visit(node)
        if _isinstance(node.func, ast.Name) and node.func.id == "isinstance" and _len(node.args) == 2 and not node.keywords:
            return ast.copy_location(_helper_call("isinstance", node.args), node)
        if _isinstance(node.func, ast.Attribute):
            args = [node.func.value, ast.Constant(node.func.attr), *node.args]
            return ast.copy_location(_helper_call("call", args, node.keywords), node)
        return node

    def visit_Lambda(self, node):
        return node  # its body runs later, outside the assertion

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = visit_Lambda
