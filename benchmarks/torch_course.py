"""A five-question PyTorch notebook in nbgrader's format, and submissions of varied correctness made from it.

The test cells are plain nbgrader test cells (asserts, one hidden test), not our checks: nbgrader cannot
run the trusted side's checks, and the comparison needs both graders to grade the same notebook.

Every question has several answers: the solution, correct alternatives, answers wrong in different ways
(a wrong axis, a missing activation, a sum for a mean, a loss that is not detached...), answers that
raise, and the released stub left untouched. Student 0 hands in the solution, student 1 the released
notebook untouched; the others take the answers in turn, so every answer of every question is handed in.
"""

from __future__ import annotations

from dataclasses import dataclass

import nbformat
from nbformat.v4 import new_notebook

from benchmarks.common import KERNELSPEC, markdown, nbgrader_cell

ASSIGNMENT = "torch_basics"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"

UNTOUCHED = None  # the answer cell as released: "# YOUR CODE HERE / raise NotImplementedError()"


@dataclass
class Question:
    grade_id: str  # of the answer cell; the test cell is f"{grade_id}_test"
    prompt: str
    solution: str  # the answer cell of the source notebook, with nbgrader's solution markers
    test: str
    points: float
    answers: dict[str, str | None]  # name -> answer cell source (UNTOUCHED: the released stub)


SETUP = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F"

