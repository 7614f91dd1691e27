"""The layout is the architecture: no import cycles, no layer importing one above it, and a run (the
student's process) imports only the modules meant to run there."""

import importlib.util
import json
from pathlib import Path

import pytest

from autograder.sandbox.launch import run_job
from autograder.sandbox.limits import Limits
from autograder.sandbox.scratch import fresh_workdir, remove_workdir
from autograder.sandbox.warm import WarmInterpreter

ROOT = Path(__file__).resolve().parent.parent


def _import_graph():
    spec = importlib.util.spec_from_file_location("import_graph", ROOT / "tools" / "import_graph.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_package_has_no_import_cycles():
    graph = _import_graph()
    assert graph.cycles(graph.graph()) == []


def test_no_layer_imports_a_layer_above_it():
    graph = _import_graph()
    assert graph.upward_imports(graph.graph()) == []


def test_every_subpackage_is_installed():
    """pyproject finds the packages itself, so a new subpackage cannot be left out of the wheel, as long as
    it is a regular package (find_packages skips a folder without ``__init__.py``)."""
    from setuptools import find_packages

    assert 'include = ["autograder", "autograder.*"]' in (ROOT / "pyproject.toml").read_text()
    folders = {p.parent for p in (ROOT / "autograder").rglob("*.py") if "__pycache__" not in p.parts}
    found = set(find_packages(str(ROOT), include=["autograder", "autograder.*"]))
    assert {".".join(f.relative_to(ROOT).parts) for f in folders} == found


#: What a run may import of ours: the public checks face, the inside of the sandbox and the wire.
INSIDE_A_RUN = {
    "autograder", "autograder.checks",
    "autograder.sandbox", "autograder.sandbox.inside", "autograder.sandbox.inside.checks",
    "autograder.sandbox.inside.confine", "autograder.sandbox.inside.notebook", "autograder.sandbox.inside.runner",
    "autograder.sandbox.inside.warm", "autograder.sandbox.inside.tamper", "autograder.sandbox.inside.asserts",
    "autograder.wire", "autograder.wire.compare", "autograder.wire.seeding", "autograder.wire.tolerances",
    "autograder.wire.protocol", "autograder.wire.values",
}

LIST_OURS = ("from autograder import checks as ag\n"
             "import sys\nprint(sorted(m for m in sys.modules if m == 'autograder' or m.startswith('autograder.')))")


@pytest.mark.parametrize("how", ["warm", "spawned"])
def test_a_run_imports_only_the_inside_of_the_sandbox_and_the_wire(how, tmp_path):
    worker = WarmInterpreter(["numpy"], course_root=tmp_path) if how == "warm" else None
    workdir = fresh_workdir()
    try:
        job = {"mode": "record", "cells": [{"index": 0, "source": LIST_OURS}]}
        result = run_job(job, workdir, Limits(cell_timeout=30), course_root=tmp_path, worker=worker)
    finally:
        remove_workdir(workdir)
        if worker:
            worker.close()
    text = "".join(o.get("text", "") for o in result.cells[0].outputs if o.get("output_type") == "stream")
    imported = set(json.loads(text.strip().replace("'", '"')))
    assert imported <= INSIDE_A_RUN, f"imported inside a run, not meant to be: {sorted(imported - INSIDE_A_RUN)}"
    assert "autograder.sandbox.inside.runner" in imported
