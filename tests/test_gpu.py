"""The same submission gets the same score on CPU and on GPU (skipped where no CUDA device is visible)."""

import csv
import io

import pytest
import torch

from autograder.cli import main
from autograder.results.export import to_csv
from autograder.results.gradebook import Gradebook
from conftest import REPO

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device visible to this machine")


def recorded(source: str, device: str) -> str:
    """What one cell's last expression shows, run in the sandbox on ``device``."""
    from autograder.sandbox.limits import Limits
    from autograder.sandbox.launch import run_job
    from autograder.sandbox.scratch import fresh_workdir, remove_workdir

    workdir = fresh_workdir()
    try:
        run = run_job({"mode": "record", "cells": [{"index": 0, "source": source}]}, workdir, Limits(device=device))
    finally:
        remove_workdir(workdir)
    return [o for o in run.cells[0].outputs if o["output_type"] == "execute_result"][0]["data"]["text/plain"]


def scores(url):
    with Gradebook(url) as gradebook:
        return {(r["student_id"], r["question"]): r["score"] for r in csv.DictReader(io.StringIO(to_csv(gradebook, "deep_mlps")))}


@needs_cuda
@pytest.mark.slow
def test_cpu_and_gpu_grading_agree_on_every_question(tmp_path):
    urls = {}
    for device in ("cpu", "cuda"):
        urls[device] = f"sqlite:///{tmp_path / device}.db"
        assert main(["grade", "deep_mlps", str(REPO / "samples" / "deep_mlps"), "--course", str(REPO),
                     "--gradebook", urls[device], "--device", device, "--quiet"]) == 0
    assert scores(urls["cpu"]) == scores(urls["cuda"])


@needs_cuda
def test_gpu_runs_get_the_determinism_switches():
    source = ("import torch, os\n"
              "(torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.deterministic,"
              " torch.are_deterministic_algorithms_enabled(), os.environ['CUBLAS_WORKSPACE_CONFIG'], torch.cuda.device_count())")
    assert recorded(source, "cuda") == "(False, False, True, True, ':4096:8', 1)"


def test_cpu_runs_see_no_gpu():
    assert recorded("import os\nos.environ['CUDA_VISIBLE_DEVICES']", "cpu") == "''"
