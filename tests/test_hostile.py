"""Hostile and broken submissions cost only themselves (see docs/security.md for the table of attacks).

Every attack is a real submission, graded end to end: on the toy course of conftest.py (checks compared
with the reference outside the student's process) and on a small nbgrader-style course whose test cells
are plain asserts. Each hostile submission's honest answers are wrong, so any point it earns is a forged
one; the crashing submissions answer the other questions right, so they must keep those points.
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_notebook

from autograder.course import Course
from autograder.grading.plan import build_plan
from autograder.course.submissions import discover
from autograder.grading.batch import grade_batch
from autograder.results.gradebook import Gradebook
from autograder.prepare.publish import release_assignment
from autograder.sandbox.limits import Limits
from autograder.sandbox.confine import Confinement
from conftest import CORRECT, build_toy_course, hand_in, nbgrader_cell, student_version

pytestmark = pytest.mark.slow  # each module fixture grades a whole batch once

CONFINEMENT = Confinement.detect()
WRONG = {
    "double": "def double(x):\n    return 3 * np.asarray(x, dtype=float)",
    "mean_rows": "def mean_rows(a):\n    return np.asarray(a, dtype=float).mean(axis=0)",
    "half": "answer_half = 0.4",
}
# 256 MiB, not more: the memory hog must reach the limit well inside the 8 s a cell may run, and on a machine where
# a page fault is slow (6.8 s to fill 1 GiB with np.ones on the 2-core box CI runs on) a 1 GiB hog ran out of time first
LIMITS = Limits(cell_timeout=8, total_timeout=180, memory=256 * 2**20, processes=64, file_size=8 * 2**20)
PLAIN_LIMITS = Limits(cell_timeout=8, total_timeout=180, memory=3 * 2**30, processes=64, file_size=8 * 2**20)  # torch


def with_prefix(prefix: str, answers: dict[str, str]) -> dict[str, str]:
    """The attack goes in the first answer cell, before the (wrong) answer itself."""
    first, *_ = answers
    return {**answers, first: prefix + "\n" + answers[first]}


# ------------------------------------------------------------------------------------------- check mode


def _channel_forgery(events: str) -> str:
    return (
        "import os, json\n"
        "for fd in range(3, 64):\n"
        "    try:\n"
        "        if os.path.basename(os.readlink(f'/proc/self/fd/{fd}')).startswith('pipe:') and os.fstat(fd).st_mode & 0o200:\n"
        f"            os.write(fd, {events!r}.encode())\n"
        "    except OSError:\n"
        "        pass\n"
    )


TOY_ATTACKS = {
    "patches_numpy_and_math": with_prefix(
        "import math\nnp.allclose = lambda *a, **k: True\nnp.array_equal = lambda *a, **k: True\n"
        "np.testing.assert_allclose = lambda *a, **k: None\nmath.isclose = lambda *a, **k: True", WRONG),
    "patches_the_check_api": with_prefix(
        "import autograder.sandbox.inside.checks as c\nc._install('local', None)\nc._recorder = None\n"
        "c.check_close = lambda *a, **k: None\nc.check_equal = lambda *a, **k: None\nag.check_close = c.check_close", WRONG),
    "patches_the_check_api_from_inside_the_test": {
        **WRONG, "double": "def double(x):\n    import autograder.sandbox.inside.checks as c\n    c._mode = 'local'\n    return 3 * np.asarray(x, dtype=float)"},
    "records_forged_values": {
        **WRONG, "double": "def double(x):\n    import autograder.sandbox.inside.checks as c\n    c._recorder({'name': 'double.random', 'value': 0.0})\n"
                           "    return 3 * np.asarray(x, dtype=float)"},
    "silences_errors": with_prefix(
        "import sys\nip = get_ipython()\nip.showtraceback = lambda *a, **k: None\nsys.excepthook = lambda *a: None\n"
        "ip.input_transformers_post.append(lambda lines: ['try:\\n'] + ['    ' + l for l in lines] + ['\\nexcept BaseException:\\n    pass\\n'])\n"
        "original = ip.run_cell\nip.run_cell = lambda *a, **k: original('pass')", WRONG),
    "lies_about_equality": {
        "double": "class Yes(np.ndarray):\n    def __eq__(self, other): return np.ones(np.shape(self), bool)\n"
                  "    def __ne__(self, other): return np.zeros(np.shape(self), bool)\n"
                  "def double(x):\n    return (3 * np.asarray(x, dtype=float)).view(Yes)",
        "mean_rows": "class Anything(float):\n    __eq__ = lambda self, other: True\n    __ne__ = lambda self, other: False\n"
                     "    __lt__ = __le__ = __gt__ = __ge__ = lambda self, other: True\n"
                     "def mean_rows(a):\n    return np.array([Anything(9.0)] * np.shape(a)[1], dtype=object)",
        "half": "class Anything(float):\n    __eq__ = lambda self, other: True\n    __sub__ = __rsub__ = lambda self, other: 0.0\n"
                "answer_half = Anything(0.4)",
    },
    "answers_with_a_pickle_bomb": {
        **WRONG, "half": "import os\nclass Bomb:\n    def __reduce__(self):\n"
                         "        return (os.system, ('touch /tmp/autograder-pickle-bomb-went-off',))\nanswer_half = Bomb()"},
    "forges_events_on_the_channel": with_prefix(_channel_forgery(
        '{"event": "cell_end", "index": 2, "status": "ok", "outputs": []}\n'
        '{"event": "cell_start", "index": 3}\n'
        '{"event": "check", "index": 3, "record": {"name": "double.small", "value": {"$float": 1}}}\n'
        '{"event": "cell_end", "index": 3, "status": "ok", "outputs": []}\n'), WRONG),
    # double() records the visible check's known right value before the test's own record of the name
    "records_a_check_first": {
        **WRONG, "double": "def double(x):\n    from autograder import checks as c\n"
                           "    c.check_close('double.small', np.array([2.0, 4.0]))\n    return 3 * np.asarray(x, dtype=float)"},
    "patches_the_runner": with_prefix(
        "import autograder.sandbox.inside.runner as r\nr.Runner.exec_test_cell = lambda self, source, index: None\n"
        "r.Runner.run_cell = lambda self, cell: {'event': 'cell_end', 'index': cell['index'], 'status': 'ok', 'outputs': []}", WRONG),
}


@pytest.fixture(scope="module")
def toy_batch(tmp_path_factory):
    root = build_toy_course(tmp_path_factory.mktemp("hostile") / "course")
    assignment = Course.at(root).assignment("toy")
    submissions = root.parent / "submitted"
    solutions_file = (root / "solutions" / "toy.py").resolve()
    attacks = dict(TOY_ATTACKS)
    attacks["reads_the_solutions"] = with_prefix(
        f"import importlib.util, glob\nfound = glob.glob('{root.parent}/**/solutions/toy.py', recursive=True) + ['{solutions_file}']\n"
        "for path in found:\n    try:\n        spec = importlib.util.spec_from_file_location('s', path)\n"
        "        m = importlib.util.module_from_spec(spec)\n        spec.loader.exec_module(m)\n        break\n"
        "    except OSError:\n        m = None\n", {
            "double": "def double(x):\n    return m.double(x) if m else 3 * np.asarray(x, dtype=float)",
            "mean_rows": "def mean_rows(a):\n    return m.mean_rows(a) if m else np.asarray(a, dtype=float).mean(axis=0)",
            "half": "answer_half = m.answer_half if m else 0.4"})
    attacks["imports_the_solutions_package"] = with_prefix(
        f"import sys\nsys.path[:0] = ['{root}', '{root.parent}', '../..', '../../..']\n"
        "try:\n    import solutions.toy as m\nexcept ImportError:\n    m = None\n", attacks["reads_the_solutions"] | {"double": (
            "def double(x):\n    return m.double(x) if m else 3 * np.asarray(x, dtype=float)")})
    for name, answers in attacks.items():
        hand_in(submissions, name, student_version(root, answers))
    # crashes: the attack replaces one answer; the other questions are answered right and must keep their points
    token = random.randrange(10**8, 10**9)
    crashes = {
        "os_exit": "import os\nos._exit(3)",
        "segfault": "import ctypes\nctypes.string_at(0)",
        "sys_exit": "import sys\nsys.exit(1)",
        "kernel_death": "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
        "endless_loop": "while True:\n    pass",
        "endless_loop_ignoring_alarms": "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    pass",
        "memory_hog": "hog = np.ones(2**30)",
        "fork_storm": "import os\nwhile True:\n    os.fork()",
        "huge_print": "for _ in range(300):\n    print('x' * 1_000_000)",  # 300 MB of output from little memory
        "huge_file": "open('big.bin', 'wb').write(b'0' * (64 * 2**20))",
        "leaves_a_daemon": (f"import subprocess\nsubprocess.Popen(['setsid', 'sh', '-c', 'sleep {token}'], start_new_session=True)\n"
                            f"subprocess.Popen(['sh', '-c', '(sleep {token + 1} &) ; exit'])"),
    }
    for name, attack in crashes.items():
        hand_in(submissions, name, student_version(root, {**CORRECT, "mean_rows": attack}))
    hand_in(submissions, "correct", student_version(root, CORRECT))
    hand_in(submissions, "wrong", student_version(root, WRONG))
    _hand_in_broken_files(submissions, root)
    plan = build_plan(assignment, LIMITS)
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        started = time.monotonic()
        summary = grade_batch(plan, discover(submissions, assignment), gradebook, workers=2)
        seconds = time.monotonic() - started
    return {s.student_id: s for s in summary.graded}, seconds, token


def _hand_in_broken_files(submissions: Path, root: Path) -> None:
    v3 = nbformat.convert(student_version(root, CORRECT), 3)
    folder = submissions / "old_nbformat_v3"
    folder.mkdir(parents=True)
    nbformat.write(v3, folder / "toy.ipynb", version=3)
    big = json.loads(nbformat.writes(student_version(root, CORRECT)))
    big["cells"][0]["source"] = "x" * (100 * 2**20)
    hand_in(submissions, "hundred_megabytes", json.dumps(big).encode())
    hand_in(submissions, "non_utf8", nbformat.writes(student_version(root, CORRECT)).encode("utf-16"))
    hand_in(submissions, "another_assignment", new_notebook(cells=[nbgrader_cell("answer", "x = 1", "other_question")]))
    (submissions / "directory_instead" / "toy.ipynb").mkdir(parents=True)
    hand_in(submissions, "not_json", b"\x89PNG\r\n\x1a\n")


def points(graded, student) -> dict[str, float]:
    return {r.question: r.score for r in graded[student].results}


def total(graded, student) -> float:
    return sum(r.score or 0 for r in graded[student].results)


HIDDEN_FILES = pytest.mark.skipif(
    CONFINEMENT.bwrap is None and not CONFINEMENT.separate_uid,
    reason="without bubblewrap and without a separate uid the course files are readable by student code: " + "; ".join(CONFINEMENT.why_not))


@pytest.mark.parametrize("student", sorted(TOY_ATTACKS) + [pytest.param(s, marks=HIDDEN_FILES) for s in ("reads_the_solutions", "imports_the_solutions_package")])
def test_a_hostile_submission_earns_nothing_its_wrong_answers_did_not(toy_batch, student):
    graded, _, _ = toy_batch
    honest = points(graded, "wrong")  # the wrong answers earn a little on their own (double([]) is right)
    assert points(graded, "correct") == {"double_test": 2, "mean_rows_test": 1, "half_test": 1, "explain": 0}
    earned = points(graded, student)
    assert all((earned[q] or 0) <= honest[q] for q in honest), (graded[student].status, graded[student].message, earned)


def test_a_check_recorded_twice_fails_and_flags_the_submission(toy_batch):
    graded, _, _ = toy_batch
    forger = graded["records_a_check_first"]
    double = next(r for r in forger.results if r.question == "double_test")
    small = next(c for c in double.checks if c["name"] == "double.small")
    assert not small["passed"] and "recorded" in small["message"]
    assert any(note.startswith("flagged for review: duplicate check record 'double.small'") for note in forger.notes), forger.notes
    assert "flagged for review" in forger.message
    assert not any("flagged" in note for note in graded["wrong"].notes), "an honest submission is never flagged"


def test_the_pickle_bomb_is_never_unpickled(toy_batch):
    graded, _, _ = toy_batch
    assert not Path("/tmp/autograder-pickle-bomb-went-off").exists()
    half = next(r for r in graded["answers_with_a_pickle_bomb"].results if r.question == "half_test")
    assert half.score == 0 and "got an object of type Bomb" in half.message


def test_forged_events_void_the_run_and_say_why(toy_batch):
    graded, _, _ = toy_batch
    forged = graded["forges_events_on_the_channel"]
    assert forged.status == "error" and "wrote on the grader's channel" in forged.message


@pytest.mark.skipif(CONFINEMENT.bwrap is None, reason="bubblewrap is not usable here: " + "; ".join(CONFINEMENT.why_not))
def test_in_bubblewrap_the_course_directory_is_not_even_visible(toy_batch):
    graded, _, _ = toy_batch
    # the attack could not open solutions/toy.py; its wrong fallback answers scored as wrong answers
    assert graded["reads_the_solutions"].status == "ok"


CRASHES = ["os_exit", "segfault", "sys_exit", "kernel_death", "endless_loop", "endless_loop_ignoring_alarms",
           "memory_hog", "fork_storm", "huge_print", "huge_file", "leaves_a_daemon"]


@pytest.mark.parametrize("student", CRASHES)
def test_a_crash_costs_only_its_own_question(toy_batch, student):
    graded, _, _ = toy_batch
    scores = points(graded, student)
    assert scores["double_test"] == 2 and scores["half_test"] == 1, (graded[student].status, graded[student].message, scores)
    if student not in ("huge_print", "huge_file", "leaves_a_daemon"):
        assert scores["mean_rows_test"] == 0


def test_a_crash_says_what_happened(toy_batch):
    graded, _, _ = toy_batch
    assert "exited with code 3" in graded["os_exit"].message
    assert "SIGSEGV" in graded["segfault"].message
    assert "SIGKILL" in graded["kernel_death"].message or "memory" in graded["kernel_death"].message
    assert "ran longer than 8 s" in graded["endless_loop_ignoring_alarms"].message
    hog = graded["memory_hog"].message
    assert "more than 256 MiB of memory" in hog or "MemoryError" in hog, hog


def test_no_process_a_submission_started_outlives_its_grading(toy_batch):
    _, _, token = toy_batch
    leftovers = []
    for entry in os.listdir("/proc"):
        try:
            command = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, UnicodeDecodeError):
            continue
        if str(token) in command or str(token + 1) in command:
            leftovers.append(command)
    assert leftovers == []


def test_the_batch_finishes_in_bounded_time(toy_batch):
    graded, seconds, _ = toy_batch
    assert len(graded) == len(TOY_ATTACKS) + 2 + 11 + 2 + 6
    assert seconds < 600


# ------------------------------------------------------------------- check_metric and dtypes (issue 12)

NET_SOLUTIONS = """
import torch


