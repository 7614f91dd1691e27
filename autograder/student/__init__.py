"""What a student runs: `check` (the visible tests, run as the grader runs them) and `submit`.

A student has the released course, not the instructor's: ``release/<assignment>/<notebook>.ipynb`` and the
public files next to it. Everything here works from ``release/`` alone. ``source/`` and ``solutions/`` are
never read, so hidden tests can neither run nor be revealed, even on an instructor's machine.

* `released` the released course a student has, and which of its notebooks a file is;
* `check`    the visible tests, run in the grader's sandbox, one line per question;
* `lint`     what would cost points at grading and the visible tests cannot show (hidden state, imports);
* `submit`   hand a notebook in where `grade` finds it.
"""


from autograder.errors import UserError


class StudentError(UserError):
    """A notebook that cannot be checked or handed in; the message names the file and what to do."""
