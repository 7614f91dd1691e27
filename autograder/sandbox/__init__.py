"""Where a submission runs: `launch` (parent side) starts `runner` (child side) in a separate process,
forked from a `warm` worker when one is given."""

from autograder.sandbox.launch import Limits, RunResult, WarmWorker, run_job

__all__ = ["Limits", "RunResult", "WarmWorker", "run_job"]