def scale(x):
    return 2 * x


def _honest():
    model = torch.nn.Sequential(torch.nn.Linear(256, 2))
    with torch.no_grad():
        model[0].weight.zero_()
        model[0].weight[0, 0], model[0].weight[1, 0] = -1.0, 1.0
        model[0].bias.zero_()
    return model


model = _honest()


def heldout_accuracy(model):
    generator = torch.Generator().manual_seed(4321)
    x = torch.randn(2000, 256, generator=generator)
    y = (x[:, 0] > 0).long()
    with torch.no_grad():
        return float((model(x).argmax(dim=1) == y).float().mean())
"""

HONEST_MODEL = ("model = torch.nn.Sequential(torch.nn.Linear(256, 2))\nwith torch.no_grad():\n"
                "    model[0].weight.zero_()\n    model[0].weight[0, 0], model[0].weight[1, 0] = -1.0, 1.0\n    model[0].bias.zero_()")
NET_CORRECT = {"model": HONEST_MODEL, "scale": "def scale(x):\n    return x * 2"}
CLAIMS_BFLOAT16 = ("class Claims(torch.Tensor):\n    @property\n    def dtype(self):\n        return torch.bfloat16\n\n"
                   "def scale(x):\n    return (2.02 * x).as_subclass(Claims)")
NET_ATTACKS = {
    # scale: 1 % wrong, within bfloat16's default tolerance (1.6e-2), which the old "looser dtype" rule granted
    "dtype_bfloat16": {**NET_CORRECT, "scale": "def scale(x):\n    return (2.02 * x).to(torch.bfloat16)"},
    "dtype_float16": {**NET_CORRECT, "scale": "def scale(x):\n    return (2.0008 * x).to(torch.float16)"},  # within 1e-3
    "dtype_claims_bfloat16": {**NET_CORRECT, "scale": CLAIMS_BFLOAT16},
    # model: four Linear layers that print as Linear(16000, 16000) (4 GiB if believed) around tiny real weights
    "lies_about_its_size": {**NET_CORRECT, "model": (
        "model = torch.nn.Sequential(torch.nn.Linear(256, 4), torch.nn.Linear(4, 4), torch.nn.Linear(4, 4), torch.nn.Linear(4, 2))\n"
        "with torch.no_grad():\n    for layer in model:\n        layer.weight.zero_()\n        layer.bias.zero_()\n"
        "    model[0].weight[0, 0], model[0].weight[1, 0] = -1.0, 1.0\n"
        "    model[1].weight.copy_(torch.eye(4))\n    model[2].weight.copy_(torch.eye(4))\n    model[3].weight[0, 0] = model[3].weight[1, 1] = 1.0\n"
        "for layer in model:\n    layer.in_features = layer.out_features = 16000")},
    # 4.2 M real weights (16.8 MB), over this batch's NET_MAX_PARAMETERS (the real cap, 25 M weights, is refused
    # the same way: tests/test_metric.py; a 100 MB model does not even cross the channel, see docs/security.md)
    "over_the_weight_cap": {**NET_CORRECT, "model": (
        "model = torch.nn.Sequential(torch.nn.Linear(256, 16384, bias=False), torch.nn.Linear(16384, 2, bias=False))")},
    # a legitimate stack of standard layers: 3.5 M weights, about 3.6 TFLOP on the held-out set
    "a_compute_heavy_model": {**NET_CORRECT, "model": (
        "layers = [torch.nn.Unflatten(1, (1, 16, 16)), torch.nn.Conv2d(1, 128, 3, padding=1), torch.nn.ReLU()]\n"
        "for _ in range(24):\n    layers += [torch.nn.Conv2d(128, 128, 3, padding=1), torch.nn.ReLU()]\n"
        "model = torch.nn.Sequential(*layers, torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(128, 2))")},
}
NET_SECONDS = 30  # the held-out evaluation's time limit in this batch
NET_MAX_PARAMETERS = 4_000_000  # and its cap on weights


def net_notebook():
    return new_notebook(cells=[
        nbgrader_cell("locked", "import torch\nfrom autograder import checks as ag", "setup"),
        nbgrader_cell("answer", "### BEGIN SOLUTION\n" + HONEST_MODEL + "\n### END SOLUTION", "model"),
        nbgrader_cell("test", "ag.check_metric('model.heldout', model, 'heldout_accuracy', at_least=0.9)", "model_test", points=1),
        nbgrader_cell("answer", "def scale(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION", "scale"),
        nbgrader_cell("test", "ag.check_equal('scale.shape', tuple(scale(torch.ones(2)).shape), expected=(2,))\n"
                      "### BEGIN HIDDEN TESTS\nwith ag.seeded(3):\n    x = torch.randn(50)\n"
                      "ag.check_close('scale.random', scale(x))\n### END HIDDEN TESTS", "scale_test", points=1),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})


@pytest.fixture(scope="module")
def net_batch(tmp_path_factory):
    from autograder.grading import held_out, models

    root = tmp_path_factory.mktemp("hostile_net") / "course"
    (root / "source" / "net").mkdir(parents=True)
    (root / "solutions").mkdir()
    nbformat.write(net_notebook(), root / "source" / "net" / "net.ipynb")
    (root / "solutions" / "net.py").write_text(NET_SOLUTIONS)
    assignment = Course.at(root).assignment("net")
    release_assignment(assignment)
    submissions = root.parent / "submitted"
    for name, answers in {**NET_ATTACKS, "b_correct_after_them": NET_CORRECT}.items():
        hand_in(submissions, name, student_version(root, answers, "net", "net.ipynb"), "net.ipynb")
    limits = Limits(cell_timeout=60, total_timeout=300, memory=3 * 2**30, processes=64, file_size=8 * 2**20)
    plan = build_plan(assignment, limits)
    with pytest.MonkeyPatch.context() as patch, Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        patch.setattr(held_out, "HELD_OUT_SECONDS", NET_SECONDS)
        patch.setattr(models, "MAX_MODEL_PARAMETERS", NET_MAX_PARAMETERS)
        started = time.monotonic()
        summary = grade_batch(plan, discover(submissions, assignment), gradebook, workers=2)
        seconds = time.monotonic() - started
    return {s.student_id: s for s in summary.graded}, seconds


def result(graded, student, question):
    return next(r for r in graded[student].results if r.question == question)


def test_metric_the_honest_student_after_the_hostile_models_gets_full_marks(net_batch):
    graded, seconds = net_batch
    assert points(graded, "b_correct_after_them") == {"model_test": 1, "scale_test": 1}, graded["b_correct_after_them"].results
    assert len(graded) == len(NET_ATTACKS) + 1 and seconds < 600


@pytest.mark.parametrize("student", ["dtype_bfloat16", "dtype_float16", "dtype_claims_bfloat16"])
def test_metric_a_lower_or_claimed_lower_precision_answer_gets_no_looser_tolerance(net_batch, student):
    graded, _ = net_batch
    scale = result(graded, student, "scale_test")
    assert scale.score == 0.5, scale.message  # the visible shape check only
    assert "up to 1.3e-06 allowed" in scale.message
    if student != "dtype_claims_bfloat16":
        assert f"expected float32, got {student.split('_')[1]}: compared at float32's tolerance" in scale.message
    assert result(graded, student, "model_test").score == 1


def test_metric_a_model_that_lies_about_its_size_is_evaluated_on_its_real_shapes(net_batch):
    graded, _ = net_batch
    model = result(graded, "lies_about_its_size", "model_test")
    assert model.score == 1 and model.checks[0]["message"] == "heldout_accuracy = 1", model.checks


def test_metric_a_model_over_the_weight_cap_costs_only_its_check(net_batch):
    graded, _ = net_batch
    model = result(graded, "over_the_weight_cap", "model_test")
    assert model.score == 0 and f"graded models may have at most {NET_MAX_PARAMETERS:,}" in model.message, model.message
    assert result(graded, "over_the_weight_cap", "scale_test").score == 1


def test_metric_a_compute_heavy_model_costs_only_its_check(net_batch):
    graded, _ = net_batch
    model = result(graded, "a_compute_heavy_model", "model_test")
    assert model.score == 0, model.message
    assert f"the model could not be evaluated on held-out data: it took longer than {NET_SECONDS} s" in model.message
    assert result(graded, "a_compute_heavy_model", "scale_test").score == 1


BROKEN = {
    "hundred_megabytes": "MB limit",
    "non_utf8": "not UTF-8",
    "another_assignment": "another assignment",
    "directory_instead": "is a directory",
    "not_json": "not UTF-8",
}


@pytest.mark.parametrize("student", sorted(BROKEN))
def test_a_broken_file_gets_a_row_with_a_clear_message(toy_batch, student):
    graded, _, _ = toy_batch
    assert graded[student].status == "invalid" and BROKEN[student] in graded[student].message
    assert total(graded, student) == 0 and len(graded[student].results) == 4


def test_an_old_nbformat_v3_notebook_is_converted_and_graded(toy_batch):
    graded, _, _ = toy_batch
    assert points(graded, "old_nbformat_v3") == points(graded, "correct")


# ---------------------------------------------------------------------------------- plain-assert mode


def plain_notebook():
    """nbgrader-style: test cells are plain asserts (no checks, no reference module)."""
    return new_notebook(cells=[
        nbgrader_cell("locked", "import math\nimport numpy as np\nimport torch", "setup"),
        nbgrader_cell("answer", "def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION", "add"),
        nbgrader_cell("test", "assert add(1, 2) == 3\n### BEGIN HIDDEN TESTS\nassert add(5, 7) == 12\n### END HIDDEN TESTS", "add_test", points=1),
        nbgrader_cell("answer", "def scale(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION", "scale"),
        nbgrader_cell("test", "assert np.allclose(scale(np.array([1.0, 2.0])), [2.0, 4.0])", "scale_test", points=1),
        nbgrader_cell("answer", "def area(r):\n    ### BEGIN SOLUTION\n    return math.pi * r ** 2\n    ### END SOLUTION", "area"),
        nbgrader_cell("test", "assert math.isclose(area(1.0), math.pi)\nassert abs(area(2.0) - 4 * math.pi) < 1e-9", "area_test", points=1),
        nbgrader_cell("answer", "def relu(t):\n    ### BEGIN SOLUTION\n    return t.clamp(min=0)\n    ### END SOLUTION", "relu"),
        nbgrader_cell("test", "assert torch.equal(relu(torch.tensor([-1.0, 2.0])), torch.tensor([0.0, 2.0]))", "relu_test", points=1),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})


PLAIN_WRONG = {
    "add": "def add(a, b):\n    return a - b",
    "scale": "def scale(x):\n    return 3 * x",
    "area": "def area(r):\n    return 3 * r ** 2",
    "relu": "def relu(t):\n    return t",
}
PLAIN_ATTACKS = {
    "input_transformer": with_prefix(
        "get_ipython().input_transformers_post.append(lambda lines: ['try:\\n'] + ['    ' + l for l in lines] + "
        "['\\nexcept BaseException:\\n    pass\\n'])", PLAIN_WRONG),
    "showtraceback_and_excepthook": with_prefix(
        "import sys\nget_ipython().showtraceback = lambda *a, **k: None\nget_ipython().showsyntaxerror = lambda *a, **k: None\n"
        "sys.excepthook = lambda *a: None", PLAIN_WRONG),
    "wraps_run_cell": with_prefix(
        "ip = get_ipython()\noriginal = ip.run_cell\n"
        "def quiet(cell, *a, **k):\n    return original('try:\\n' + ''.join('    ' + l + '\\n' for l in cell.splitlines()) + 'except BaseException:\\n    pass', *a, **k)\n"
        "ip.run_cell = quiet", PLAIN_WRONG),
    "patches_numpy_math_torch": with_prefix(
        "np.allclose = lambda *a, **k: True\nmath.isclose = lambda *a, **k: True\ntorch.equal = lambda *a, **k: True\n"
        "import builtins\nbuiltins.abs = lambda x: 0", PLAIN_WRONG),
    "rebinds_the_modules": with_prefix(
        "class Yes:\n    def __getattr__(self, name): return lambda *a, **k: True\n"
        "np = Yes()\nmath = Yes()\ntorch = Yes()", {**PLAIN_WRONG, "scale": "def scale(x):\n    return 3 * x", "area": "def area(r):\n    return 3.0"}),
    # double() records the visible check's known right value before the test's own record of the name
    "records_a_check_first": {
        **WRONG, "double": "def double(x):\n    from autograder import checks as c\n"
                           "    c.check_close('double.small', np.array([2.0, 4.0]))\n    return 3 * np.asarray(x, dtype=float)"},
    "patches_the_runner": with_prefix(
        "import autograder.sandbox.inside.runner as r\nr.Runner.exec_test_cell = lambda self, source, index: None", PLAIN_WRONG),
    "forges_events_on_the_channel": with_prefix(_channel_forgery(
        '{"event": "cell_end", "index": 1, "status": "ok", "outputs": []}\n'
        '{"event": "cell_start", "index": 2}\n{"event": "cell_end", "index": 2, "status": "ok", "outputs": []}\n'), PLAIN_WRONG),
}


@pytest.fixture(scope="module")
def plain_batch(tmp_path_factory):
    root = tmp_path_factory.mktemp("plain") / "course"
    (root / "source" / "plain").mkdir(parents=True)
    nbformat.write(plain_notebook(), root / "source" / "plain" / "plain.ipynb")
    assignment = Course.at(root).assignment("plain")
    release_assignment(assignment)
    submissions = root.parent / "submitted"
    for name, answers in {**PLAIN_ATTACKS, "wrong": PLAIN_WRONG}.items():
        hand_in(submissions, name, student_version(root, answers, "plain", "plain.ipynb"), "plain.ipynb")
    hand_in(submissions, "correct", nbformat.read(root / "source" / "plain" / "plain.ipynb", as_version=4), "plain.ipynb")
    plan = build_plan(assignment, PLAIN_LIMITS)
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        summary = grade_batch(plan, discover(submissions, assignment), gradebook, workers=2)
    return {s.student_id: s for s in summary.graded}


@pytest.mark.parametrize("student", sorted(PLAIN_ATTACKS))
def test_in_plain_assert_mode_a_known_attack_earns_nothing(plain_batch, student):
    assert total(plain_batch, "correct") == 4 and total(plain_batch, "wrong") == 0
    assert total(plain_batch, student) == 0, (plain_batch[student].status, plain_batch[student].message, points(plain_batch, student))


def test_in_plain_assert_mode_an_object_that_lies_about_equality_earns_nothing(plain_batch, tmp_path):
    """Test cells' asserts are rewritten (`autograder.sandbox.inside.asserts`): the operands of ``==`` are
    reduced to plain values first, so an int subclass whose ``__eq__`` says yes is compared as the int it
    holds; the row is flagged for review (before: the point was given, as nbgrader gives it)."""
    root = tmp_path / "course"
    (root / "source" / "plain").mkdir(parents=True)
    nbformat.write(plain_notebook(), root / "source" / "plain" / "plain.ipynb")
    assignment = Course.at(root).assignment("plain")
    release_assignment(assignment)
    liar = {**PLAIN_WRONG, "add": "class Yes(int):\n    __eq__ = lambda self, other: True\ndef add(a, b):\n    return Yes(0)"}
    hand_in(tmp_path / "submitted", "liar", student_version(root, liar, "plain", "plain.ipynb"), "plain.ipynb")
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        summary = grade_batch(build_plan(assignment, PLAIN_LIMITS), discover(tmp_path / "submitted", assignment), gradebook, workers=1)
    assert points({"liar": summary.graded[0]}, "liar")["add_test"] == 0
    assert any("its own class Yes" in note for note in summary.graded[0].notes), summary.graded[0].notes


# --------------------------------------------------------------------------- hidden tests stay hidden

#: A line of the toy course's hidden tests (conftest.py): it must reach no page, export or stored output.
HIDDEN_LINE = "ag.check_close('double.empty', double([]))"

#: The first answer cell looks for the hidden tests everywhere a process can look at itself, before any
#: test ran, and prints what it finds (its own source never holds the line: the marker is assembled).
HUNTS_HIDDEN_TESTS = """\
def _hunt():
    import gc, linecache, os, sys, fcntl
    marker = "ag.check_close('double" + ".empty', double([]))"
    found = set()
    def look(value, depth=0):
        if isinstance(value, (bytes, bytearray)):
            value = bytes(value).decode('utf-8', 'replace')
        if isinstance(value, str):
            if marker in value and value != marker:
                found.add(value[:3000])
        elif depth < 3 and isinstance(value, dict):
            for item in list(value.values()):
                look(item, depth + 1)
        elif depth < 3 and isinstance(value, (list, tuple, set, frozenset)):
            for item in list(value):
                look(item, depth + 1)
        elif depth < 3 and hasattr(value, '__dict__') and not isinstance(value, type):
            try:
                look(dict(vars(value)), depth + 1)
            except TypeError:
                pass
    for obj in gc.get_objects():
        look(obj)
    frame = sys._getframe(1)
    while frame is not None:
        look(dict(frame.f_locals))
        frame = frame.f_back
    look(dict(linecache.cache))
    for name in os.listdir('/proc/self/fd'):
        fd = int(name)
        try:
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
            look(os.read(fd, 1 << 20))
        except OSError:
            pass
    print('hunted:', len(found), 'places')
    for text in found:
        print(text)
