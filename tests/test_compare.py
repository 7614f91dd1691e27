"""The verdict: what counts as close, and what a failed comparison tells the student."""

import numpy as np
import pandas as pd
import pytest
import torch

from autograder.wire.compare import Options, compare
from autograder.wire.values import decode, encode


def verdict(expected, actual, **options):
    return compare(decode(encode(expected)), decode(encode(actual)), Options(**options))


def test_float32_uses_torch_default_tolerances():
    base = torch.tensor([1.0, 2.0])
    assert verdict(base, base + 1e-6).ok
    assert not verdict(base, base + 1e-3).ok


def test_float64_is_stricter_than_float32():
    base = np.array([1.0, 2.0])
    assert not verdict(base, base + 1e-6).ok
    assert verdict(base.astype(np.float32), (base + 1e-6).astype(np.float32)).ok


def test_a_float32_answer_to_a_float64_question_is_compared_at_float64s_tolerance():
    expected = np.array([1.0, 2.0, 3.0])
    outcome = verdict(expected, (expected + 5e-7).astype(np.float32))
    assert not outcome.ok and "expected float64, got float32: compared at float64's tolerance" in outcome.message
    # a correct float32 answer passes where the check's own tolerance allows float32 rounding
    assert verdict(expected, (expected + 5e-7).astype(np.float32), rtol=1e-5, atol=1e-6).ok
    # and an exact float32 answer passes at the reference's tolerance as it is
    assert verdict(np.array([0.5, 0.25, 3.0]), np.array([0.5, 0.25, 3.0], dtype=np.float32)).ok


WRONG_BY_ONE_PERCENT = torch.tensor([1.0, 2.0, 3.0]) * 1.01


class ClaimsBfloat16(torch.Tensor):
    """A float32 tensor whose ``dtype`` says bfloat16 (the loosest default), hoping for a looser tolerance."""

    @property
    def dtype(self):
        return torch.bfloat16


@pytest.mark.parametrize("how", ["bfloat16", "float16", "claims_bfloat16"])
def test_the_students_dtype_never_loosens_the_tolerance(how):
    expected = torch.tensor([1.0, 2.0, 3.0])
    if how == "claims_bfloat16":
        actual = WRONG_BY_ONE_PERCENT.clone().as_subclass(ClaimsBfloat16)
        assert str(actual.dtype) == "torch.bfloat16"
    elif how == "float16":  # 0.04 % wrong: within float16's rtol of 1e-3
        actual = (torch.tensor([1.0, 2.0, 3.0]) * 1.0004).to(torch.float16)
    else:
        actual = WRONG_BY_ONE_PERCENT.to(getattr(torch, how))
    # within the student's dtype's default, so the old "looser of the two dtypes" rule passed all three
    outcome = verdict(expected, actual)
    assert not outcome.ok
    assert "up to 1.3e-06 allowed" in outcome.message
    if how == "claims_bfloat16":  # the claim is not even believed: the data are float32, as expected
        assert "bfloat16" not in outcome.message
    else:
        assert f"expected float32, got {how}: compared at float32's tolerance" in outcome.message


def test_a_claimed_dtype_is_read_from_the_data_not_the_claim():
    from autograder.wire.compare import real_dtype
    from autograder.wire.values import Array

    assert real_dtype(decode(encode(torch.tensor([1.5, 2.0], dtype=torch.bfloat16)))) == "bfloat16"
    assert real_dtype(decode(encode(torch.tensor([1.01, 2.0]).as_subclass(ClaimsBfloat16)))) == "float32"
    assert real_dtype(Array(np.ones(2), "torch.float16", "tensor")) == "float64"
    # a lying claim also cannot win check_dtype=True
    forged = decode(encode(torch.tensor([1.5]).to(torch.bfloat16).float()))
    forged = Array(forged.data, "torch.bfloat16", "tensor")
    assert real_dtype(forged) == "bfloat16"  # bfloat16-representable float32 data: the claim is consistent


def test_a_lower_precision_answer_that_is_right_at_the_references_precision_passes():
    expected = torch.tensor([0.5, 1.0, 1.5])
    assert verdict(expected, expected.to(torch.bfloat16)).ok
    assert verdict(expected, expected.to(torch.float16)).ok


