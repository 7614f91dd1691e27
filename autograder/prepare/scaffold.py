"""`autograder new ASSIGNMENT`: a complete minimal exercise set that releases and verifies as created.

It writes the three files an exercise set is made of (docs/authoring.md), each a working example an
instructor edits rather than a blank page:

* ``source/<name>/<name>.ipynb``: a setup cell, one autograded code question (answer cell, a test cell
  with a visible check that states its expected value and hidden checks against the reference), and one
  hand-graded written answer with its prompt in the cell before it;
* ``solutions/<name>.py``: the seeded reference implementation the hidden checks compare with;
* ``tests/mutants/<name>.toml``: plausible wrong answers that `autograder verify` proves lose points, and
  one correct answer in another style that it proves keeps them.

Nothing is overwritten: an existing file is an error naming it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from autograder.course import CourseError

#: What an assignment may be called: it names a folder, a Python module and the check prefixes.
NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")

INTRO = """# {title}

Fill in every cell that says `YOUR CODE HERE` or `YOUR ANSWER HERE`, run the notebook top to bottom, and
check your work with the test cells (or `autograder check {name}.ipynb`). Hidden tests run when it is graded."""

SETUP = """import numpy as np
from autograder import checks as ag"""

QUESTION = r"""## Question 1: standardise the columns (2 points)

Write `standardize(X)` that returns a new array where every column of `X` has mean 0 and standard
deviation 1 (the population standard deviation, `ddof=0`): $z_{ij} = \frac{x_{ij} - \mu_j}{\sigma_j}$.

**What is tested:** the values for several seeded inputs (to the default tolerance of float64), that the
result has the shape of `X`, and that `X` itself is left unchanged."""

ANSWER = """def standardize(X):
    ### BEGIN SOLUTION
    X = np.asarray(X, dtype=float)
    return (X - X.mean(axis=0)) / X.std(axis=0)
    ### END SOLUTION"""

TEST = """X = np.array([[1.0, 10.0], [3.0, 30.0]])
ag.check_close("standardize.small", standardize(X), expected=np.array([[-1.0, -1.0], [1.0, 1.0]]))

### BEGIN HIDDEN TESTS
for seed in (1, 2, 3):
    with ag.seeded(seed):
        X = np.random.normal(5.0, 3.0, size=(20, 4))
    before = X.copy()
    ag.check_close(f"standardize.random{seed}", standardize(X))
    ag.check_equal(f"standardize.unchanged{seed}", bool(np.array_equal(X, before)), expected=True)
### END HIDDEN TESTS"""

PROMPT = """## Question 2: when does it hurt? (2 points, graded by hand)

In two or three sentences: what happens to `standardize` when a column is constant, and what would you do
about it?"""

WRITTEN = """### BEGIN SOLUTION
A constant column has standard deviation 0, so the division gives NaN (0/0) for every entry. Leave such
columns at 0 (divide by 1 where the deviation is 0) or drop them before training.
### END SOLUTION"""

SOLUTIONS = '''"""Reference implementation of `{name}` (trusted side only: never shipped to students)."""

import numpy as np


def standardize(X):
    X = np.asarray(X, dtype=float)
    return (X - X.mean(axis=0)) / X.std(axis=0)
'''

MUTANTS = """# Plausible wrong answers for the `{name}` exercise set (source/{name}/{name}.ipynb).
# Each replaces one answer cell; the test cells in `loses` must lose points, every other one keeps full marks.

[[mutant]]
name = "standardize normalises the rows instead of the columns"
cell = "standardize"
loses = ["standardize_test"]
source = '''
def standardize(X):
    X = np.asarray(X, dtype=float)
    return (X - X.mean(axis=1, keepdims=True)) / X.std(axis=1, keepdims=True)
'''

[[mutant]]
name = "standardize uses the sample standard deviation (ddof=1)"
cell = "standardize"
loses = ["standardize_test"]
source = '''
def standardize(X):
    X = np.asarray(X, dtype=float)
    return (X - X.mean(axis=0)) / X.std(axis=0, ddof=1)
'''

[[mutant]]
name = "standardize works in place and changes X"
cell = "standardize"
loses = ["standardize_test"]
source = '''
def standardize(X):
    X -= X.mean(axis=0)
    X /= X.std(axis=0)
    return X
'''

[[mutant]]
name = "a correct answer in another style (a loop over the columns) keeps full marks"
cell = "standardize"
loses = []
source = '''
def standardize(X):
    X = np.array(X, dtype=float)
    out = np.empty_like(X)
    for j in range(X.shape[1]):
        column = X[:, j]
        out[:, j] = (column - column.mean()) / column.std()
    return out
'''
"""


@dataclass
class Scaffold:
    name: str
    written: list[Path]


def _cell(kind: str, source: str, grade_id: str | None = None, points: float | None = None, cell_type: str = "code"):
    import nbformat

    make = nbformat.v4.new_code_cell if cell_type == "code" else nbformat.v4.new_markdown_cell
    if kind == "plain":
        return make(source)
    flags = {"answer": dict(solution=True, grade=False, locked=False), "manual": dict(solution=True, grade=True, locked=False),
             "test": dict(solution=False, grade=True, locked=True), "locked": dict(solution=False, grade=False, locked=True)}[kind]
    meta = {"grade_id": grade_id, "schema_version": 3, **flags}
    if points is not None:
        meta["points"] = points
    return make(source, metadata={"nbgrader": meta})


def new_assignment(course_root: Path, name: str) -> Scaffold:
    """Write the minimal exercise set ``name`` into the course at ``course_root``; returns the files written."""
    import nbformat

    if not NAME.fullmatch(name or ""):
        raise CourseError(f"{name!r} cannot name an assignment: use lower-case letters, digits and _ (starting with a letter), "
                          "e.g. `autograder new feature_scaling`")
    root = Path(course_root)
    files = {
        root / "source" / name / f"{name}.ipynb": None,
        root / "solutions" / f"{name}.py": SOLUTIONS.format(name=name),
        root / "tests" / "mutants" / f"{name}.toml": MUTANTS.format(name=name),
    }
    existing = [str(path.relative_to(root)) for path in files if path.exists()]
    if existing or (root / "source" / name).exists():
        raise CourseError(f"{name} exists already ({', '.join(existing) or f'source/{name}/'}): pick another name, or edit it")
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [
        _cell("plain", INTRO.format(title=name.replace("_", " ").capitalize(), name=name), cell_type="markdown"),
        _cell("locked", SETUP, "setup"),
        _cell("plain", QUESTION, cell_type="markdown"),
        _cell("answer", ANSWER, "standardize"),
        _cell("test", TEST, "standardize_test", points=2),
        _cell("plain", PROMPT, cell_type="markdown"),
        _cell("manual", WRITTEN, "constant_column", points=2, cell_type="markdown"),
    ]
    files[root / "source" / name / f"{name}.ipynb"] = nbformat.writes(notebook) + "\n"
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return Scaffold(name, list(files))
