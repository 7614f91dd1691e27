"""`autograder grade` against nbgrader's `autograde` on the same course, in the same run.

    python -m benchmarks.vs_nbgrader [--students 24] [--workers 2] [--dir DIR]

1. Builds a real nbgrader course in a temporary directory: `nbgrader_config.py`, the five-question PyTorch
   notebook of `benchmarks.torch_course` in source/, `nbgrader generate_assignment`, and one submission
   per student in nbgrader's `submitted/<student>/<assignment>/` layout, made from nbgrader's release.
   Each tool's release step, done once per assignment by the instructor, runs here untimed:
   `nbgrader generate_assignment` (which keeps the source cells in nbgrader's gradebook for autograde) and
   `autograder release` (which finds release/ identical to nbgrader's and keeps our grading manifest).
2. Imports torch once (so neither grader pays for a cold page cache), then times, one after the other,
   `nbgrader autograde ASSIGNMENT --force` and `autograder grade ASSIGNMENT submitted --workers N --force`
   on the same files, each as its own command, from start to exit.
3. Reads nbgrader's gradebook (`nbgrader.api.Gradebook`) and ours, and compares the score of every
   (student, question) pair; prints every disagreement.

Wall time is what a grader waits for; CPU time (the command and everything it started) is printed too,
since on a shared machine the wall time depends on what else runs. The steady-state rate of ours (from
the first to the last submission it stored) is printed apart from the end-to-end time, which includes
starting the command and the warm workers, and so is that start-up (command start to first submission
stored).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import Counter
from pathlib import Path

import nbformat

from benchmarks import torch_course
from benchmarks.common import autograder_command, machine, require_success, run_timed, work_directory
from benchmarks.torch_course import ASSIGNMENT, NOTEBOOK, QUESTIONS

NBGRADER_CONFIG = '''c = get_config()
c.CourseDirectory.root = {root!r}
c.CourseDirectory.course_id = "benchmark"
c.ExecutePreprocessor.timeout = 120
'''


def build_course(root: Path, students: int) -> list[str]:
    """The nbgrader course: config, source, nbgrader's own release, submissions. Returns the student ids."""
    (root / "source" / ASSIGNMENT).mkdir(parents=True)
    (root / "nbgrader_config.py").write_text(NBGRADER_CONFIG.format(root=str(root)))
    nbformat.write(torch_course.solution_notebook(), root / "source" / ASSIGNMENT / NOTEBOOK)
    generated = run_timed([sys.executable, "-m", "nbgrader", "generate_assignment", ASSIGNMENT, "--force"], cwd=root)
    require_success(generated, "nbgrader generate_assignment")
    ours = run_timed(autograder_command() + ["release", ASSIGNMENT, "--course", str(root)], cwd=root)
    require_success(ours, "autograder release")
    released = nbformat.read(root / "release" / ASSIGNMENT / NOTEBOOK, as_version=4)
    ids = []
    for index, plan in enumerate(torch_course.answer_plan(students)):
        student = torch_course.student_id(index)
        folder = root / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(torch_course.submission(released, plan, scratch_cell=index % 5 == 3), folder / NOTEBOOK)
        ids.append(student)
    return ids


