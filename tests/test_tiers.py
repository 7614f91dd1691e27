"""The unit tier (`python -m pytest -m unit`) stays pure: its files import nothing that starts a run, and a
unit test that starts a process fails (tests/conftest.py)."""

import ast
import subprocess
from pathlib import Path

import pytest

from conftest import UNIT_FILES

TESTS = Path(__file__).resolve().parent

#: What starts a sandbox, a warm interpreter or a batch when called: no unit-tier file imports it.
STARTS_RUNS = (
    "autograder.sandbox.launch", "autograder.sandbox.warm", "autograder.sandbox.spawn", "autograder.sandbox.pool",
    "autograder.grading.batch", "autograder.grading.run", "autograder.grading.submission", "autograder.grading.cluster",
    "autograder.grading.verify", "autograder.student.check",
)


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth (``from a import b`` counts as ``a`` and ``a.b``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_every_unit_tier_file_exists():
    assert sorted(name for name in UNIT_FILES if not (TESTS / name).is_file()) == []


@pytest.mark.parametrize("name", sorted(UNIT_FILES))
def test_no_unit_tier_file_imports_what_starts_a_sandbox(name):
    imported = imported_modules(TESTS / name)
    starts = sorted(m for m in imported if any(m == s or m.startswith(s + ".") for s in STARTS_RUNS))
    assert starts == [], f"tests/{name} is in the unit tier but imports {starts}: move those tests out of it"


def test_a_unit_tier_test_that_starts_a_process_fails():
    with pytest.raises(AssertionError, match="a unit-tier test started a process"):
        subprocess.run(["true"])
