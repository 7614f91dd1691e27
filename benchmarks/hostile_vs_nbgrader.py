"""The hostile submissions of tests/test_hostile.py, graded by nbgrader's `autograde` and by ours.

    python -m benchmarks.hostile_vs_nbgrader [--dir DIR]

1. Builds a real nbgrader course in a temporary directory: `nbgrader_config.py`, the plain-assert notebook
   of tests/test_hostile.py (four one-point questions: add, scale, area, relu) in source/, `nbgrader
   generate_assignment`, and one submission per attack in `submitted/<attack>/plain/plain.ipynb`, made
   from nbgrader's release: the attacks of `PLAIN_ATTACKS` (every one with wrong answers), a lying
   equality object, a read of the instructor's source notebook, and crashes in the `scale` answer (the
   other three answered right).
2. Runs `nbgrader autograde plain --force` and `autograder grade plain submitted --force` on the same files.
3. Prints one Markdown row per submission: what an honest grader gives (0 for the attacks, 3 for the
   crashes), nbgrader's score, ours, and each one's note. docs/security.md quotes this table.

Not run against nbgrader: the memory hog and the fork storm. nbgrader sets no limit on either, so on a
shared machine they would take memory and processes from everything else running there.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

from benchmarks.common import autograder_command, machine, require_success, run_timed, work_directory

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from test_hostile import PLAIN_ATTACKS, PLAIN_WRONG, plain_notebook, with_prefix  # noqa: E402

NBGRADER_CONFIG = '''c = get_config()
c.CourseDirectory.root = {root!r}
c.CourseDirectory.course_id = "hostile"
c.ExecutePreprocessor.timeout = 8
'''
RIGHT = {
    "add": "def add(a, b):\n    return a + b",
    "scale": "def scale(x):\n    return 2 * x",
    "area": "def area(r):\n    return math.pi * r ** 2",
    "relu": "def relu(t):\n    return t.clamp(min=0)",
}
CRASHES = {
    "os_exit": "import os\nos._exit(3)",
    "segfault": "import ctypes\nctypes.string_at(0)",
    "sys_exit": "import sys\nsys.exit(1)",
    "kernel_death": "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
    "endless_loop": "while True:\n    pass",
    "endless_loop_ignoring_alarms": "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    pass",
    "huge_print_300MB": "print('x' * 300_000_000)",
}


def submissions(source_path: Path) -> dict[str, tuple[dict[str, str], float]]:
    """attack -> (answers, the score an honest grader gives)."""
    found = {name: (answers, 0.0) for name, answers in PLAIN_ATTACKS.items()}
    found["lies_about_equality"] = ({**PLAIN_WRONG, "add": "class Yes(int):\n    __eq__ = lambda self, other: True\n"
                                                           "def add(a, b):\n    return Yes(0)"}, 0.0)
    found["reads_the_source_notebook"] = (with_prefix(
        "import glob, json\nsolution = {}\n"
        "for path in glob.glob('/tmp/**/source/plain/plain.ipynb', recursive=True) + glob.glob('../../../source/plain/plain.ipynb'):\n"
        "    try:\n        for cell in json.load(open(path))['cells']:\n            if cell['cell_type'] == 'code':\n"
        "                exec(''.join(cell['source']).replace('### BEGIN SOLUTION', '').replace('### END SOLUTION', ''), solution)\n"
        "        break\n    except (OSError, ValueError, AssertionError):\n        pass\n",
        {name: f"{source}\nif '{name}' in solution:\n    {name} = solution['{name}']" for name, source in PLAIN_WRONG.items()}), 0.0)
    for name, attack in CRASHES.items():
        found[name] = ({**RIGHT, "scale": attack}, 3.0)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", help="course directory to build (default: a temporary one)")
    args = parser.parse_args()
    root = work_directory(args.dir, "hostile-vs-nbgrader-")
    (root / "source" / "plain").mkdir(parents=True, exist_ok=True)
    (root / "nbgrader_config.py").write_text(NBGRADER_CONFIG.format(root=str(root)))
    source_path = root / "source" / "plain" / "plain.ipynb"
    nbformat.write(plain_notebook(), source_path)
    require_success(run_timed([sys.executable, "-m", "nbgrader", "generate_assignment", "plain", "--force"], cwd=root),
                    "nbgrader generate_assignment")
    released = nbformat.read(root / "release" / "plain" / "plain.ipynb", as_version=4)
    expected = {}
    for name, (answers, honest) in submissions(source_path).items():
        folder = root / "submitted" / name / "plain"
        folder.mkdir(parents=True, exist_ok=True)
        notebook = nbformat.from_dict(released)
        for cell in notebook.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id in answers:
                cell.source = answers[grade_id]
        nbformat.write(notebook, folder / "plain.ipynb")
        expected[name] = honest
    print(f"machine: {machine()}\ncourse: {root}\n")
    nbgrader = run_timed([sys.executable, "-m", "nbgrader", "autograde", "plain", "--force"], cwd=root)
    ours = run_timed([*autograder_command(), "grade", "plain", "submitted", "--course", str(root), "--force", "--quiet",
                      "--gradebook", f"sqlite:///{root / 'ours.db'}", "--timeout", "8"], cwd=root)
    require_success(ours, "autograder grade")
    print(f"nbgrader autograde: {nbgrader.wall:.1f} s (exit {nbgrader.returncode}); autograder grade: {ours.wall:.1f} s\n")
    print([line for line in ours.output.splitlines() if line.startswith("sandbox:")][0] + "\n")

    from nbgrader.api import Gradebook as NbgraderGradebook, MissingEntry

    from autograder.results.gradebook import Gradebook

    theirs = {}
    with NbgraderGradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        for name in expected:
            try:
                theirs[name] = gradebook.find_submission("plain", name).score
            except MissingEntry:
                theirs[name] = None
    with Gradebook(f"sqlite:///{root / 'ours.db'}") as gradebook:
        stored = {s.student_id: s for s in gradebook.submissions("plain")}
    print("| submission | honest score | nbgrader autograde | ours | our status: message |")
    print("|---|---|---|---|---|")
    held_theirs = held_ours = 0
    for name, honest in expected.items():
        mine = stored.get(name)
        our_score = sum(r.score or 0 for r in mine.results) if mine else None
        their = theirs[name]
        held_theirs += their is not None and abs(their - honest) < 1e-9
        held_ours += our_score is not None and abs(our_score - honest) < 1e-9
        note = f"{mine.status}: {mine.message[:110]}" if mine else "no row"
        their_text = "no score (autograde failed)" if their is None else f"{their:g} / 4"
        print(f"| {name} | {honest:g} / 4 | {their_text} | {our_score:g} / 4 | {note.replace('|', '/')} |")
    print(f"\nscored as an honest grader would: nbgrader {held_theirs}/{len(expected)}, ours {held_ours}/{len(expected)}")


if __name__ == "__main__":
    main()
