"""Reference implementation for the ``reproducibility`` exercise set (trusted side only).

The three helpers that every Neuromatch-style notebook starts with (`set_seed`, `seed_worker`,
`set_device`), a seeded DataLoader factory and a seeded training run, plus two numbers worked out
by hand. Every name in ``__all__`` replaces the student's answer of the same name when the grader
computes expected values, so each follows the specification in
``source/reproducibility/reproducibility.ipynb`` exactly: argument order, return values, and the
order in which random numbers are drawn (it decides which numbers the weights and the shuffles get).
"""

import math
import random

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader

__all__ = [
    "set_seed",
    "seed_worker",
    "set_device",
    "make_loader",
    "train_seeded",
    "answer_epoch_orders",
    "answer_p_collision",
]


# --- Question 1: set_seed ----------------------------------------------------------------------

def set_seed(seed=None, seed_torch=True):
    """Seed Python's `random`, NumPy's global generator and (when ``seed_torch``) torch; return the seed.

    With ``seed=None`` a seed is drawn at random from ``[0, 2**32)`` (the range NumPy accepts) and
    returned, so that the run can be repeated later with ``set_seed(returned_seed)``.
    Seeding torch covers the CPU generator and every CUDA device's, and switches cuDNN to
    deterministic algorithms without autotuning (``benchmark`` picks the fastest kernel by timing
    them, and the winner may differ from run to run).
    """
    if seed is None:
        seed = int(np.random.choice(2**32))
    random.seed(seed)
    np.random.seed(seed)
    if seed_torch:
        torch.manual_seed(seed)
        torch.cuda.manual_seed_all(seed)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    return seed


# --- Question 2: seed_worker -------------------------------------------------------------------

def seed_worker(worker_id):
    """``DataLoader(worker_init_fn=seed_worker)``: seed a worker's NumPy and `random` from torch's seed.

    In worker ``i`` the DataLoader has already seeded torch with ``base_seed + i`` (base_seed drawn
    from the loader's generator), so ``torch.initial_seed()`` differs per worker and per epoch;
    ``worker_id`` itself is not needed. NumPy accepts seeds below 2**32 only, hence the modulo.
    (PyTorch >= 1.9 also seeds NumPy and `random` in workers itself; this keeps the behaviour the
    same on every version and ties both streams to torch's seed.)
    """
    worker_seed = torch.initial_seed() % 2**32
    np.random.seed(worker_seed)
    random.seed(worker_seed)


# --- Question 3: set_device --------------------------------------------------------------------

def set_device():
    """``"cuda"`` when `torch.cuda.is_available()`, otherwise ``"cpu"`` (a string)."""
    return "cuda" if torch.cuda.is_available() else "cpu"


# --- Question 4: a seeded DataLoader -----------------------------------------------------------

def make_loader(dataset, batch_size, seed):
    """A shuffling DataLoader whose order depends only on ``seed``.

    The loader owns its generator, so the order neither depends on nor changes the global torch
    generator (which model initialisation and dropout draw from).
    """
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
        worker_init_fn=seed_worker,
    )


# --- Question 5: a seeded training run ---------------------------------------------------------

def _make_mlp():
    """The notebook's `make_mlp` (setup cell), repeated so this module never needs notebook state."""
    return nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))


def train_seeded(dataset, seed, n_steps=20, lr=0.1, batch_size=8, device="cpu"):
    """Seed everything, then train `make_mlp()` with plain SGD for ``n_steps`` mini-batch steps.

    Order: ``set_seed(seed)``; the model (its initial weights come from torch's global generator),
    moved to ``device``; ``make_loader(dataset, batch_size, seed)``. Each step draws the next batch
    (a new epoch starts when the loader is exhausted), computes the mean cross entropy, zeroes the
    gradients, back-propagates and updates ``p -= lr * p.grad``: plain SGD, what
    ``torch.optim.SGD(lr=lr)`` does without momentum (written by hand because the first use of
    ``torch.optim`` imports ``torch._dynamo``, which costs seconds). Returns the model on the CPU.
    """
    set_seed(seed)
    model = _make_mlp().to(device)
    loader = make_loader(dataset, batch_size, seed)
    step = 0
    while step < n_steps:
        for xb, yb in loader:
            if step == n_steps:
                break
            xb, yb = xb.to(device), yb.to(device)
            loss = F.cross_entropy(model(xb), yb)
            model.zero_grad()
            loss.backward()
            with torch.no_grad():
                for p in model.parameters():
                    p -= lr * p.grad
            step += 1
    return model.cpu()


# --- Question 6: two numbers worked out by hand ------------------------------------------------

# 10 samples in batches of 4, 4 and 2. The gradient of a batch's mean loss does not depend on the
# order inside the batch, so an epoch is decided by which samples land in which batch:
# the multinomial coefficient 10! / (4! 4! 2!).
answer_epoch_orders = math.factorial(10) // (math.factorial(4) * math.factorial(4) * math.factorial(2))

# 100 000 runs each call set_seed(None), a seed uniform on 2**32 values: the birthday problem.
# P(no two equal) = prod_{i<n} (1 - i/N); summed in log space to stay exact.
_N_SEEDS, _N_RUNS = 2**32, 100_000
answer_p_collision = -math.expm1(sum(math.log1p(-i / _N_SEEDS) for i in range(_N_RUNS)))
