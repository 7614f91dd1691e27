"""Autograding for machine-learning and deep-learning courses.

Where things happen (one module per job):

* `autograder.prepare.release`   source notebook -> student notebook
* `autograder.prepare.manifest`  what the grader keeps from source/: cells, points, checksums, hidden tests
* `autograder.sandbox.inside.checks`    the check vocabulary used in test cells (both sides)
* `autograder.wire.values`    plain-data transport of values across the sandbox boundary
* `autograder.sandbox`   where a submission runs (untrusted side)
* `autograder.grading.reference` expected values from solutions/ (trusted side)
* `autograder.grading.sanitize`  a submission restored against source/ (trusted side)
* `autograder.wire.compare`, `autograder.grading.scoring`  where a verdict is decided (trusted side)
* `autograder.grading.batch`     the batch: discover, run, score, store
* `autograder.grading.run`       one `grade` run: workers first, then gradebook, pending, plan, batch
* `autograder.errors`            `UserError`, the errors a person can fix (one line, exit 2)
* `autograder.results.gradebook` where grades are stored (SQLAlchemy)
* `autograder.results.export`, `autograder.grading.verify`, `autograder.cli`
"""

__version__ = "0.1.0"
