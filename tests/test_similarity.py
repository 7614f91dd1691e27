"""`autograder similarity`: copies are found through renaming and reformatting, independent answers and the
starter code are not, and the page shows both answers with the shared code marked (escaped)."""

import pytest

from autograder.cli import main
from autograder.results.similarity import Answer, compare_answers

pytest.importorskip("copydetect")

STUB = "def count_trainable(model):\n    # YOUR CODE HERE\n    raise NotImplementedError()"
LOOP = '''def count_trainable(model):
    total = 0
    for parameter in model.parameters():
        if parameter.requires_grad:
            total += parameter.numel()
    return total
'''
DISGUISED = '''def count_trainable(net):
    # add up the sizes of the tensors that train
    n = 0

    for p in net.parameters():
        if (p.requires_grad):
            n += p.numel()   # one tensor at a time
    return (n)
'''
GENERATOR = '''def count_trainable(model):
    sizes = [p.numel() for p in model.parameters() if p.requires_grad]
    return int(sum(sizes))
'''


def answer(student, source):
    return Answer(student, "nb.ipynb", "count_trainable", source)


def test_a_renamed_and_reformatted_copy_is_found():
    pairs, summary = compare_answers([answer("ann", LOOP), answer("bob", DISGUISED)], STUB, min_tokens=20)
    assert [(p.first.student_id, p.second.student_id) for p in pairs] == [("ann", "bob")]
    assert pairs[0].similarity == pytest.approx(1.0)
    assert summary.answers == 2 and summary.listed == 1


def test_an_independent_answer_to_the_same_question_is_not_listed():
    pairs, summary = compare_answers([answer("ann", LOOP), answer("cat", GENERATOR)], STUB, min_tokens=20)
    assert pairs == [] and summary.pairs == 1 and summary.median < 0.5


def test_the_starter_code_never_counts_as_shared():
    """Two students who left the stub are not alike: the stub is boilerplate, nothing is left to compare."""
    pairs, summary = compare_answers([answer("dan", STUB), answer("eve", STUB)], STUB, min_tokens=1)
    assert pairs == [] and summary.answers == 0


def test_answers_too_short_to_tell_are_not_compared():
    short = "def count_trainable(model):\n    return sum(p.numel() for p in model.parameters())"
    pairs, summary = compare_answers([answer("fay", short), answer("gus", short)], STUB)
    assert pairs == [] and summary.answers == 0


LONG_DOUBLE = '''def double(x):
    values = np.asarray(x, dtype=float)
    doubled = np.empty_like(values)
    for index in np.ndindex(values.shape):
        doubled[index] = values[index] + values[index]
    return doubled
'''
COPIED_DOUBLE = '''def double(arr):
    note = '</pre><script>alert(1)</script>'
    vals = np.asarray(arr, dtype=float)
    out = np.empty_like(vals)
    for i in np.ndindex(vals.shape):
        out[i] = vals[i] + vals[i]
    return out
'''


def test_the_command_writes_a_page_with_both_answers_side_by_side(toy_course, tmp_path, capsys):
    from conftest import CORRECT, hand_in, student_version

    submissions = tmp_path / "submitted"
    hand_in(submissions, "hana", student_version(toy_course, dict(CORRECT, double=LONG_DOUBLE)))
    hand_in(submissions, "ivan", student_version(toy_course, dict(CORRECT, double=COPIED_DOUBLE)))
    hand_in(submissions, "jo", student_version(toy_course, CORRECT))
    common = ["--course", str(toy_course)]
    assert main(["grade", "toy", str(submissions), *common, "--quiet", "--workers", "1"]) == 0
    page = tmp_path / "similarity.html"
    assert main(["similarity", "toy", *common, "--output", str(page)]) == 0
    out = capsys.readouterr().out
    assert "hana ↔ ivan" in out and "jo" not in out.split("similar")[-1]
    html = page.read_text()
    assert "<mark>" in html and "hana" in html and "ivan" in html
    assert "<script>alert(1)" not in html  # the student's text is escaped, never markup
