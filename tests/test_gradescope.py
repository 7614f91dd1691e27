"""`autograder gradescope`: the zip Gradescope's autograder runs, run end to end in a folder laid out as its
container (``<root>/source`` = the unzipped package, ``<root>/submission/``, ``<root>/results/``).

``setup.sh`` is not run (it installs from the network); it is checked as bash and for what it installs.
``run_autograder`` is run as Gradescope runs it, with ``AUTOGRADER_GRADESCOPE_ROOT`` pointing at the
folder and ``AUTOGRADER_PYTHON`` at this interpreter (setup.sh's virtual environment does not exist here).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder.cli import main

from conftest import CORRECT, hand_in, student_version

WRONG = dict(CORRECT, half="answer_half = 0.4", mean_rows="def mean_rows(a):\n    return np.mean(a, axis=0)")


@pytest.fixture
def package(toy_course, tmp_path) -> Path:
    output = tmp_path / "autograder.zip"
    assert main(["gradescope", "toy", "--course", str(toy_course), "--output", str(output), "--timeout", "20"]) == 0
    return output


def container(package: Path, where: Path, notebook=None, name: str = "homework.ipynb", metadata: dict | None = None) -> Path:
    """``where`` laid out as Gradescope's /autograder, with ``notebook`` uploaded as ``name``."""
    (where / "source").mkdir(parents=True)
    (where / "submission").mkdir()
    (where / "results").mkdir()
    with zipfile.ZipFile(package) as archive:
        archive.extractall(where / "source")
    for script in ("setup.sh", "run_autograder"):
        (where / "source" / script).chmod(0o755)  # Gradescope keeps the modes; extractall does not
    if notebook is not None:
        nbformat.write(notebook, where / "submission" / name)
    if metadata is not None:
        (where / "submission_metadata.json").write_text(json.dumps(metadata))
    return where