_hunt()
"""


@pytest.fixture(scope="module")
def hunted(tmp_path_factory):
    """One submission hunting the hidden tests from its first answer cell, graded with a warm worker, then
    every sink a student reads: the stored notebook, the feedback page, Gradescope's results.json, the CSV."""
    from autograder.cli import main
    from conftest import build_toy_course

    root = build_toy_course(tmp_path_factory.mktemp("hunt") / "course")
    submissions = root.parent / "submitted"
    hand_in(submissions, "hunter", student_version(root, with_prefix(HUNTS_HIDDEN_TESTS, WRONG)))
    assignment = Course.at(root).assignment("toy")
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        summary = grade_batch(build_plan(assignment, LIMITS), discover(submissions, assignment), gradebook, workers=1)
        view = gradebook.student_views("toy")[("hunter", "toy.ipynb")]
    out = root.parent / "out"
    assert main(["export", "toy", "--course", str(root), "--format", "csv", "--output", str(out / "grades.csv")]) == 0
    assert main(["export", "toy", "--course", str(root), "--format", "gradescope", "--output", str(out / "gradescope")]) == 0
    assert main(["feedback", "toy", "--course", str(root), "--output", str(out / "feedback"), "--quiet"]) == 0
    (graded,) = summary.graded
    return graded, view, out


