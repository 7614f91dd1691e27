"""What one hand-grading step costs the grading server as the class grows.

    python -m benchmarks.manual_scale            # [--students 100 1000 5000] [--rounds 5]

For each class size it builds a SQLite gradebook as `grade` leaves it: every student has one notebook with
25 autograded results, 30 stored cells and two written answers waiting for a hand grade. Then it times, in
this process and without a browser, what the server does for a grader (`autograder.results.manual.ManualGrading`):
the index, one question page, one save followed by the next page (what Ctrl+Enter costs), an answer-group page
and a student page. Each figure is the median of ``--rounds`` runs, after one warm-up render (the first page
imports the renderer once per server). The page is rendered but not sent, so the figures are the server's share
of a step; a browser adds its own (tests/test_manual_groups.py measures keys to the next page in Chromium).
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
import time
from pathlib import Path

from autograder.results.gradebook import Gradebook, StoredResult, StoredSubmission
from autograder.results.manual import ManualGrading
from benchmarks.common import machine

QUESTIONS = ("explain", "why")


def build(book: Gradebook, students: int) -> None:
    for i in range(students):
        student = f"s{i:05d}"
        texts = {"explain": f"It is linear, says student {i % 37}.", "why": f"Because of the {i % 11} gradient."}
        results = [StoredResult(f"q{k}_test", 1.0, 1.0, "passed") for k in range(25)]
        results += [StoredResult(q, None, 2.0, "needs_manual_grade") for q in QUESTIONS]
        cells = [{"grade_id": f"c{k}", "cell_type": "code", "source": "x = 1\n" * 20} for k in range(30)]
        answers = {q: {"source": t, "cell_type": "markdown", "sha256": hashlib.sha256(t.encode()).hexdigest()} for q, t in texts.items()}
        book.store(StoredSubmission("toy", student, "toy.ipynb", f"{student}/toy.ipynb", hashlib.sha256(student.encode()).hexdigest(),
                                    "ok", "", results, duration_s=1.0, student_view={"cells": cells, "answers": answers}))


def median_ms(step, rounds: int) -> float:
    times = []
    for n in range(rounds):
        started = time.perf_counter()
        step(n)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def measure(students: int, rounds: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder, Gradebook(f"sqlite:///{Path(folder) / 'gradebook.db'}") as book:
        build(book, students)
        app = ManualGrading(book, "toy", grader="ada")
        app.index_page()  # warm-up: the first render imports the page renderer

        def save_and_next(n: int) -> None:
            answer = next(a for a in app.answers() if a.student_id == f"s{n:05d}" and a.question == "explain")
            app.save({"token": app.token, "notebook": "toy.ipynb", "question": "explain", "student": answer.student_id,
                      "score": "1", "sha256": answer.sha256, "version": str(answer.version), "grader": "ada", "comment": "ok"})
            following = app.next_ungraded(answer.key)
            app.question_page(following.notebook, following.question, student=following.ref)

        return {
            "index": median_ms(lambda n: app.index_page(), rounds),
            "question page": median_ms(lambda n: app.question_page("toy.ipynb", "explain", student=f"s{n:05d}"), rounds),
            "save + next page": median_ms(save_and_next, rounds),
            "group page": median_ms(lambda n: app.group_page("toy.ipynb", "explain"), rounds),
            "student page": median_ms(lambda n: app.student_page(f"s{n:05d}"), rounds),
        }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"machine: {machine()}")
    print(f"server time per hand-grading step, median of {args.rounds} (25 autograded results + 2 written answers per student)")
    for students in args.students:
        started = time.perf_counter()
        figures = measure(students, args.rounds)
        print(f"  {students:>6} students: " + ", ".join(f"{name} {ms:.0f} ms" for name, ms in figures.items())
              + f"  ({time.perf_counter() - started:.0f} s with the build)", flush=True)


if __name__ == "__main__":
    main()
