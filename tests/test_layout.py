"""The package's layering (DESIGN.md): no import circles, function-local imports included;
methods never import evaluation; the leaf modules import nothing above them."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "skelssl"
LEAVES = {"skelssl.typed", "skelssl.diagnostics", "skelssl.checkpoint", "skelssl.skeleton"}


def module_names() -> dict[str, Path]:
    """``skelssl.x.y`` -> file, for every module of the package."""
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """The skelssl modules ``path`` imports anywhere in its body, function-local imports
    included, ``if TYPE_CHECKING:`` blocks (annotations only) left out; ``from a import b``
    counts as ``a.b`` where that is a module, else ``a``."""
    found = set()
    for node in runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("skelssl")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("skelssl"):
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in modules else node.module)
    return {name for name in found if name in modules}


def runtime_nodes(tree: ast.AST):
    """Every node of ``tree`` outside ``if TYPE_CHECKING:`` blocks."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            continue
        yield node
        yield from runtime_nodes(node)


def import_graph() -> dict[str, set[str]]:
    modules = module_names()
    return {name: imports_of(path, modules) - {name} for name, path in modules.items()}


def test_no_import_circles():
    graph = import_graph()
    circles = []

    def visit(node, stack, done):
        if node in stack:
            circles.append(stack[stack.index(node) :] + [node])
            return
        if node in done:
            return
        stack.append(node)
        for target in sorted(graph[node]):
            visit(target, stack, done)
        stack.pop()
        done.add(node)

    done: set[str] = set()
    for start in sorted(graph):
        visit(start, [], done)
    assert circles == [], " | ".join(" -> ".join(circle) for circle in circles)


def test_methods_never_import_evaluation_and_leaves_stay_leaves():
    graph = import_graph()
    for name, targets in graph.items():
        if name.startswith("skelssl.methods"):
            assert not any(t.startswith("skelssl.evaluation") for t in targets), name
    for leaf in LEAVES:
        assert graph[leaf] <= {"skelssl.errors"}, (leaf, graph[leaf])
