"""The check vocabulary: decides in a student's session, only records while grading."""

import numpy as np
import pytest

from autograder.sandbox.inside import checks as ag
from autograder.wire import seeding
@pytest.fixture(autouse=True)
def local_mode():
    ag._install("local", None)
    yield
    ag._install("local", None)


def test_a_passing_visible_check_says_so(capsys):
    ag.check_close("double", np.array([2.0, 4.0]), expected=[2.0, 4.0])
    assert "✓ double" in capsys.readouterr().out


def test_a_failing_visible_check_explains_itself_and_keeps_the_seed_for_the_instructor():
    records = []
    ag._install("local", records.append)
    ag.set_seed(7)
    with pytest.raises(AssertionError) as failure:
        ag.check_close("double", np.array([2.0, 5.0]), expected=[2.0, 4.0])
    message = str(failure.value)
    assert message.startswith("check 'double' failed: ") and "[seed" not in message
    assert "1 / 2 element(s) mismatched" in message
    assert records[0].seed == 7


HINT = "multiply by 2, do not add 2"


@pytest.mark.parametrize("make", [
    lambda: ag.check_close("double", 5.0, expected=4.0, hint=HINT),
    lambda: ag.check_equal("double", 5, expected=4, hint=HINT),
    lambda: ag.check_true("double", False, "not doubled", hint=HINT),
])
def test_a_failing_check_shows_its_hint_after_the_message(make):
    with pytest.raises(AssertionError) as failure:
        make()
    first, second = str(failure.value).split("\n")
    assert first.startswith("check 'double' failed: ")
    assert second == f"  hint: {HINT}"


def test_a_passing_check_never_shows_its_hint(capsys):
    ag.check_close("double", 4.0, expected=4.0, hint=HINT)
    ag.check_equal("same", 1, expected=1, hint=HINT)
    assert "hint" not in capsys.readouterr().out


def test_the_hint_travels_in_the_record_across_the_wire():
    from autograder.wire.protocol import CheckRecord

    records = []
    ag._install("reference", lambda record: records.append(record.to_json()))
    ag.check_close("double", 4.0, hint=HINT)
    ag.check_metric("accuracy", 0.9, "held_out_accuracy", at_least=0.8, hint="train longer")
    ag.check_equal("plain", 1, expected=1)
    assert [CheckRecord.from_json(r).hint for r in records] == [HINT, "train longer", ""]
    assert "hint" not in records[2], "a check without a hint sends none"


def test_a_hint_that_is_not_text_is_refused_with_the_check_named():
    with pytest.raises(TypeError, match="check 'double': hint= must be a string"):
        ag.check_close("double", 4.0, expected=4.0, hint=["a list"])


def test_a_check_without_expected_value_defers_to_grading(capsys):
    ag.check_close("hidden", 3.0)
    assert "compared with the reference implementation when graded" in capsys.readouterr().out


def test_check_true_uses_the_instructors_message():
    with pytest.raises(AssertionError, match="weights must be positive"):
        ag.check_true("positive", False, "weights must be positive")


def test_while_grading_a_check_records_plain_data_and_never_raises():
    records = []
    ag._install("record", lambda record: records.append(record.to_json()))  # as it crosses the pipe
    ag.set_seed(3)
    ag.check_close("wrong", np.array([1.0]), expected=[2.0], rtol=0.5)
    (record,) = records
    assert record["name"] == "wrong" and record["seed"] == 3
    assert record["options"]["rtol"] == 0.5
    assert "expected" not in record, "a literal never needs to leave the trusted side"
    assert record["value"]["$"] == "ndarray"


def test_on_the_trusted_side_a_literal_is_the_expected_value():
    records = []
    ag._install("reference", lambda record: records.append(record.to_json()))  # as it crosses the pipe
    ag.check_equal("shape", (3,), expected=(3,))
    assert records[0]["expected"] == {"$": "tuple", "items": [3]}


def test_a_value_that_cannot_be_sent_is_recorded_as_an_error():
    records = []
    ag._install("record", lambda record: records.append(record.to_json()))  # as it crosses the pipe
    ag.check_close("objects", np.array([object()], dtype=object))
    assert "cannot be graded" in records[0]["error"]


def test_checks_need_a_name():
    with pytest.raises(TypeError):
        ag.check_close("", 1.0, expected=1.0)


def test_seeded_makes_inputs_reproducible():
    import torch

    with ag.seeded(5):
        first = (np.random.rand(), torch.rand(1).item())
    with ag.seeded(5):
        second = (np.random.rand(), torch.rand(1).item())
        assert seeding.current_seed() == 5
    assert first == second


def test_after_a_seeded_block_messages_name_the_seed_from_before_it():
    ag.set_seed(1)
    with ag.seeded(9):
        pass
    assert seeding.current_seed() == 1


def test_stable_seeds_do_not_depend_on_the_process():
    assert seeding.stable_seed("double_test") == seeding.stable_seed("double_test")
    assert seeding.stable_seed("a") != seeding.stable_seed("b")


def test_in_a_students_check_each_check_reports_what_it_decided_as_data():
    decided = []
    ag._install("local", decided.append)
    ag.check_close("right", 1.0, expected=1.0)
    with pytest.raises(AssertionError):
        ag.check_close("wrong", 2.0, expected=1.0)
    ag.check_close("later", 3.0)
    ag.check_metric("accuracy", 0.5, "accuracy", at_least=0.8)
    assert [(r.name, r.local.value) for r in decided] == [
        ("right", "passed"), ("wrong", "failed"), ("later", "when_graded"), ("accuracy", "when_graded")]
