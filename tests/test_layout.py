"""The package's layering (DESIGN.md): no import circle, counting ``if TYPE_CHECKING:`` and
function-local imports and the package ``__init__`` every import executes; methods never
import evaluation; the leaf modules import nothing above them."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "skelssl"
LEAVES = {
    "skelssl.typed",
    "skelssl.diagnostics",
    "skelssl.checkpoint",
    "skelssl.skeleton",
    "skelssl.train_config",
    "skelssl.evaluation.config",
    "skelssl.models.config",
}


def package_sources(root: Path = PACKAGE) -> tuple[dict[str, str], set[str]]:
    """``({"skelssl.x.y": source}, {names that are packages})`` for every module under ``root``."""
    sources, packages = {}, set()
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
            packages.add(".".join(parts))
        sources[".".join(parts)] = path.read_text()
    return sources, packages


def ancestors(name: str) -> list[str]:
    """``a.b.c`` -> ``["a", "a.b"]``: the packages whose ``__init__`` importing it executes."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def imported_names(name: str, source: str, modules: set[str], packages: set[str]) -> set[str]:
    """The modules that module ``name`` imports anywhere in ``source``: module level,
    function-local and under ``if TYPE_CHECKING:`` alike. ``from a import b`` counts as
    ``a.b`` where that is a module, else ``a``; relative imports are resolved."""
    package = name if name in packages else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                child = f"{base}.{alias.name}"
                found.add(child if child in modules else base)
    return {target for target in found if target in modules}


def build_graph(sources: dict[str, str], packages: set[str]) -> dict[str, set[str]]:
    """Module -> the modules executing it runs. Importing ``a.b.c`` also runs the packages
    ``a`` and ``a.b`` (their ``__init__``), except the importer's own packages, which
    Python has started before the importer."""
    modules = set(sources)
    graph = {}
    for name, source in sources.items():
        direct = imported_names(name, source, modules, packages)
        own = set(ancestors(name))
        implied = {p for target in direct for p in ancestors(target) if p in modules} - own
        graph[name] = (direct | implied) - {name}
    return graph


def import_graph() -> dict[str, set[str]]:
    return build_graph(*package_sources())


def find_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every circle a depth-first walk meets, each as ``[a, b, ..., a]``."""
    circles: list[list[str]] = []
    done: set[str] = set()

    def visit(node: str, stack: list[str]) -> None:
        if node in stack:
            circles.append(stack[stack.index(node) :] + [node])
            return
        if node in done:
            return
        stack.append(node)
        for target in sorted(graph[node]):
            visit(target, stack)
        stack.pop()
        done.add(node)

    for start in sorted(graph):
        visit(start, [])
    return circles


def test_no_import_circles():
    circles = find_circles(import_graph())
    assert circles == [], " | ".join(" -> ".join(circle) for circle in circles)


def test_methods_never_import_evaluation_and_leaves_stay_leaves():
    graph = import_graph()
    for name, targets in graph.items():
        if name.startswith("skelssl.methods"):
            assert not any(t.startswith("skelssl.evaluation") for t in targets), name
    for leaf in LEAVES:
        assert graph[leaf] <= {"skelssl.errors", "skelssl"}, (leaf, graph[leaf])


def test_the_detector_finds_planted_circles():
    """A TYPE_CHECKING circle, a function-local one and a package-level one (through an
    ``__init__``) are each found; the same modules without the back edge are clean."""
    packages = {"p", "p.sub"}
    base = {"p": "", "p.sub": "from p.sub import low\n", "p.sub.low": "", "p.top": ""}
    type_checking = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from p.top import X\n"
    local = "def f():\n    from p import top\n"
    planted = {
        "type_checking": {**base, "p.top": "import p.sub.low\n", "p.sub.low": type_checking},
        "function-local": {**base, "p.top": "from p.sub.low import y\n", "p.sub.low": local},
        # p.top -> p.sub.low also runs p.sub's __init__, which imports p.top
        "package-level": {**base, "p.top": "import p.sub.low\n", "p.sub": "from p import top\n"},
    }
    for kind, sources in planted.items():
        circles = find_circles(build_graph(sources, packages))
        assert circles and "p.top" in circles[0], kind
    clean = {**base, "p.top": "import p.sub.low\nfrom p.sub import low\n"}
    assert find_circles(build_graph(clean, packages)) == []
    # a submodule importing its sibling does not count its own package as a circle
    assert (
        find_circles(build_graph({**base, "p.sub.low": "from p.sub import low\n"}, packages)) == []
    )