def test_check_dtype_makes_dtypes_matter():
    outcome = verdict(np.ones(2), np.ones(2, dtype=np.float32), check_dtype=True)
    assert not outcome.ok and "dtype differs: expected float64, got float32" in outcome.message


def test_integers_compare_exactly():
    assert not verdict(np.array([1, 2]), np.array([1, 3])).ok


def test_overridden_tolerances_apply():
    assert verdict(1.0, 1.05, rtol=0.1, atol=0).ok
    assert not verdict(1.0, 1.05, rtol=0.01, atol=0).ok


def test_the_message_says_how_many_elements_differ_and_where():
    expected = torch.zeros(3, 4)
    actual = expected.clone()
    actual[1, 2] = 0.5
    actual[2, 3] = 0.25
    outcome = verdict(expected, actual)
    assert not outcome.ok
    assert "2 / 12 element(s) mismatched (16.7%)" in outcome.message
    assert "greatest absolute difference: 0.5 at index (1, 2)" in outcome.message
    assert "first mismatch at index (1, 2)" in outcome.message
    assert "up to 1e-05 allowed" in outcome.message


def test_a_shape_mismatch_is_reported_before_values():
    outcome = verdict(np.zeros((2, 3)), np.zeros((3, 2)))
    assert outcome.message == "shape differs: expected (2, 3), got (3, 2)"


def test_scalars_say_what_was_expected():
    outcome = verdict(0.5, 0.75)
    assert "expected 0.5, got 0.75" in outcome.message


def test_scalars_tensors_and_zero_d_arrays_are_interchangeable():
    assert verdict(0.5, torch.tensor(0.5)).ok
    assert verdict(np.float64(2.0), 2).ok


def test_lists_and_tuples_are_interchangeable_but_lengths_are_not():
    assert verdict((1, 2), [1, 2]).ok
    assert verdict([1, 2], [1, 2, 3]).message == "expected 2 item(s), got 3 ([1, 2] vs [1, 2, 3])"
    assert verdict((3, 4), (4, 3)).message == "expected (3, 4), got (4, 3)"


def test_nested_differences_name_their_path():
    outcome = verdict({"w": [np.zeros(2), np.ones(2)]}, {"w": [np.zeros(2), np.zeros(2)]})
    assert outcome.message.startswith("at ['w'][1]: ")


def test_dict_keys_must_match():
    outcome = verdict({"a": 1, "b": 2}, {"a": 1, "c": 2})
    assert "missing key(s) ['b']" in outcome.message and "unexpected key(s) ['c']" in outcome.message


def test_state_dicts_compare_with_modules():
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 2)
    assert verdict(model.state_dict(), model).ok
    other = torch.nn.Linear(2, 2)
    assert not verdict(model, other).ok


def test_nan_only_equals_nan_when_asked():
    assert not verdict(np.array([np.nan]), np.array([np.nan])).ok
    assert verdict(np.array([np.nan]), np.array([np.nan]), equal_nan=True).ok


def test_dataframes_compare_columns_index_and_values():
    frame = pd.DataFrame({"a": [1.0, np.nan], "b": ["x", "y"]})
    assert verdict(frame, frame.copy()).ok
    renamed = frame.rename(columns={"b": "c"})
    assert "columns differ" in verdict(frame, renamed).message
    changed = frame.copy()
    changed.loc[0, "a"] = 2.0
    assert verdict(frame, changed).message.startswith("row 0, column 'a': ")
    assert "index differs" in verdict(frame, frame.set_axis([5, 6])).message


PEOPLE = pd.DataFrame({"age": [30, 41, 25], "name": ["ann", "bob", "cy"]}, index=["alice", "bob", "carol"])


def test_one_wrong_cell_of_a_dataframe_is_named_by_row_label_and_column():
    wrong = PEOPLE.copy()
    wrong.loc["bob", "age"] = 40
    assert verdict(PEOPLE, wrong).message == "row 'bob', column 'age': expected 41, got 40"


def test_a_wrong_string_cell_is_named_by_its_labels_too():
    wrong = PEOPLE.copy()
    wrong.loc["carol", "name"] = "cyd"
    assert verdict(PEOPLE, wrong).message == "row 'carol', column 'name': expected 'cy', got 'cyd'"