QUESTIONS = [
    Question(
        "standardize",
        "**Q1 (tensors).** Scale each column of `x` to mean 0 and standard deviation 1.",
        "def standardize(x):\n    ### BEGIN SOLUTION\n    return (x - x.mean(dim=0)) / x.std(dim=0)\n    ### END SOLUTION",
        "torch.manual_seed(0)\n"
        "x = torch.randn(50, 3) * 4 + 2\n"
        "z = standardize(x)\n"
        "assert z.shape == x.shape\n"
        "assert torch.allclose(z.mean(dim=0), torch.zeros(3), atol=1e-5)\n"
        "assert torch.allclose(z.std(dim=0), torch.ones(3), atol=1e-5)",
        1,
        {
            "correct": "def standardize(x):\n    return (x - x.mean(dim=0)) / x.std(dim=0)",
            "correct_keepdim": "def standardize(x):\n    mean = x.mean(0, keepdim=True)\n    return (x - mean) / x.std(0, keepdim=True)",
            "wrong_axis": "def standardize(x):\n    return (x - x.mean(dim=1)) / x.std(dim=1)",  # raises: shapes (50, 3) and (50,)
            "not_scaled": "def standardize(x):\n    return x - x.mean(dim=0)",
            "population_std": "def standardize(x):\n    return (x - x.mean(dim=0)) / x.std(dim=0, unbiased=False)",
            "untouched": UNTOUCHED,
        },
    ),
    Question(
        "two_layer_net",
        "**Q2 (a module).** `TwoLayerNet(n_in, n_hidden, n_out)`: a linear layer `hidden`, ReLU, a linear layer `out`.",
        "class TwoLayerNet(nn.Module):\n"
        "    def __init__(self, n_in, n_hidden, n_out):\n"
        "        super().__init__()\n"
        "        ### BEGIN SOLUTION\n"
        "        self.hidden = nn.Linear(n_in, n_hidden)\n"
        "        self.out = nn.Linear(n_hidden, n_out)\n"
        "        ### END SOLUTION\n"
        "\n"
        "    def forward(self, x):\n"
        "        ### BEGIN SOLUTION\n"
        "        return self.out(torch.relu(self.hidden(x)))\n"
        "        ### END SOLUTION",
        "torch.manual_seed(1)\n"
        "net = TwoLayerNet(4, 8, 3)\n"
        "x = torch.randn(5, 4)\n"
        "y = net(x)\n"
        "assert y.shape == (5, 3)\n"
        "assert sum(p.numel() for p in net.parameters()) == 4 * 8 + 8 + 8 * 3 + 3\n"
        "### BEGIN HIDDEN TESTS\n"
        "assert torch.allclose(y, net.out(torch.relu(net.hidden(x))))\n"
        "### END HIDDEN TESTS",
        2,
        {
            "correct": "class TwoLayerNet(nn.Module):\n    def __init__(self, n_in, n_hidden, n_out):\n        super().__init__()\n"
                       "        self.hidden = nn.Linear(n_in, n_hidden)\n        self.out = nn.Linear(n_hidden, n_out)\n\n"
                       "    def forward(self, x):\n        return self.out(F.relu(self.hidden(x)))",
            "no_activation": "class TwoLayerNet(nn.Module):\n    def __init__(self, n_in, n_hidden, n_out):\n        super().__init__()\n"
                             "        self.hidden = nn.Linear(n_in, n_hidden)\n        self.out = nn.Linear(n_hidden, n_out)\n\n"
                             "    def forward(self, x):\n        return self.out(self.hidden(x))",
            "no_bias": "class TwoLayerNet(nn.Module):\n    def __init__(self, n_in, n_hidden, n_out):\n        super().__init__()\n"
                       "        self.hidden = nn.Linear(n_in, n_hidden, bias=False)\n        self.out = nn.Linear(n_hidden, n_out, bias=False)\n\n"
                       "    def forward(self, x):\n        return self.out(torch.relu(self.hidden(x)))",
            "syntax_error": "class TwoLayerNet(nn.Module):\n    def __init__(self, n_in, n_hidden, n_out)\n        super().__init__()",
            "untouched": UNTOUCHED,
        },
    ),
    Question(
        "cross_entropy",
        "**Q3 (a loss).** The mean cross entropy of `logits` (N x C) against class indices `targets` (N).",
        "def cross_entropy(logits, targets):\n    ### BEGIN SOLUTION\n"
        "    return -F.log_softmax(logits, dim=1)[torch.arange(len(targets)), targets].mean()\n    ### END SOLUTION",
        "torch.manual_seed(2)\n"
        "logits = torch.randn(6, 4)\n"
        "targets = torch.tensor([0, 3, 1, 1, 2, 0])\n"
        "loss = cross_entropy(logits, targets)\n"
        "assert loss.dim() == 0\n"
        "assert torch.allclose(loss, F.cross_entropy(logits, targets), atol=1e-6)",
        1,
        {
            "correct": "def cross_entropy(logits, targets):\n    return -F.log_softmax(logits, dim=1)[torch.arange(len(targets)), targets].mean()",
            "correct_nll": "def cross_entropy(logits, targets):\n    return F.nll_loss(torch.log_softmax(logits, 1), targets)",
            "sum_not_mean": "def cross_entropy(logits, targets):\n    return -F.log_softmax(logits, dim=1)[torch.arange(len(targets)), targets].sum()",
            "softmax_wrong_axis": "def cross_entropy(logits, targets):\n    return -F.log_softmax(logits, dim=0)[torch.arange(len(targets)), targets].mean()",
            "raises": "def cross_entropy(logits, targets):\n    raise ValueError('I am not sure how to do this')",
            "untouched": UNTOUCHED,
        },
    ),
    Question(
        "train",
        "**Q4 (training).** Full-batch gradient descent with `torch.optim.SGD` on the cross entropy for `steps` steps; "
        "return every step's loss as a Python float.",
        "def train(model, x, y, steps, lr):\n    ### BEGIN SOLUTION\n"
        "    optimizer = torch.optim.SGD(model.parameters(), lr=lr)\n"
        "    losses = []\n"
        "    for _ in range(steps):\n"
        "        optimizer.zero_grad()\n"
        "        loss = F.cross_entropy(model(x), y)\n"
        "        loss.backward()\n"
        "        optimizer.step()\n"
        "        losses.append(loss.item())\n"
        "    return losses\n    ### END SOLUTION",
        "torch.manual_seed(3)\n"
        "x = torch.randn(64, 2)\n"
        "y = (x[:, 0] * x[:, 1] > 0).long()\n"
        "model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 2))\n"
        "losses = train(model, x, y, steps=200, lr=0.5)\n"
        "assert len(losses) == 200\n"
        "assert all(isinstance(value, float) for value in losses)\n"
        "assert losses[-1] < 0.5 * losses[0]",
        2,
        {
            "correct": "def train(model, x, y, steps, lr):\n    optimizer = torch.optim.SGD(model.parameters(), lr=lr)\n    losses = []\n"
                       "    for _ in range(steps):\n        optimizer.zero_grad()\n        loss = F.cross_entropy(model(x), y)\n"
                       "        loss.backward()\n        optimizer.step()\n        losses.append(loss.item())\n    return losses",
            "off_by_one": "def train(model, x, y, steps, lr):\n    optimizer = torch.optim.SGD(model.parameters(), lr=lr)\n    losses = []\n"
                          "    for _ in range(steps - 1):\n        optimizer.zero_grad()\n        loss = F.cross_entropy(model(x), y)\n"
                          "        loss.backward()\n        optimizer.step()\n        losses.append(loss.item())\n    return losses",
            "keeps_tensors": "def train(model, x, y, steps, lr):\n    optimizer = torch.optim.SGD(model.parameters(), lr=lr)\n    losses = []\n"
                             "    for _ in range(steps):\n        optimizer.zero_grad()\n        loss = F.cross_entropy(model(x), y)\n"
                             "        loss.backward()\n        optimizer.step()\n        losses.append(loss)\n    return losses",
            "never_steps": "def train(model, x, y, steps, lr):\n    losses = []\n"
                           "    for _ in range(steps):\n        loss = F.cross_entropy(model(x), y)\n        loss.backward()\n"
                           "        losses.append(loss.item())\n    return losses",
            "untouched": UNTOUCHED,
        },
    ),
    Question(
        "accuracy",
        "**Q5 (evaluation).** The fraction of rows of `logits` whose largest entry is at the target index, as a float.",
        "def accuracy(logits, targets):\n    ### BEGIN SOLUTION\n    return (logits.argmax(dim=1) == targets).float().mean().item()\n    ### END SOLUTION",
        "logits = torch.tensor([[2.0, 0.1], [0.3, 0.9], [1.5, 1.4], [0.0, 2.0]])\n"
        "targets = torch.tensor([0, 1, 1, 1])\n"
        "acc = accuracy(logits, targets)\n"
        "assert isinstance(acc, float)\n"
        "assert abs(acc - 0.75) < 1e-9",
        1,
        {
            "correct": "def accuracy(logits, targets):\n    return (logits.argmax(dim=1) == targets).float().mean().item()",
            "wrong_axis": "def accuracy(logits, targets):\n    return (logits.argmax(dim=0) == targets).float().mean().item()",  # raises
            "returns_tensor": "def accuracy(logits, targets):\n    return (logits.argmax(dim=1) == targets).float().mean()",
            "counts": "def accuracy(logits, targets):\n    return float((logits.argmax(dim=1) == targets).sum())",
            "untouched": UNTOUCHED,
        },
    ),
]


