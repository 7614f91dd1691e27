"""Tamper evidence in the student's process (untrusted side): what a notebook did that a grade must not hide.

Test cells written for nbgrader run in the student's process, so whatever the harness restores before one
(see `runner.Guard`) the notebook can try to undo while it runs. What cannot be prevented here is watched:

* an audit hook (`sys.addaudithook`, which no Python code can remove) sees every `sys.settrace` and
  `sys.setprofile` (also those made through the C API), every search of the interpreter's objects
  (`gc.get_objects`, `gc.get_referrers`, `gc.get_referents`), every read of all threads' stacks
  (`sys._current_frames`) and every replaced ``__code__`` of a function that is not the notebook's own;
* before each test cell the trace and profile hooks are cleared (of this thread and of threads to come),
  and the threads still running notebook code are counted;
* after each test cell the hooks, the functions the harness restored, and the harness's and the check
  API's own functions (identity and ``__code__``) are compared with what they were.

A finding becomes a line "flagged for review: ..." on the `CellEnd` of the cell it happened in; one made
while a test cell ran (or a notebook thread running into it) also voids that cell's verdict: the cell
ends as an error `TAMPER_ENAME`, so it scores nothing, whatever it asserted or recorded. The grader adds
the flags to the row's notes (`autograder.grading.scoring`). Nothing here can stop code that rewrites this
process's memory (`ctypes`); see docs/security.md, "What stays open".
"""

from __future__ import annotations

import sys
import threading
import types

from autograder.wire.protocol import TAMPER_ENAME, CellEnd, CellError, CellStatus

_settrace, _setprofile, _gettrace, _getprofile = sys.settrace, sys.setprofile, sys.gettrace, sys.getprofile
_current_frames = sys._current_frames
_get_ident = threading.get_ident
_threading = threading
_FunctionType = types.FunctionType

#: Audit events that are evidence by themselves, and how a flag says them.
EVIDENCE_EVENTS = {
    "sys.settrace": "set a trace hook (sys.settrace)",
    "sys.setprofile": "set a profile hook (sys.setprofile)",
    "gc.get_objects": "searched the interpreter's objects (gc.get_objects)",
    "gc.get_referrers": "searched the interpreter's objects (gc.get_referrers)",
    "gc.get_referents": "searched the interpreter's objects (gc.get_referents)",
    "sys._current_frames": "read the stacks of every thread (sys._current_frames)",
}
#: The function attribute whose replacement changes what a function does while it keeps its identity
#: (``__defaults__`` too, but the standard library sets those itself: `collections.namedtuple`).
_CODE_ATTRIBUTES = ("__code__",)
_WATCHED = frozenset(EVIDENCE_EVENTS) | {"object.__setattr__"}


def is_notebook_code(code) -> bool:
    """Code compiled from a notebook cell (IPython names them ``<ipython-input-N-...>``)."""
    return code.co_filename.startswith("<ipython-input-")


def _function_of_notebook(function) -> bool:
    code = getattr(function, "__code__", None)
    return isinstance(code, types.CodeType) and is_notebook_code(code)


def made_by_notebook(value, depth: int = 0) -> bool:
    """Whether a value put in place of a guarded function is the notebook's: its code, a partial or a
    wrapper of its code, a callable object of its class, or a code object compiled from a cell."""
    if depth > 10 or value is None:
        return False
    if isinstance(value, types.CodeType):
        return is_notebook_code(value)
    code = getattr(value, "__code__", None)
    if isinstance(code, types.CodeType) and is_notebook_code(code):
        return True
    for attribute in ("func", "__func__", "__wrapped__"):  # functools.partial, bound methods, functools.wraps
        inner = getattr(value, attribute, None)
        if inner is not None and inner is not value and made_by_notebook(inner, depth + 1):
            return True
    kind = type(value)
    call = getattr(kind, "__call__", None)
    return kind.__module__ == "__main__" or (isinstance(getattr(call, "__code__", None), types.CodeType) and is_notebook_code(call.__code__))


