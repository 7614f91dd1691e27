"""One seed for every random number generator a test can touch, used identically on both sides.

The harness calls `seed_everything` before every test cell, in the student's sandbox and on the trusted
side, so both compute on the same inputs; `autograder.sandbox.inside.checks.seeded` does the same inside a cell.
"""

from __future__ import annotations

import hashlib
import os
import random
import sys

import numpy as np

_current_seed: int | None = None


def stable_seed(text: str) -> int:
    """A seed derived from a name (a grade_id), the same in every process and Python version."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:4], "little") % (2**31 - 1)


def seed_everything(seed: int) -> None:
    """Seed Python's `random`, NumPy's global generator and torch (CPU and every CUDA device)."""
    global _current_seed
    seed = int(seed)
    _current_seed = seed
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch = sys.modules.get("torch")  # a notebook that never imported torch does not pay for it here
    if torch is not None:
        torch.manual_seed(seed)  # also seeds every CUDA device
    os.environ["PYTHONHASHSEED"] = str(seed)  # inherited by subprocesses the test may start


def note_seed(seed: int | None) -> None:
    """Set the seed that messages name, without touching any generator."""
    global _current_seed
    _current_seed = seed


def deterministic_torch() -> None:
    """The harness's determinism switches for GPU runs (set before any notebook code runs).

    TF32 off for matmul and cuDNN, cuDNN deterministic and not benchmarking, deterministic algorithms
    where torch has them (warning, not failing, where it has none). `CUBLAS_WORKSPACE_CONFIG` and
    `NVIDIA_TF32_OVERRIDE` are set in the run's environment by `autograder.sandbox.launch`.
    """
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True, warn_only=True)


def current_seed() -> int | None:
    return _current_seed


def torch_generator(seed: int):
    """A `torch.Generator` seeded with ``seed``, for `DataLoader(generator=...)` and random transforms."""
    import torch

    generator = torch.Generator()
    generator.manual_seed(int(seed))
    return generator


def seed_worker(worker_id: int) -> None:  # noqa: ARG001 - DataLoader passes the worker id
    """`DataLoader(worker_init_fn=seed_worker)`: seed each worker's `random` and NumPy from torch's seed."""
    import torch

    worker_seed = torch.initial_seed() % 2**32
    np.random.seed(worker_seed)
    random.seed(worker_seed)
