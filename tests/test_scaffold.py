"""`autograder new`: a complete minimal exercise set that releases and verifies as created, and never
overwrites anything."""

import pytest

from autograder.cli import main


def test_a_new_set_releases_and_verifies_as_created(tmp_path, capsys):
    course = ["--course", str(tmp_path)]
    assert main(["new", "feature_scaling", *course]) == 0
    assert (tmp_path / "source" / "feature_scaling" / "feature_scaling.ipynb").is_file()
    assert (tmp_path / "solutions" / "feature_scaling.py").is_file()
    assert (tmp_path / "tests" / "mutants" / "feature_scaling.toml").is_file()
    assert main(["release", "feature_scaling", *course]) == 0
    assert main(["verify", "feature_scaling", *course, "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "verify passed" in out and "loses points on standardize_test" in out


def test_an_existing_set_is_never_overwritten(tmp_path, capsys):
    assert main(["new", "feature_scaling", "--course", str(tmp_path)]) == 0
    solution = tmp_path / "solutions" / "feature_scaling.py"
    solution.write_text("# mine\n")
    assert main(["new", "feature_scaling", "--course", str(tmp_path)]) == 2
    assert "exists already" in capsys.readouterr().err and solution.read_text() == "# mine\n"


@pytest.mark.parametrize("name", ["Bad-Name", "1st", "../escape", ""])
def test_a_name_that_cannot_be_a_folder_and_a_module_is_refused(tmp_path, name, capsys):
    assert main(["new", name, "--course", str(tmp_path)]) == 2
    assert "cannot name an assignment" in capsys.readouterr().err
    assert not (tmp_path / "source").exists()
