"""How well `autograder similarity` separates copies from independent answers, on the Deep MLPs set.

    python -m benchmarks.similarity            # [--threshold 0.8]

Independent answers: the course's own solution notebook (source/), and `ada_lovelace`'s sample, whose
every answer was written differently from the reference (samples/deep_mlps/README.md). Copies: each of
ada_lovelace's answers disguised three ways, as a student hiding a copy would: every local name renamed,
the code reformatted (parsed and written back by `ast.unparse`, which changes quotes, spacing, line breaks
and drops comments), and comments and blank lines added. It prints, per question, the similarity of each
copy and of the independent pair, and how many of each the threshold separates.
"""

from __future__ import annotations

import argparse
import ast
import builtins
import time

import nbformat

from autograder.course import Course
from autograder.course.cells import Kind
from autograder.prepare.manifest import assignment_manifest
from autograder.results.similarity import DEFAULT_THRESHOLD, Answer, compare_answers
from benchmarks.common import load_average, machine

ASSIGNMENT = "deep_mlps"


class _Rename(ast.NodeTransformer):
    """Renames every name the answer binds itself (arguments, locals, its own functions and classes)."""

    def __init__(self, bound: set[str]):
        self.names = {name: f"v{index}_{name[::-1]}" for index, name in enumerate(sorted(bound))}

    def visit_Name(self, node):
        node.id = self.names.get(node.id, node.id)
        return node

    def visit_arg(self, node):
        node.arg = self.names.get(node.arg, node.arg)
        return node


def _bound_names(tree: ast.AST) -> set[str]:
    bound = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    return {name for name in bound if not hasattr(builtins, name) and name != "self"}


def renamed(source: str) -> str:
    tree = ast.parse(source)
    return ast.unparse(_Rename(_bound_names(tree)).visit(tree))


def reformatted(source: str) -> str:
    return ast.unparse(ast.parse(source))


def commented(source: str) -> str:
    lines = []
    for number, line in enumerate(source.splitlines()):
        lines.append(line)
        if number % 2 == 0 and line.strip():
            indent = line[: len(line) - len(line.lstrip())]
            lines += [f"{indent}# step {number}: as in the lecture", ""]
    return "\n".join(lines)


def answers_of(notebook: nbformat.NotebookNode) -> dict[str, str]:
    return {cell.metadata["nbgrader"]["grade_id"]: cell.source for cell in notebook.cells
            if cell.cell_type == "code" and cell.get("metadata", {}).get("nbgrader", {}).get("solution")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    args = parser.parse_args(argv)
    course = Course.at(".")
    assignment = course.assignment(ASSIGNMENT)
    name = assignment.notebook_names[0]
    stubs = {c.grade_id: c.source for c in assignment_manifest(assignment, name).cells if c.kind == Kind.ANSWER}
    solution = answers_of(assignment.read_source(name))
    ada = answers_of(nbformat.read(course.root / "samples" / ASSIGNMENT / "ada_lovelace" / name, as_version=4))
    print(f"machine: {machine()}; load average {load_average()}")
    print(f"threshold {args.threshold:.2f}; similarity = the smaller of the two shares of shared code\n")
    print(f"{'question':18} {'renamed':>8} {'reformat':>8} {'comments':>8} {'indep.':>8}")
    copies_found = copies = independent_flagged = independent = 0
    started = time.perf_counter()
    for question, stub in stubs.items():
        if question not in ada or question not in solution:
            continue
        original = Answer("ada_lovelace", name, question, ada[question])
        row = []
        for label, disguise in (("renamed", renamed), ("reformatted", reformatted), ("commented", commented)):
            copy = Answer(f"copy_{label}", name, question, disguise(ada[question]))
            pairs, summary = compare_answers([original, copy], stub, threshold=0.0)
            if summary is None or summary.answers < 2:
                row.append("short")
                continue
            similarity = pairs[0].similarity if pairs else 0.0
            copies += 1
            copies_found += similarity >= args.threshold
            row.append(f"{100 * similarity:.0f}%")
        pairs, summary = compare_answers([original, Answer("solution", name, question, solution[question])], stub, threshold=0.0)
        if summary is None or summary.answers < 2:
            row.append("short")
        else:
            similarity = pairs[0].similarity if pairs else 0.0
            independent += 1
            independent_flagged += similarity >= args.threshold
            row.append(f"{100 * similarity:.0f}%")
        print(f"{question:18} " + " ".join(f"{cell:>8}" for cell in row))
    seconds = time.perf_counter() - started
    print(f"\ncopies found at the threshold: {copies_found} of {copies}; independent pairs flagged: {independent_flagged} of {independent}"
          f" ('short': under the minimum length, never compared); {seconds:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