def _name_of(function) -> str:
    return f"{getattr(function, '__module__', None) or '?'}.{getattr(function, '__qualname__', None) or type(function).__name__}"


class TamperWatch:
    """One run's watch: install it before the notebook's first cell, call `before_test`/`after_test`
    around each test cell (`clear_hooks` first of all) and `after_cell` after every other cell."""

    def __init__(self, guard, protected: list[tuple[str, object, str, object]]):  # (label, module or class, name, function)
        self.guard = guard
        self.protected = [(label, owner, key, function, function.__code__) for label, owner, key, function in protected]
        self.quiet = False  # the harness's own calls (clearing hooks, listing threads) are no evidence
        self.test_cell: str | None = None  # the running test cell's grade_id (its index without one)
        self.flags: list[str] = []  # reported with the end of the cell during which they were found
        self.voided: list[str] = []  # findings that void the running test cell
        self.known_threads = set(_current_frames())
        self.hook_seen = False  # a hook was set where the audit hook saw it (said once, not again at every test cell)
        self.enabled = True  # off for the trusted reference pass: nothing there is evidence
        # Bound now, on the instance: a notebook that replaces a method of the class changes nothing here.
        for name in ("_audit", "_found", "note", "clear_hooks", "before_test", "after_test", "after_cell", "_check_protected",
                     "_with_flags", "_swapped", "_runs_notebook_code"):
            setattr(self, name, getattr(self, name))

    def install(self) -> None:
        self.quiet = True
        try:
            sys.addaudithook(self._audit)
        finally:
            self.quiet = False

    # ------------------------------------------------------------------------------------- evidence

    def _audit(self, event: str, args: tuple) -> None:
        if event not in _WATCHED or self.quiet:
            return
        try:
            if event == "object.__setattr__":
                if len(args) < 2 or args[1] not in _CODE_ATTRIBUTES or not isinstance(args[0], _FunctionType) \
                        or _function_of_notebook(args[0]):
                    return
                what = f"replaced {args[1]} of {_name_of(args[0])}"
            else:
                what = EVIDENCE_EVENTS[event]
                self.hook_seen = self.hook_seen or event in ("sys.settrace", "sys.setprofile")
            self._found(what)
        except Exception:  # an audit hook that raises would fail the student's call; evidence is best effort
            pass

    def _found(self, what: str, void: bool | None = None, sentence: str = "") -> None:
        if void is None:
            void = self.test_cell is not None
        where = f"during test cell {self.test_cell}" if self.test_cell is not None else "in a cell before a test cell"
        line = "flagged for review: " + (sentence or f"the notebook {what} {where}")
        if line not in self.flags:
            self.flags.append(line)
        if void and line not in self.voided:
            self.voided.append(line)

    def note(self, what: str) -> None:
        """Evidence that voids nothing (the harness already made it harmless): a flag only."""
        self._found(what, void=False)

    # ----------------------------------------------------------------------------------- test cells

    def clear_hooks(self) -> None:
        """Before a test cell, first of all (a profile hook would otherwise re-patch what the guard restores)."""
        self.quiet = True
        try:
            if (_gettrace() is not None or _getprofile() is not None) and not self.hook_seen:
                self._found("left a trace or profile hook set", void=False)
            if getattr(_threading, "_trace_hook", None) is not None or getattr(_threading, "_profile_hook", None) is not None:
                self._found("set a trace or profile hook for new threads (threading.settrace)", void=False)
            _settrace(None)
            _setprofile(None)
            _threading._trace_hook = None
            _threading._profile_hook = None
        finally:
            self.quiet = False

    def before_test(self, label: str) -> None:
        """Count the notebook's threads; from here on, evidence voids the cell."""
        self.quiet = True
        try:
            frames = _current_frames()
        finally:
            self.quiet = False
        self.test_cell = label
        me = _get_ident()
        running = [ident for ident in frames if ident != me and ident not in self.known_threads and self._runs_notebook_code(ident, frames[ident])]
        frames = None
        if running:
            self._found("", sentence=f"a thread started by the notebook was running during test cell {label}"
                                     + (f" ({len(running)} threads)" if len(running) > 1 else ""))

    def _runs_notebook_code(self, ident: int, frame) -> bool:
        """A thread whose stack holds notebook code, or whose `threading.Thread` runs a notebook function."""
        while frame is not None:
            if is_notebook_code(frame.f_code):
                return True
            frame = frame.f_back
        thread = _threading._active.get(ident)
        if thread is None:
            return False
        for attribute in ("_target", "function"):  # Thread(target=...), Timer(interval, function)
            if _function_of_notebook(getattr(thread, attribute, None)):
                return True
        run = getattr(type(thread), "run", None)
        return _function_of_notebook(run)

    def after_test(self, end: CellEnd) -> CellEnd:
        """Compare hooks, restored functions and the harness with what they were; void the cell if changed."""
        if not self.enabled:
            self.test_cell, self.flags, self.voided = None, [], []
            return end
        if (_gettrace() is not None or _getprofile() is not None) and not self.hook_seen:
            self._found("left a trace or profile hook set")
            self.quiet = True
            try:
                _settrace(None)
                _setprofile(None)
            finally:
                self.quiet = False
        self._check_protected()  # first: the guard's own methods must be the harness's before they are asked
        # A library may replace a guarded function itself (torch._dynamo wraps torch.manual_seed on first use):
        # only what the notebook made, or another library function swapped in, is evidence.
        changed = [name for name, value in self.guard.changed() if made_by_notebook(value) or self._swapped(value)]
        if changed:
            self._found("replaced " + ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
                        + " after the harness restored them")
        self.test_cell = None
        voided, self.voided = self.voided, []
        end = self._with_flags(end)
        if not voided:
            return end
        message = "this test cell's result does not count: " + "; ".join(v.removeprefix("flagged for review: ") for v in voided)
        error = CellError(TAMPER_ENAME, message, (f"{TAMPER_ENAME}: {message}",))
        outputs = tuple(o for o in end.outputs if o.get("output_type") != "error") + (error.to_output(),)
        return CellEnd(end.index, CellStatus.ERROR, outputs, end.duration, end.flags)

    def _swapped(self, value) -> bool:
        """Another guarded function put in this one's place (``np.allclose = np.array_equal``)."""
        return any(value is original for _, snapshot in self.guard.modules for original in snapshot.values()
                   if not isinstance(original, types.ModuleType))

    def after_cell(self, end: CellEnd) -> CellEnd:
        """After a cell that is not a test: the check API and the harness must still be what they were."""
        if not self.enabled:
            self.flags = []
            return end
        self._check_protected()
        return self._with_flags(end)

    def _check_protected(self) -> None:
        """Flag, and put back, what differs of the harness's own functions (so one change is told once)."""
        for label, owner, key, function, code in self.protected:
            # put back first, then say it: the function that says it may be the one replaced
            if vars(owner).get(key) is not function:
                try:
                    setattr(owner, key, function)
                except (AttributeError, TypeError):
                    pass
                self._found(f"replaced the harness's {label}")
            if code is not None and function.__code__ is not code:
                self.quiet = True
                try:
                    function.__code__ = code
                finally:
                    self.quiet = False
                self._found(f"replaced the code of the harness's {label}")

    def _with_flags(self, end: CellEnd) -> CellEnd:
        if not self.flags:
            return end
        flags, self.flags = self.flags, []
        return CellEnd(end.index, end.status, end.outputs, end.duration, (*end.flags, *flags))


def protected_functions(modules: list, classes: list) -> list[tuple[str, object, str, object]]:
    """(label, module or class, name, function) for every function of the harness's own modules and classes."""
    found = []
    for owner in [*modules, *classes]:
        prefix = owner.__name__ if isinstance(owner, types.ModuleType) else f"{owner.__module__}.{owner.__qualname__}"
        for key, value in vars(owner).items():
            if isinstance(value, _FunctionType) and (not isinstance(owner, types.ModuleType) or value.__module__ == owner.__name__):
                found.append((f"{prefix}.{key}", owner, key, value))
    return found
