"""Red team, round 3: attacks found on the trusted side of the boundary, each closed as a class.

Each test is one attack, written as the specification the fix meets: what a student's value or file may
cost (its own check, its own row) and what it may never cost (the grader's run, another student's grade).
The end-to-end tests grade on the toy course of conftest.py, on one worker, the attack before an honest
student, so that what an attack leaves in the worker is seen by the honest run.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from autograder.course import Course
from autograder.course.submissions import discover
from autograder.grading.batch import grade_batch
from autograder.grading.plan import build_plan
from autograder.results.gradebook import Gradebook
from autograder.sandbox.launch import Framer
from autograder.sandbox.limits import Limits
from autograder.wire import values
from autograder.wire.compare import compare
from conftest import CORRECT, build_toy_course, hand_in, student_version

LIMITS = Limits(cell_timeout=8, total_timeout=120, memory=512 * 2**20, processes=64, file_size=8 * 2**20)


def _nested(depth: int, leaf) -> object:
    for _ in range(depth):
        leaf = {"$": "list", "items": [leaf]}
    return leaf


# ------------------------------------------------------------------------ values that break the grader


@pytest.mark.parametrize("data", [
    {"$": "tensor"},  # no payload: KeyError
    {"$": "ndarray", "npy": 5},
    {"$": "float", "value": [1]},  # TypeError
    {"$": "float", "value": "x"},  # ValueError
    {"$": "dataframe", "columns": [], "index": [], "dtypes": 5, "data": []},
    {"$": "series"},  # no fields at all
    {"$": "dict", "items": [[[{"$": "dict", "items": []}], 1]]},  # an unhashable key
    {"$": "module", "layers": [], "state_dict": {"$": "tensor"}},
    {"$": ["list"]},
    _nested(5000, 1.0),  # deeper than the interpreter's recursion limit
], ids=["tensor_without_payload", "payload_not_text", "float_of_a_list", "float_of_text", "dtypes_not_a_list",
        "series_without_fields", "unhashable_key", "module_without_payload", "tag_a_list", "nested_5000_deep"])
def test_a_malformed_value_is_a_decode_error_never_another_exception(data):
    """A record's value may be forged (the notebook can call the recorder or replace the encoder): whatever it
    holds, reading it fails that check ("could not be read"), never the grader (before: KeyError, TypeError,
    RecursionError out of `decode`, a `grader_error` row on every run)."""
    with pytest.raises(values.DecodeError):
        values.decode(data)


def test_values_nested_deeper_than_the_limit_are_refused_by_both_sides():
    deep = []
    for _ in range(values.MAX_DEPTH + 1):
        deep = [deep]
    with pytest.raises(values.EncodeError, match="nested more than"):
        values.encode(deep)
    with pytest.raises(values.DecodeError, match="nested more than"):
        values.decode(_nested(values.MAX_DEPTH + 5, 1.0))
    fits = []
    for _ in range(values.MAX_DEPTH - 1):
        fits = [fits]
    assert values.decode(values.encode(fits)) == fits


@pytest.mark.parametrize("recursion_limit", [1000, 20_000])
def test_a_json_line_nested_3000_deep_never_escapes_as_an_exception(recursion_limit):
    """Only a notebook writing around the encoder can send this line. Under Python's default recursion limit the
    grader's JSON parser raises RecursionError (not ValueError) on it, and the line voids the attempt like any
    malformed event. Where the grader's process runs with a higher limit (a library raised it; the full suite
    does), the line parses and its value is refused by `decode` (`values.MAX_DEPTH`): that check fails."""
    import sys

    deep = '{"$": "list", "items": [' * 3000 + "1.0" + "]}" * 3000
    line = ('{"event": "check", "index": 3, "record": {"name": "x", "value": ' + deep + "}}").encode()
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(recursion_limit)
    try:
        [(_, event, _)] = Framer().feed(line + b"\n", 0.0)
    finally:
        sys.setrecursionlimit(before)
    if recursion_limit == 1000:
        assert event is None
    else:
        with pytest.raises(values.DecodeError, match="nested more than"):
            values.decode(event.record.value)


def test_a_dataframe_whose_parts_disagree_is_a_decode_error():
    """A DataFrame subclass that names a pandas module is encoded as a DataFrame, asking its own (lying)
    ``dtypes``: the grader's comparison then indexed an empty list of dtypes with the columns' positions,
    IndexError, a `grader_error` row on every run."""
    import pandas as pd

    class Lying(pd.DataFrame):
        @property
        def dtypes(self):
            return pd.Series([], dtype=object)

    Lying.__module__ = "pandas.core.frame"
    sent = values.encode(Lying({"a": [1.0, 2.0]}))
    assert sent["dtypes"] == []
    with pytest.raises(values.DecodeError, match="do not agree"):
        values.decode(sent)
    honest = values.decode(values.encode(pd.DataFrame({"a": [1.0, 2.0], "b": ["x", None]})))
    assert compare(honest, values.decode(values.encode(pd.DataFrame({"a": [1.0, 2.0], "b": ["x", None]})))).ok


def test_a_notebook_file_nested_too_deeply_to_parse_is_an_invalid_row(tmp_path):
    """Before: RecursionError out of `json.loads`, a `grader_error` row (exit status 1) on every run."""
    from autograder.grading.submission import Invalid, read_notebook

    path = tmp_path / "toy.ipynb"
    path.write_text('{"cells": [], "metadata": {"deep": ' + "[" * 50_000 + "]" * 50_000 + '}, "nbformat": 4, "nbformat_minor": 5}')
    with pytest.raises(Invalid, match="nested too deeply"):
        read_notebook(path)


# ------------------------------------------------------------------------ comparisons that pass wrong answers


def _encoded(value):
    return values.decode(values.encode(value))


@pytest.mark.parametrize("student", [np.zeros((3, 3), np.float32), np.full((3, 3), 1e30, np.float32),
                                     np.triu(np.full((3, 3), np.inf, np.float32), k=1)],
                         ids=["zeros", "huge_finite", "plus_inf"])
def test_an_infinite_expected_element_is_matched_only_by_the_same_infinity(student):
    """A causal attention mask (-inf above the diagonal, 0 elsewhere) answered with zeros passed: for an
    infinite expected element the allowed difference ``atol + rtol * |inf|`` is inf, and ``inf <= inf``."""
    mask = np.triu(np.full((3, 3), -np.inf, np.float32), k=1)
    verdict = compare(_encoded(mask), _encoded(student))
    assert not verdict.ok
    assert compare(_encoded(mask), _encoded(mask.copy())).ok  # the right answer still passes
    assert not compare(_encoded(float("inf")), _encoded(0.0)).ok  # and the scalar path holds too
    assert compare(_encoded(float("-inf")), _encoded(float("-inf"))).ok


# ------------------------------------------------------------------------------- end to end, one worker


@pytest.fixture(scope="module")
def toy_course(tmp_path_factory):
    return build_toy_course(tmp_path_factory.mktemp("redteam") / "course")


def grade_one_worker(root, submissions_dir, attacks: dict[str, dict[str, str]]) -> dict:
    """Grades each attack (its answers over the correct ones) and then an honest student, on one worker."""
    for name, answers in attacks.items():
        hand_in(submissions_dir, name, student_version(root, {**CORRECT, **answers}))
    hand_in(submissions_dir, "zz_honest", student_version(root, CORRECT))  # graded last: discovery sorts ids
    assignment = Course.at(root).assignment("toy")
    with Gradebook(f"sqlite:///{submissions_dir / 'gradebook.db'}") as gradebook:
        summary = grade_batch(build_plan(assignment, LIMITS), discover(submissions_dir, assignment), gradebook, workers=1)
    return {s.student_id: s for s in summary.graded}


FULL = {"double_test": 2, "mean_rows_test": 1, "half_test": 1, "explain": 0}


@pytest.mark.slow
def test_a_value_nested_hundreds_deep_costs_only_its_own_check(toy_course, tmp_path):
    """Before: both submissions were `grader_error` rows (RecursionError in the grader's JSON parser), every
    run graded them again and exited 1, and their right answers scored nothing."""
    graded = grade_one_worker(toy_course, tmp_path / "submitted", {
        "deep_with_raised_limit": {"half": "import sys\nsys.setrecursionlimit(100000)\nanswer_half = []\n"
                                           "for _ in range(5000):\n    answer_half = [answer_half]"},
        "deep_within_the_limit": {"half": "answer_half = []\nfor _ in range(700):\n    answer_half = [answer_half]"},
    })
    for student in ("deep_with_raised_limit", "deep_within_the_limit"):
        row = graded[student]
        assert row.status == "ok", (row.status, row.message)
        scores = {r.question: r.score for r in row.results}
        assert scores == {**FULL, "half_test": 0}
        assert "nested more than 100 containers deep" in next(r.message for r in row.results if r.question == "half_test")
    assert {r.question: r.score for r in graded["zz_honest"].results} == FULL


#: Everything a run might leave for the next run on its worker: files wherever it can write (the sandbox's
#: /tmp and /dev/shm, the warm worker's home, the scratch root, site-packages), a directory it locked, a
#: changed environment, an ignored alarm, an atexit hook and a detached process that writes later.
LEAVES_EVERYTHING = CORRECT["double"] + "\n" + r'''import os, sys, atexit, signal, subprocess, pathlib
scratch = pathlib.Path(os.getcwd()).parent
poison = "import numpy as np\nnp.asarray = lambda *a, **k: np.zeros(3)\n"
for target in [scratch / ".home" / ".ipython" / "profile_default" / "startup" / "00-poison.py",
               scratch / ".home" / ".matplotlib" / "matplotlibrc", scratch / "sitecustomize.py",
               pathlib.Path("/tmp/sitecustomize.py"), pathlib.Path("/dev/shm/poison.py"),
               pathlib.Path(sys.prefix) / "lib" / "python3.11" / "site-packages" / "zz-poison.pth", pathlib.Path("/var/tmp/poison.py")]:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(poison)
    except OSError:
        pass
os.environ["PYTHONSTARTUP"] = "/tmp/sitecustomize.py"
signal.signal(signal.SIGALRM, signal.SIG_IGN)
atexit.register(lambda: open("/tmp/atexit-ran", "w").write("x"))
subprocess.Popen(["setsid", "sh", "-c", "sleep 2; touch /tmp/late /dev/shm/late"], start_new_session=True)
os.makedirs("/tmp/locked/inner", exist_ok=True)
os.chmod("/tmp/locked/inner", 0)
os.chmod("/tmp/locked", 0)'''

#: The next student on the worker, answering right, and saying in an error of its own setup-free cell what it finds.
OBSERVES = r'''import os, time
time.sleep(3)  # after the detached process of the run before would have written
left = sorted(p for p in ("/tmp/sitecustomize.py", "/tmp/atexit-ran", "/tmp/late", "/tmp/locked", "/dev/shm/poison.py",
                          "/dev/shm/late", "/var/tmp/poison.py") if os.path.lexists(p))
raise Exception(f"left over: {left}; PYTHONSTARTUP={os.environ.get('PYTHONSTARTUP')}")'''


@pytest.mark.slow
def test_what_a_run_leaves_behind_never_reaches_the_next_student_on_its_worker(toy_course, tmp_path):
    """One worker: the attacker, then a student who looks for its leftovers, then an honest student. Found
    nothing to close (the sandbox's /tmp and /dev/shm are emptied, nothing else is writable, every process
    of a run is killed with it); this pins it."""
    graded = grade_one_worker(toy_course, tmp_path / "submitted", {
        "a_leaves_everything": {"double": LEAVES_EVERYTHING},
        "b_observes": {"double": CORRECT["double"] + "\n" + OBSERVES},
    })
    auto = {q: p for q, p in FULL.items() if q != "explain"}  # the hand-graded answer is not the point here
    assert {r.question: r.score for r in graded["a_leaves_everything"].results if r.question in auto} == auto
    observer = graded["b_observes"]
    assert "left over: []; PYTHONSTARTUP=None" in observer.message, observer.message
    assert {r.question: r.score for r in observer.results if r.question in auto} == auto
    assert graded["zz_honest"].status == "ok" and {r.question: r.score for r in graded["zz_honest"].results} == FULL


def test_a_value_that_claims_a_gpu_is_compared_at_the_tolerance_of_the_device_it_ran_on():
    """A tensor subclass whose ``device`` says cuda got the GPU's float32 tolerance (rtol 1e-5 instead of
    1.3e-6) on a grader that ran it on the CPU: an answer 5e-6 off passed. The grader now passes the device it
    ran the notebook on (`score_notebook(..., device)`), and a claim cannot change it."""
    import torch

    from autograder.grading.scoring import _verdict
    from autograder.wire.protocol import CheckRecord

    class OnGpu(torch.Tensor):
        @property
        def device(self):
            return torch.device("cuda")

    x = torch.linspace(100, 200, 8)
    reference = CheckRecord("scale.random", value=values.encode(x))
    off = CheckRecord("scale.random", value=values.encode((x * (1 + 5e-6)).as_subclass(OnGpu)))
    assert off.value["device"] == "cuda"  # the claim crosses the boundary as written
    assert not _verdict(reference, off, device="cpu")[0]
    assert _verdict(reference, off, device="cuda")[0]  # where a GPU really ran it, its tolerance applies
    right = CheckRecord("scale.random", value=values.encode((x * (1 + 5e-7)).as_subclass(OnGpu)))
    assert _verdict(reference, right, device="cpu")[0]



@pytest.mark.parametrize("student", [math.factorial(25) + 1, math.factorial(25) + 10**9], ids=["plus_one", "plus_a_billion"])
def test_an_integer_past_int64_is_compared_exactly(student):
    """Python ints past int64 travel as object arrays and were compared as float64s: ``check_equal`` of
    factorial(25) passed factorial(25) + 10**9 (and 2**63 - 1 passed for 2**63)."""
    from autograder.wire.compare import Options

    expected = _encoded(math.factorial(25))
    for options in (Options("equal"), Options("close")):
        assert not compare(expected, _encoded(student), options).ok
        assert not compare(_encoded([math.factorial(25), 2]), _encoded([student, 2]), options).ok
        assert compare(expected, _encoded(math.factorial(25)), options).ok
        assert compare(expected, _encoded(float(math.factorial(25))), options).ok  # a float answer: as for any int, as before
    assert not compare(_encoded(2**63), _encoded(2**63 - 1), Options("equal")).ok


def test_a_check_announcing_a_million_empty_frames_is_refused_at_once():
    """A line written on the channel (the notebook can find its descriptor) announcing 1,000,000 zero-byte
    frames: the framer popped each size from the front of the list, quadratic, about 90 s of the grading
    thread for 2 MB (hours for the 200 MB the channel allows), before the order check could void it."""
    import time

    line = ('{"event": "check", "index": 3, "blobs": [' + ",".join(["0"] * 1_000_000) + '], "record": {"name": "x", "value": 1}}\n').encode()
    started = time.monotonic()
    [(_, event, _)] = Framer().feed(line, 0.0)
    assert event is None and time.monotonic() - started < 15


def test_frames_of_an_honest_check_arrive_in_order():
    from autograder.wire.protocol import CheckEvent, CheckRecord

    arrays = [np.full(20_000 * (k + 1), k, dtype=np.float64) for k in range(3)]  # 160, 320, 480 kB: three frames
    with values.collect_blobs() as blobs:
        encoded = values.encode(arrays)
    event = CheckEvent(3, CheckRecord("big", value=encoded, blobs=tuple(bytes(b) for b in blobs)))
    data = (json.dumps(event.to_json()) + "\n").encode() + b"".join(event.record.blobs)
    framer, done = Framer(), []
    for start in range(0, len(data), 100_000):  # in pieces, as a pipe delivers them
        done += framer.feed(data[start:start + 100_000], 0.0)
    [(_, received, _)] = done
    decoded = values.decode(received.record.value)
    assert [a.data.tolist() == b.tolist() for a, b in zip(decoded, arrays)] == [True, True, True]


@pytest.mark.slow
def test_a_flood_of_check_records_voids_the_attempt_and_spares_the_next_student(toy_course, tmp_path, monkeypatch):
    """Before: any number of records was parsed and kept by the grader, uncharged to the cell (512 MB of tiny
    records: about 2.4 million, 2 GB of the grader's memory). The cap is lowered here so the flood is small."""
    from autograder.sandbox import launch

    monkeypatch.setattr(launch, "MAX_CHECK_RECORDS", 1000, raising=False)
    flood = ("def double(x):\n    from autograder import checks as c\n    for i in range(2000):\n"
             "        c.check_close(f'junk.{i}', 0.0)\n    return np.asarray(x, dtype=float) * 2")
    graded = grade_one_worker(toy_course, tmp_path / "submitted", {"floods_records": {"double": flood}})
    row = graded["floods_records"]
    assert row.status == "error" and "more than 1000 check records" in row.message, (row.status, row.message)
    assert sum(r.score or 0 for r in row.results) == 0
    assert {r.question: r.score for r in graded["zz_honest"].results} == FULL
