"""Imports run downward, and no module imports itself back through others.

The layers are written once, top to bottom; a module may import its own layer and the layers
below it. Every import counts, including those under ``if TYPE_CHECKING:`` and inside functions:
a type-only import is still an arrow a reader has to follow.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import cosell

ROOT = Path(cosell.__file__).parent
LAYERS: list[tuple[str, ...]] = [
    ("cosell.cli", "cosell.__main__"),
    ("cosell.sandbox", "cosell.service", "cosell.web"),
    ("cosell.operations",),
    ("cosell.signals", "cosell.orgsetup"),
    ("cosell.sync.engine",),
    ("cosell.sync.sides",),
    ("cosell.sync.core", "cosell.sync"),
    (
        "cosell.queue",
        "cosell.clients",
        "cosell.alerts",
        "cosell.webhooks",
        "cosell.store",
        "cosell.emulators",
    ),
    ("cosell.settings", "cosell.errors", "cosell.clock", "cosell.redaction", "cosell"),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def layer_of(module: str) -> int:
    """The index of the layer holding ``module`` (the longest matching prefix wins)."""
    best, found = -1, len(LAYERS)
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, found = len(prefix), index
    return found


def imports(module: str) -> Iterator[tuple[int, str]]:
    """(line, module) for every cosell module ``module`` imports."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):  # the package uses absolute imports only
            base = node.module or ""
            targets = [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target.startswith("cosell") and target != module:
                yield node.lineno, target


GRAPH = {module: sorted({target for _, target in imports(module)}) for module in MODULES}


def upward_imports() -> list[str]:
    return sorted(
        {
            f"{module}:{line} imports {target} (a layer above)"
            for module in MODULES
            for line, target in imports(module)
            if layer_of(target) < layer_of(module)
        }
    )


def cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph.get(child, []))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_every_module_has_a_layer() -> None:
    assert all(layer_of(module) < len(LAYERS) for module in MODULES)


def test_imports_run_downward() -> None:
    assert upward_imports() == []


def test_no_import_cycles() -> None:
    assert cycles(GRAPH) == []


def test_the_cycle_check_finds_a_circle() -> None:
    graph = {"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}
    assert cycles(graph) == [["a", "b", "c"]]