def run_autograder(root: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the packaged copy is what must run
    env.update(AUTOGRADER_GRADESCOPE_ROOT=str(root), AUTOGRADER_PYTHON=sys.executable)
    return subprocess.run([str(root / "source" / "run_autograder")], env=env, capture_output=True, text=True, timeout=600)


def results(root: Path) -> dict:
    finished = run_autograder(root)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    return json.loads((root / "results" / "results.json").read_text())


def test_the_package_holds_the_scripts_the_course_and_this_project(package):
    with zipfile.ZipFile(package) as archive:
        names = set(archive.namelist())
        modes = {i.filename: i.external_attr >> 16 for i in archive.infolist()}
        settings = json.loads(archive.read("gradescope.json"))
    assert {"setup.sh", "run_autograder", "constraints.txt", "course/source/toy/toy.ipynb", "course/solutions/toy.py",
            "package/pyproject.toml", "package/autograder/cli.py", "package/autograder/grading/gradescope.py"} <= names
    assert any(n.startswith("course/.autograder/manifests/toy--toy.ipynb--") for n in names), "the kept grading manifest"
    assert not any(n.startswith("course/release/") or n.endswith(".db") or "__pycache__" in n for n in names)
    assert modes["run_autograder"] & 0o111 and modes["setup.sh"] & 0o111
    assert settings["assignment"] == "toy" and settings["limits"]["cell_timeout"] == 20


def test_setup_sh_is_valid_bash_and_installs_python_bubblewrap_and_this_project_pinned(package, tmp_path):
    root = container(package, tmp_path / "autograder")
    setup = root / "source" / "setup.sh"
    assert subprocess.run(["bash", "-n", str(setup)], capture_output=True).returncode == 0
    text = setup.read_text()
    assert "apt-get install -y --no-install-recommends bubblewrap" in text
    assert '-m pip install --extra-index-url "$TORCH_INDEX" -c constraints.txt "./package[course]"' in text
    assert "-m autograder.grading.gradescope prepare" in text
    assert "torch==" in (root / "source" / "constraints.txt").read_text()
    assert subprocess.run(["bash", "-n", str(root / "source" / "run_autograder")]).returncode == 0


@pytest.mark.slow
def test_run_autograder_scores_a_correct_upload_as_export_gradescope_does(package, toy_course, tmp_path):
    notebook = student_version(toy_course, CORRECT)
    root = container(package, tmp_path / "autograder", notebook, metadata={
        "created_at": "2026-12-01T10:00:00.000000-08:00", "users": [{"sid": "ada", "email": "ada@example.org", "name": "Ada"}]})
    got = results(root)
    assert got["score"] == 4.0
    assert {t["name"]: (t["score"], t["status"]) for t in got["tests"]} == {
        "double_test": (2.0, "passed"), "mean_rows_test": (1.0, "passed"), "half_test": (1.0, "passed"), "explain": (0.0, "failed")}
    assert "sandbox: " in got["output"]
    # the same file graded by `grade` and exported by `export --format gradescope`: the same results.json
    hand_in(tmp_path / "batch", "ada", notebook)
    assert main(["grade", "toy", str(tmp_path / "batch"), "--course", str(toy_course), "--quiet", "--workers", "1"]) == 0
    assert main(["export", "toy", "--course", str(toy_course), "--format", "gradescope", "--output", str(tmp_path / "out"), "--quiet"]) == 0
    exported = json.loads((tmp_path / "out" / "ada" / "results.json").read_text())
    sandbox_line = got["output"].split("\n", 1)[1]
    assert got == dict(exported, output=exported["output"] + "\n" + sandbox_line)


@pytest.mark.slow
def test_run_autograder_scores_a_wrong_upload_and_says_what_the_sandbox_fell_back_to(package, toy_course, tmp_path):
    root = container(package, tmp_path / "autograder", student_version(toy_course, WRONG))
    settings_path = root / "source" / "gradescope.json"
    settings = json.loads(settings_path.read_text())
    settings["limits"]["isolation"] = "none"  # as in a container where bubblewrap cannot run
    settings_path.write_text(json.dumps(settings))
    for path in [root / "source" / "course", *(root / "source" / "course").rglob("*")]:
        path.chmod(path.stat().st_mode & 0o700)  # what setup.sh does: the course readable by root only
    got = results(root)
    scores = {t["name"]: t["score"] for t in got["tests"]}
    assert got["score"] == 2.0 and scores == {"double_test": 2.0, "mean_rows_test": 0.0, "half_test": 0.0, "explain": 0.0}
    half = next(t for t in got["tests"] if t["name"] == "half_test")
    assert "expected 0.5, got 0.4" in half["output"] and half["status"] == "failed"
    assert "sandbox: no bubblewrap" in got["output"] and "weaker than it could be" in got["output"]


@pytest.mark.slow
def test_an_upload_without_the_notebook_scores_zero_and_says_which_file_to_upload(package, toy_course, tmp_path):
    root = container(package, tmp_path / "autograder")
    (root / "submission" / "notes.txt").write_text("forgot the notebook")
    got = results(root)
    assert got["score"] == 0.0 and all(t["score"] == 0 for t in got["tests"])
    assert "missing" in got["output"] and "hand in toy.ipynb" in got["output"]


def test_a_folder_that_is_not_an_unzipped_package_fails_without_results_json(tmp_path):
    root = tmp_path / "autograder"
    (root / "source").mkdir(parents=True)
    (root / "submission").mkdir()
    from autograder.grading.gradescope import run

    assert run(root) == 1
    assert not (root / "results" / "results.json").exists()


@pytest.mark.slow
def test_a_late_upload_costs_the_course_s_late_penalty_from_gradescope_s_upload_time(toy_course, tmp_path):
    (toy_course / "autograder.toml").write_text(
        '[assignments.toy]\ndue = 2026-12-01T00:00:00+00:00\nlate = { policy = "per_day", percent_per_day = 10, max_percent = 50 }\n')
    output = tmp_path / "autograder.zip"
    assert main(["gradescope", "toy", "--course", str(toy_course), "--output", str(output)]) == 0
    with zipfile.ZipFile(output) as archive:
        assert "course/autograder.toml" in archive.namelist()
    root = container(output, tmp_path / "autograder", student_version(toy_course, CORRECT),
                     metadata={"created_at": "2026-12-01T12:00:00.000000+00:00", "users": [{"sid": "ada"}]})
    got = results(root)
    [late] = [t for t in got["tests"] if t["name"] == "late penalty"]
    assert late["score"] < 0 and got["score"] == pytest.approx(4.0 + late["score"]) and got["score"] < 4.0