def solution_notebook() -> nbformat.NotebookNode:
    cells = [markdown("# PyTorch basics (benchmark notebook)"), nbgrader_cell("locked", SETUP, "setup")]
    for question in QUESTIONS:
        cells.append(markdown(question.prompt))
        cells.append(nbgrader_cell("answer", question.solution, question.grade_id))
        cells.append(nbgrader_cell("test", question.test, f"{question.grade_id}_test", points=question.points))
    return new_notebook(cells=cells, metadata=dict(KERNELSPEC))


def answer_plan(students: int) -> list[dict[str, str]]:
    """For each student, the name of the answer handed in for each question (see the module docstring)."""
    plans = [{q.grade_id: "correct" for q in QUESTIONS}, {q.grade_id: "untouched" for q in QUESTIONS}]
    for index in range(students - 2):
        plans.append({q.grade_id: list(q.answers)[(index + position) % len(q.answers)] for position, q in enumerate(QUESTIONS)})
    return plans[:students]


def student_id(index: int) -> str:
    return f"student{index:03d}"


def submission(released: nbformat.NotebookNode, plan: dict[str, str], scratch_cell: bool = False) -> nbformat.NotebookNode:
    """The released notebook with the planned answers filled in (and, optionally, a scratch cell of the
    student's own, which both graders must run and ignore)."""
    notebook = nbformat.from_dict(released)
    by_id = {q.grade_id: q for q in QUESTIONS}
    for cell in notebook.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in plan:
            answer = by_id[grade_id].answers[plan[grade_id]]
            if answer is not UNTOUCHED:
                cell.source = answer
    if scratch_cell:
        after = next(i for i, c in enumerate(notebook.cells) if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "standardize_test")
        notebook.cells.insert(after + 1, nbformat.v4.new_code_cell("print('my scratch work', standardize(torch.ones(2, 2)).shape)"))
    return notebook