def nbgrader_scores(root: Path, students: list[str]) -> dict[tuple[str, str], float]:
    from nbgrader.api import Gradebook

    scores = {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        for student in students:
            notebook = gradebook.find_submission_notebook(Path(NOTEBOOK).stem, ASSIGNMENT, student)
            for grade in notebook.grades:
                scores[(student, grade.name)] = float(grade.score)
    return scores


def our_scores(url: str) -> tuple[dict[tuple[str, str], float], list]:
    from autograder.results.gradebook import Gradebook

    with Gradebook(url) as gradebook:
        rows = gradebook.submissions(ASSIGNMENT)
    scores = {(row.student_id, result.question): float(result.score or 0.0) for row in rows for result in row.results}
    return scores, rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.vs_nbgrader", description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=24, help="submissions to grade (default: 24)")
    parser.add_argument("--workers", type=int, default=2, help="our workers (default: 2)")
    parser.add_argument("--dir", help="build the course here (default: a new temporary directory, kept)")
    parser.add_argument("--ours-first", action="store_true", help="run ours before nbgrader (default: nbgrader first)")
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # progress shows as it happens, also in a log file
    if args.students < 2:
        parser.error("--students must be at least 2 (the solution and the untouched release)")

    root = work_directory(args.dir, "bench-vs-nbgrader-") / "course"
    print(f"machine: {machine()}")
    students = build_course(root, args.students)
    plans = torch_course.answer_plan(args.students)
    points = sum(q.points for q in QUESTIONS)
    print(f"course: {root} (nbgrader layout), {len(QUESTIONS)} questions, {points:g} points; {len(students)} submissions")
    print("release steps, untimed (once per assignment): nbgrader generate_assignment, autograder release")
    for question in QUESTIONS:
        handed = Counter(plan[question.grade_id] for plan in plans)
        print(f"  {question.grade_id:<14} " + ", ".join(f"{name} x{count}" for name, count in handed.items()))

    warm = run_timed([sys.executable, "-c", "import torch, IPython, nbformat"])
    require_success(warm, "importing torch")

    ours_url = f"sqlite:///{root.parent / 'autograder-gradebook.db'}"
    nbgrader_argv = [sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT, "--force"]
    ours_argv = autograder_command() + ["grade", ASSIGNMENT, str(root / "submitted"), "--course", str(root),
                                        "--workers", str(args.workers), "--force", "--gradebook", ours_url]
    runs = {}
    for name in (["ours", "nbgrader"] if args.ours_first else ["nbgrader", "ours"]):
        argv, cwd = (nbgrader_argv, root) if name == "nbgrader" else (ours_argv, root.parent)
        print(f"running: {' '.join(argv)}", flush=True)
        runs[name] = run_timed(argv, cwd=cwd)
        require_success(runs[name], name)

    theirs = nbgrader_scores(root, students)
    ours, rows = our_scores(ours_url)
    n = len(students)
    nb, us = runs["nbgrader"], runs["ours"]
    print()
    print(f"nbgrader autograde (sequential, a fresh kernel per notebook): {nb.wall:.1f} s wall, {nb.wall / n:.2f} s per submission; "
          f"{nb.cpu:.1f} CPU s ({nb.cpu_how})  [load {nb.load_before} -> {nb.load_after}]")
    durations = sorted(row.duration_s for row in rows if row.duration_s is not None)
    stored_at = sorted(row.graded_at for row in rows)
    steady = (n - 1) / (stored_at[-1] - stored_at[0]).total_seconds() if n > 1 and stored_at[-1] > stored_at[0] else float("nan")
    print(f"autograder grade ({args.workers} workers): {us.wall:.1f} s wall, {us.wall / n:.3f} s per submission; "
          f"{us.cpu:.1f} CPU s ({us.cpu_how})  [load {us.load_before} -> {us.load_after}]")
    print(f"  start-up (command started to first submission stored; the warm workers start while the plan is built): "
          f"{stored_at[0].timestamp() - us.began_at:.2f} s")
    print(f"  one submission (read, restore, fork, run, score): "
          f"median {statistics.median(durations):.3f} s, min {durations[0]:.3f} s, max {durations[-1]:.3f} s")
    print(f"  steady state (first to last submission stored): {steady:.1f} submissions/s "
          f"= {1 / steady if steady == steady else float('nan'):.3f} s per submission")
    ratio = nb.wall / us.wall
    print(f"throughput ratio, end to end (nbgrader wall / ours): {ratio:.1f}x  (target: 20x)")
    print(f"throughput ratio, CPU time (nbgrader CPU s / ours): {nb.cpu / us.cpu:.1f}x")
    if steady == steady:
        print(f"throughput ratio, ours in steady state vs nbgrader: {steady * nb.wall / n:.1f}x")

    pairs = sorted(set(theirs) | set(ours))
    disagreements = [(pair, theirs.get(pair), ours.get(pair)) for pair in pairs if theirs.get(pair) != ours.get(pair)]
    print(f"score agreement: {len(pairs) - len(disagreements)}/{len(pairs)} (student, question) pairs identical")
    for (student, question), nbgrader_score, our_score in disagreements:
        plan = plans[students.index(student)] if student in students else {}
        answer = plan.get(question.removesuffix("_test"), "?")
        print(f"  DISAGREE {student} {question} (answer {answer!r}): nbgrader {nbgrader_score}, ours {our_score}")
    totals_nb = sum(theirs.values())
    totals_us = sum(ours.values())
    print(f"total points: nbgrader {totals_nb:g}, ours {totals_us:g} (of {points * n:g})")
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
