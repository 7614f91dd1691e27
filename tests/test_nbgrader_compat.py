"""Courses written for nbgrader grade as nbgrader grades them.

The expected scores are those nbgrader's own `autograde` gives to its documentation course (ps1): the
scores listed in the foundation issue, measured with nbgrader 0.9.6.
"""

import csv
import io

from autograder.cli import main
from autograder.course import Course
from autograder.results.export import to_csv
from autograder.results.gradebook import Gradebook

NBGRADER_SCORES = {
    "bitdiddle": {"correct_squares": 0.0, "squares_invalid_input": 1.0, "correct_sum_of_squares": 0.0, "sum_of_squares_uses_squares": 0.5},
    "hacker": {"correct_squares": 1.0, "squares_invalid_input": 1.0, "correct_sum_of_squares": 0.5, "sum_of_squares_uses_squares": 0.5},
}


def test_nbgraders_docs_course_gets_nbgraders_scores(peers_course):
    assert main(["release", "--course", str(peers_course)]) == 0
    assert main(["grade", "ps1", str(peers_course / "submitted"), "--course", str(peers_course), "--quiet"]) == 0
    with Gradebook(Course.at(peers_course).gradebook_url) as gradebook:
        rows = list(csv.DictReader(io.StringIO(to_csv(gradebook, "ps1"))))
    got = {}
    for row in rows:
        if row["notebook"] == "problem1.ipynb" and row["question"] in NBGRADER_SCORES["hacker"]:
            got.setdefault(row["student_id"], {})[row["question"]] = float(row["score"])
    assert got == NBGRADER_SCORES


def test_hand_graded_answers_wait_for_a_person(peers_course):
    main(["release", "--course", str(peers_course)])
    main(["grade", "ps1", str(peers_course / "submitted"), "--course", str(peers_course), "--quiet"])
    with Gradebook(Course.at(peers_course).gradebook_url) as gradebook:
        rows = list(csv.DictReader(io.StringIO(to_csv(gradebook, "ps1"))))
    manual = {(r["student_id"], r["question"]): (r["score"], r["status"]) for r in rows if r["notebook"] == "problem2.ipynb"}
    assert manual[("hacker", "part-a")] == ("", "needs_manual_grade")


def test_the_docs_course_verifies(peers_course):
    main(["release", "--course", str(peers_course)])
    assert main(["verify", "--course", str(peers_course)]) == 0
