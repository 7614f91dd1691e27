"""Autograding for machine-learning and deep-learning courses.

Where things happen (one module per job):

* `autograder.release`   source notebook -> student notebook
* `autograder.manifest`  what the grader keeps from source/: cells, points, checksums, hidden tests
* `autograder.checks`    the check vocabulary used in test cells (both sides)
* `autograder.values`    plain-data transport of values across the sandbox boundary
* `autograder.sandbox`   where a submission runs (untrusted side)
* `autograder.reference` expected values from solutions/ (trusted side)
* `autograder.sanitize`  a submission restored against source/ (trusted side)
* `autograder.compare`, `autograder.scoring`  where a verdict is decided (trusted side)
* `autograder.grade`     the batch: discover, run, score, store
* `autograder.gradebook` where grades are stored (SQLAlchemy)
* `autograder.export`, `autograder.verify`, `autograder.cli`
"""

__version__ = "0.1.0"
