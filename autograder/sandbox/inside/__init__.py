"""What runs inside the student's process: the only modules of this package a run imports.

* `runner`  executes one job's cells (answers through IPython, tests through the harness) and writes
  events to the grader's pipe (the messages of `autograder.wire.protocol`);
* `warm`    the warm interpreter: imports once, then forks one child per run;
* `confine` the child half of confinement (cgroups, rlimits, uid), applied to itself;
* `checks`  the check vocabulary test cells call (public as `autograder.checks`): it records values, and
  decides only in a student's own Jupyter or `autograder check` run.

Nothing here is trusted: a student's code can read and patch all of it. Verdicts are decided by
`autograder.grading` from the plain data these modules send. `tests/test_layout.py` pins the set of
`autograder` modules a run imports.
"""

#: Module names, derived from this package's own name (the parent starts them by name).
RUNNER = f"{__name__}.runner"
WARM = f"{__name__}.warm"
CONFINE = f"{__name__}.confine"
CHECKS = f"{__name__}.checks"
