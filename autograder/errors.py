"""The one family of errors a person can fix: `UserError`, and what the CLI does with it.

A `UserError` is raised for anything the person running a command can put right: a course folder without
``source/``, an assignment that does not exist, a wrong ``autograder.toml``, a notebook a student cannot hand
in, a roster without the columns Canvas writes, ``--isolation bwrap`` where bubblewrap cannot run. Its message
names the thing (a path, an option, a key) and says what to do; `autograder.cli.main` prints it as one line,
``error: <message>``, and exits with `EXIT_USER_ERROR`, whatever the command. Every other exception is a bug
of ours and keeps its traceback.

The families of each layer derive from it (`autograder.course.CourseError`,
`autograder.student.StudentError`, `autograder.results.export.RosterError`), so a layer raises its own,
more specific error and the CLI still handles them all in one place. This module imports nothing: it sits
below every layer (`tools/import_graph.py`), so any module may raise a `UserError`; the student's process
never needs one.

Built-in exceptions (`ValueError`, `KeyError`) are not used for what a person did wrong: ``except
ValueError`` around a call would also catch our own bugs and show them as the user's.
"""

from __future__ import annotations

#: The exit status of a command stopped by a `UserError` (argparse uses the same for a bad option).
EXIT_USER_ERROR = 2


class UserError(Exception):
    """Something the person running the command can fix; the message names it and says how."""
