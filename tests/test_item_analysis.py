"""Item analysis: difficulty, corrected item-total discrimination, common wrong results per check."""

import pytest

from autograder.results.gradebook import Gradebook, StoredResult, StoredSubmission
from autograder.results.item_analysis import analyse, mask_numbers, pearson


def row(student, results, status="ok"):
    return StoredSubmission("toy", student, "toy.ipynb", "", None, status, "", [StoredResult(*r) for r in results])


def check(name, passed, message=""):
    return {"name": name, "passed": passed, "message": message}


@pytest.fixture
def rows(tmp_path):
    """Six students: `easy` everyone gets; `good` follows the total; `odd` is lost by the strong ones only."""
    marks = {  # student: (good, also, odd): `good` and `also` agree on who is strong, `odd` disagrees
        "s1": (2.0, 3.0, 0.0), "s2": (2.0, 2.0, 0.0), "s3": (1.0, 2.0, 1.0), "s4": (1.0, 1.0, 1.0), "s5": (0.0, 1.0, 1.0),
        "s6": (0.0, 0.0, 1.0),
    }
    with Gradebook(f"sqlite:///{tmp_path / 'g.db'}") as book:
        for student, (good, also, odd) in marks.items():
            book.store(row(student, [
                ("easy", 1.0, 1.0, "passed", "", [check("easy.a", True)]),
                ("good", good, 2.0, "passed" if good == 2 else "partial", "",
                 [check("good.value", good == 2.0, "" if good == 2 else f"got {good + 0.123:.3f}, expected 2.0 (seed {hash(student) % 99})")]),
                ("also", also, 3.0, "passed" if also == 3 else "partial", "", []),
                ("odd", odd, 1.0, "passed" if odd else "failed", "", []),
                ("essay", None if student in ("s1", "s2") else 1.0, 2.0, "needs_manual_grade" if student in ("s1", "s2") else "manually_graded"),
            ]))
        book.store(row("broken", [("easy", 0.0, 1.0, "invalid"), ("good", 0.0, 2.0, "invalid"), ("odd", 0.0, 1.0, "invalid"),
                                  ("also", 0.0, 3.0, "invalid"), ("essay", 0.0, 2.0, "invalid")], status="invalid"))
        yield book.submissions("toy")


def by_question(analysis):
    return {item.question: item for item in analysis.items}


def test_difficulty_is_the_mean_fraction_earned_and_leaves_out_unreadable_notebooks(rows):
    items = by_question(analyse(rows))
    assert items["easy"].difficulty == pytest.approx(1.0) and items["easy"].graded == 6
    assert items["good"].difficulty == pytest.approx(0.5)


def test_answers_waiting_for_a_hand_grade_are_left_out_and_the_question_is_not_ranked(rows):
    analysis = analyse(rows)
    essay = by_question(analysis)["essay"]
    assert (essay.pending, essay.graded, essay.difficulty) == (2, 4, pytest.approx(0.5))
    assert essay.discrimination is None
    assert "essay" not in [item.question for item in analysis.hardest]


def test_a_question_the_strong_students_lose_discriminates_badly_and_is_called_out(rows):
    analysis = analyse(rows)
    items = by_question(analysis)
    assert items["good"].discrimination > 0.5 and items["also"].discrimination > 0.5
    assert items["odd"].discrimination < 0 and items["odd"].discriminates_badly
    assert [item.question for item in analysis.poorly_discriminating] == ["odd"]
    assert items["easy"].discrimination is None  # everyone has full marks: nothing to correlate


def test_wrong_results_of_a_check_are_grouped_with_the_varying_numbers_masked(rows):
    failing = analyse(rows).checks
    assert [(c.check, c.failed, c.ran) for c in failing] == [("good.value", 4, 6)]
    assert failing[0].common == [("got #, expected # (seed #)", 4)]


def test_a_check_that_never_ran_is_no_wrong_result_and_seeds_are_dropped():
    from types import SimpleNamespace as Row

    def submission(student, message):
        result = Row(question="q", score=0.0, max_score=1.0, status="failed",
                     checks=[{"name": "q.a", "passed": False, "message": message}])
        return Row(student_id=student, notebook="nb", status="ok", results=[result])

    failing = analyse([submission("a", "expected 2, got 3 [seed 17]"), submission("b", "expected 2, got 4 [seed 99]"),
                       submission("c", "not checked: NameError: name 'f' is not defined")]).checks
    assert [(c.failed, c.ran, c.common) for c in failing] == [(2, 2, [("expected #, got #", 2)])]


def test_pearson_is_none_without_variation():
    assert pearson([1.0, 1.0, 1.0], [0.0, 1.0, 2.0]) is None
    assert pearson([0.0, 1.0, 2.0], [0.0, 2.0, 4.0]) == pytest.approx(1.0)


def test_masking_keeps_names_with_digits():
    assert mask_numbers("layer2 got 3.5e-3 at index 7") == "layer2 got # at index #"
