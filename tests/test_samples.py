"""The README's main job: the bundled sample submissions grade to the outcomes samples/deep_mlps/README.md lists."""

import csv
import io

import pytest

from autograder.cli import main
from autograder.results.export import to_csv
from autograder.results.gradebook import Gradebook
from conftest import REPO

EXPECTED = {  # student: (autograded total out of 15, submission status)
    "ada_lovelace": (15.0, "ok"),
    "alan_turing": (0.0, "ok"),
    "grace_hopper": (10.32, "ok"),  # 9.86 before issue 15's dtype checks in poly_features_test, 10.02 before its int checks in count_parameters_test
    "claude_shannon": (12.0, "ok"),
    "katherine_johnson": (12.0, "error"),
    "marie_curie": (0.0, "invalid"),
    "rosalind_franklin": (14.8, "ok"),  # 14.75 before issue 15's int checks in count_parameters_test
    "emmy_noether": (11.77, "ok"),  # 11.73 before issue 15 (idem)
}


@pytest.mark.slow
def test_the_sample_submissions_grade_as_documented(tmp_path):
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    assert main(["grade", "deep_mlps", str(REPO / "samples" / "deep_mlps"), "--course", str(REPO), "--gradebook", url, "--quiet"]) == 0
    with Gradebook(url) as gradebook:
        submissions = {s.student_id: s for s in gradebook.submissions("deep_mlps")}
        rows = list(csv.DictReader(io.StringIO(to_csv(gradebook, "deep_mlps"))))
    assert set(submissions) == set(EXPECTED)
    for student, (total, status) in EXPECTED.items():
        autograded = sum(float(r["score"] or 0) for r in rows if r["student_id"] == student and r["question"] != "think_depth")
        assert autograded == pytest.approx(total, abs=0.01), student
        assert submissions[student].status == status, (student, submissions[student].message)
    assert "not valid JSON" in submissions["marie_curie"].message
    assert "restored from source/" in submissions["rosalind_franklin"].message