def test_several_wrong_cells_say_how_many_and_where_by_label_never_by_position():
    wrong = PEOPLE.astype({"age": float})
    wrong["age"] = [30.0, 45.0, 20.0]
    message = verdict(PEOPLE.astype({"age": float}), wrong).message
    assert message.startswith("column 'age': values are not close: 2 / 3 element(s) mismatched")
    assert "first mismatch at row 'bob': expected 41, got 45" in message
    assert "greatest absolute difference: 5 at row 'carol'" in message
    assert "index (" not in message


def test_a_nested_dataframe_keeps_its_path_in_front():
    wrong = PEOPLE.copy()
    wrong.loc["alice", "age"] = 31
    assert verdict({"people": PEOPLE}, {"people": wrong}).message == "at ['people']: row 'alice', column 'age': expected 30, got 31"


def test_missing_and_unexpected_columns_are_named():
    message = verdict(PEOPLE, PEOPLE.rename(columns={"age": "Age"})).message
    assert message == "DataFrame columns differ: missing column(s) ['age']; unexpected column(s) ['Age']"


def test_columns_in_another_order_say_where_the_order_first_differs():
    message = verdict(PEOPLE, PEOPLE[["name", "age"]]).message
    assert message == "DataFrame columns differ: the same column labels in another order: at position 0 expected 'age', got 'name'"


def test_missing_rows_are_named_by_label():
    message = verdict(PEOPLE, PEOPLE.drop("carol")).message
    assert message == "DataFrame index differs: missing row label(s) ['carol'] (2 row(s), expected 3)"


def test_a_lost_index_shows_the_labels_expected_and_the_positions_got():
    message = verdict(PEOPLE, PEOPLE.reset_index(drop=True)).message
    assert message == "DataFrame index differs: missing row label(s) ['alice', 'bob', 'carol']; unexpected row label(s) [0, 1, 2]"


def test_rows_in_another_order_fail_and_say_so():
    message = verdict(PEOPLE, PEOPLE.loc[["bob", "alice", "carol"]]).message
    assert message == "DataFrame index differs: the same row labels in another order: at position 0 expected 'alice', got 'bob'"


def test_a_label_1_and_a_label_one_as_text_are_different_rows():
    message = verdict(pd.DataFrame({"a": [1]}, index=[1]), pd.DataFrame({"a": [1]}, index=["1"])).message
    assert message == "DataFrame index differs: missing row label(s) [1]; unexpected row label(s) ['1']"


def test_series_values_are_reported_by_label():
    expected = pd.Series([1.0, 2.0, 3.0], index=["x", "y", "z"], name="s")
    wrong = expected.copy()
    wrong["y"] = 2.5
    assert verdict(expected, wrong).message.startswith("row 'y': expected 2, got 2.5 (difference 0.5")


def test_a_multiindex_row_is_named_by_its_tuple():
    expected = pd.DataFrame({"v": [1, 2]}, index=pd.MultiIndex.from_tuples([("a", 1), ("b", 2)]))
    wrong = expected.copy()
    wrong.iloc[1, 0] = 5
    assert verdict(expected, wrong).message == "row ('b', 2), column 'v': expected 2, got 5"


def test_a_column_of_the_wrong_kind_is_named():
    wrong = PEOPLE.astype({"age": str})
    assert verdict(PEOPLE, wrong).message == "column 'age': dtype differs: expected int64, got str"


def test_series_compare_names():
    outcome = verdict(pd.Series([1, 2], name="x"), pd.Series([1, 2], name="y"))
    assert "Series name differs" in outcome.message


def test_strings_and_none_compare_exactly():
    assert verdict("abc", "abc").ok
    assert not verdict("abc", "abd").ok
    assert not verdict(None, 0).ok


@pytest.mark.parametrize("kind", ["close", "equal"])
def test_an_opaque_student_object_never_matches_a_number(kind):
    class Thing:
        def __eq__(self, other):
            return True

    assert not verdict(1.0, Thing(), kind=kind).ok


def test_values_computed_on_a_gpu_get_the_gpu_tolerances():
    from autograder.wire.values import Array

    expected = Array(np.array([1000.0], dtype=np.float32), "torch.float32", "tensor", "cpu")
    on_cpu = Array(np.array([1000.005], dtype=np.float32), "torch.float32", "tensor", "cpu")
    on_gpu = Array(np.array([1000.005], dtype=np.float32), "torch.float32", "tensor", "cuda")
    assert not compare(expected, on_cpu).ok
    assert compare(expected, on_gpu).ok


