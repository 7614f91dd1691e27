"""The check vocabulary for test cells: ``from autograder import checks as ag``.

The public name notebooks import. The code lives in `autograder.sandbox.inside.checks`, among the modules
that run inside the student's process: a check only records a value there; the verdict is decided on the
trusted side (`autograder.grading.scoring`).
"""

from autograder.sandbox.inside.checks import *  # noqa: F401,F403
from autograder.sandbox.inside.checks import __all__  # noqa: F401
