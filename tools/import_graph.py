"""The import graph of the `autograder` package: every module, what it imports of ours, and any cycle.

    python tools/import_graph.py            # the graph, by layer, then "no cycles" (exit 0) or each cycle (exit 1)
    python tools/import_graph.py --dot      # the same graph in Graphviz's dot language

Imports are read from the source (every ``import`` and ``from ... import``, at any depth, including those
inside functions), not by importing anything. `tests/test_layout.py` holds the package to the rules this
prints: no cycles, and no layer importing a layer above it.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = "autograder"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE

#: The layers, lowest first: a module may import its own layer and those below, never one above. Modules
#: of the package's top level not named here (the CLI, the public `checks` face) sit above every layer.
LAYERS = [
    ("errors", "the user-error family (UserError) that every layer may raise and the CLI handles once"),
    ("wire", "what both sides of the sandbox import: values, comparison, tolerances, seeds, the protocol"),
    ("sandbox.inside", "what runs in the student's process"),
    ("course", "the course on disk: assignments, cells, late policy, submissions folders"),
    ("prepare", "source/ -> release/ and the grading manifest"),
    ("sandbox", "the host side of a run: limits, launch, warm interpreters, confinement"),
    ("results", "the gradebook and everything read out of it: totals, disclosure, exports, pages"),
    ("grading", "verdicts and the batch: plan, reference, sanitize, scoring, one submission, batch, cluster, verify"),
    ("student", "what a student runs: check, lint, submit"),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The package's modules that ``path`` imports (``from pkg import mod`` counts as importing ``pkg.mod``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    this = module_name(path)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != this:
                found.add(name)
    return found


def graph() -> dict[str, set[str]]:
    paths = sorted(ROOT.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    edges = {module_name(p): imports_of(p, modules) for p in paths}
    # A package's __init__ is imported on the way to any of its modules; that edge is not a dependency.
    return {m: {t for t in targets if not m.startswith(t + ".")} for m, targets in edges.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10000)
    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def layer_of(module: str) -> int | None:
    """The index in `LAYERS` of the most specific layer holding ``module``; None above every layer."""
    best = None
    for position, (prefix, _) in enumerate(LAYERS):
        full = f"{PACKAGE}.{prefix}"
        if module == full or module.startswith(full + "."):
            if best is None or len(prefix) > len(LAYERS[best][0]):
                best = position
    return best


def upward_imports(edges: dict[str, set[str]]) -> list[tuple[str, str]]:
    """(module, imported) pairs where a module imports a layer above its own."""
    wrong = []
    for module, targets in edges.items():
        here = layer_of(module)
        if here is None or module == PACKAGE:
            continue
        for target in targets:
            there = layer_of(target)
            if target != PACKAGE and (there is None or there > here):
                wrong.append((module, target))
    return sorted(wrong)


def main(argv: list[str]) -> int:
    edges = graph()
    if "--dot" in argv:
        print("digraph autograder {\n  rankdir=BT;")
        for module, targets in sorted(edges.items()):
            for target in sorted(targets):
                print(f'  "{module}" -> "{target}";')
        print("}")
        return 0
    for position, (prefix, what) in reversed(list(enumerate(LAYERS))):
        print(f"layer {position} {PACKAGE}.{prefix}: {what}")
        for module in sorted(m for m in edges if layer_of(m) == position):
            print(f"  {module} -> {', '.join(sorted(edges[module])) or '(nothing of ours)'}")
    print("above every layer:")
    for module in sorted(m for m in edges if layer_of(m) is None):
        print(f"  {module} -> {', '.join(sorted(edges[module])) or '(nothing of ours)'}")
    found, upward = cycles(edges), upward_imports(edges)
    for component in found:
        print("cycle: " + " <-> ".join(component))
    for module, target in upward:
        print(f"upward import: {module} imports {target}, a layer above its own")
    if not found and not upward:
        print(f"no cycles, no upward imports ({len(edges)} modules)")
    return 1 if found or upward else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