def test_a_literal_expected_value_is_held_to_the_precision_of_the_computation_it_stands_for():
    """`expected=0.61480004` is a Python float (float64), but the reference computes the same call in float32:
    a correct float32 answer summed in another order passes; a wrong one still fails. Both dtypes come from
    the reference's record, never from the student's value."""
    import torch

    from autograder.grading.scoring import _verdict
    from autograder.wire import values
    from autograder.wire.protocol import CheckRecord

    def reference(literal, computed):
        return CheckRecord("loss", expected=values.encode(literal), has_expected=True, value=values.encode(computed))

    def student(value):
        return CheckRecord("loss", value=values.encode(value))

    want = reference(0.61480004, torch.tensor(0.61480004, dtype=torch.float32))
    assert _verdict(want, student(torch.tensor(0.61480004) + 3e-7))[0]
    assert not _verdict(want, student(torch.tensor(0.6149)))[0]
    float64_computation = reference(0.5, 0.5)
    assert not _verdict(float64_computation, student(torch.tensor(0.5 + 5e-6, dtype=torch.float64)))[0]


def _message(expected, actual, **options):
    from autograder.wire import values
    from autograder.wire.compare import Options, compare

    verdict = compare(values.decode(values.encode(expected)), values.decode(values.encode(actual)), Options(**options))
    assert not verdict.ok
    return verdict.message


def test_a_small_array_shows_expected_and_got_whole():
    message = _message(np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[1.0, 2.0], [3.0, 5.0]]))
    assert "expected [[1.0, 2.0], [3.0, 4.0]], got [[1.0, 2.0], [3.0, 5.0]]" in message
    assert "first mismatch at index (1, 1): expected 4, got 5" in message


def test_nan_is_said_in_words_never_as_a_difference_of_nan():
    assert _message(float("nan"), 0.5) == "expected NaN, got 0.5"
    assert _message(0.5, float("nan")) == "expected 0.5, got NaN"
    only_nan = _message(np.array([1.0, np.nan]), np.array([1.0, 2.0]))
    assert "1 element(s) NaN on one side only" in only_nan and "nan" not in only_nan.replace("[1.0, nan]", "")
    assert "greatest" not in only_nan


def test_equal_zeros_are_not_a_relative_difference_of_nan():
    message = _message(np.array([0.0, 0.0, 1.0]), np.array([0.0, 0.0, 2.0]))
    assert "nan" not in message and "greatest relative difference: 1 at index (2,)" in message


def test_booleans_are_printed_as_true_and_false():
    assert _message(True, False, kind="equal") == "expected True, got False"
    assert "expected False, got True" in _message(np.array([True, False]), np.array([True, True]), kind="equal")


def test_a_float_written_in_the_notebook_holds_a_float32_answer_to_float32s_tolerance_in_the_students_session():
    """`ag.check` against a visible ``expected=0.26894142`` literal: the literal states a value, not float64's
    precision. A float32 answer a few ulps away passes in the student's session, as it passes at grading
    against the float32 reference; against a record (``written=False``) the reference's dtype alone decides."""
    exact = 1 / (1 + np.exp(1.0))
    answer = np.float32(exact * (1 + 1e-6))  # a float32 answer computed in another order, a few ulps away
    literal, got = decode(encode(exact)), decode(encode(answer))
    assert compare(literal, got, Options("close"), written=True).ok
    strict = compare(literal, got, Options("close"))
    assert not strict.ok and "compared at float64's tolerance" in strict.message
    wrong = compare(literal, decode(encode(np.float32(exact * 1.001))), Options("close"), written=True)
    assert not wrong.ok and "float64" not in wrong.message  # no claim that the literal asked for float64
    half = compare(literal, decode(encode(np.float16(exact))), Options("close"), written=True)
    assert not half.ok and "your value is float16: compared at float32's tolerance" in half.message
    assert not compare(literal, decode(encode(np.float64(exact) * (1 + 1e-6))), Options("close"), written=True).ok  # float64 stays float64