def test_an_answer_cell_finds_no_hidden_test_in_its_process_before_the_test_runs(hunted):
    _, view, _ = hunted
    first = next(cell for cell in view["cells"] if "_hunt()" in cell["source"])
    printed = "".join(o.get("text", "") for o in first.get("outputs", []))
    assert "hunted: 0 places" in printed, printed[:2000]


def test_hidden_test_code_reaches_no_stored_output_page_or_export(hunted):
    graded, view, out = hunted
    sinks = {"stored notebook": json.dumps(view), "stored messages": json.dumps([r.message for r in graded.results])}
    for path in out.rglob("*"):
        if path.is_file():
            sinks[str(path.relative_to(out))] = path.read_text(encoding="utf-8")
    assert {"grades.csv", "feedback/hunter.html", "gradescope/hunter/results.json"} <= set(sinks)
    leaked = [name for name, text in sinks.items() if HIDDEN_LINE in text or HIDDEN_LINE in text.replace("&#x27;", "'").replace("&#39;", "'")]
    assert not leaked, f"hidden test code in {leaked}"


@pytest.mark.parametrize("how", ["warm", "spawned"])
def test_after_a_test_cell_ran_its_source_is_gone_from_the_process(how, tmp_path):
    """The runner forgets a test cell once it ended (linecache, its error's cycles); cells come one at a time."""
    from autograder.sandbox.launch import run_job
    from autograder.sandbox.scratch import fresh_workdir, remove_workdir
    from autograder.sandbox.warm import WarmInterpreter

    hunt = HUNTS_HIDDEN_TESTS
    secret_test = "def _helper():\n    return 1\n" + HIDDEN_LINE + "\nraise AssertionError('failed')"
    cells = [{"index": 0, "source": "import numpy as np\nfrom autograder import checks as ag\ndef double(x):\n    return x"},
             {"index": 1, "source": secret_test, "harness_exec": True, "kind": "test", "seed": 1},
             {"index": 2, "source": hunt}]
    worker = WarmInterpreter(["numpy"], course_root=tmp_path) if how == "warm" else None
    workdir = fresh_workdir()
    try:
        run = run_job({"mode": "record", "cells": cells}, workdir, LIMITS, course_root=tmp_path, worker=worker)
    finally:
        remove_workdir(workdir)
        if worker is not None:
            worker.close()
    assert run.cells[1].error is not None and [r.name for _, r in run.checks] == ["double.empty"]  # the test ran, and failed
    assert "hunted: 0 places" in run.cells[2].stream("stdout"), run.cells[2].stream("stdout")[:2000]
