"""The module map (issue 14): which package may import which, and no import circles.

Every import counts, including those inside functions: a circle closed by a
lazy import is still a circle a reader has to hold in their head.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("detectors", "takedowns", "streams", "sim", "fuzz", "bench")
# Pure packages: the detection core and the takedown core never touch Faust, Kafka,
# HTTP servers or Prometheus, nor the shell that does.
PURE = ("detectors", "takedowns")
FORBIDDEN_IN_PURE = ("faust", "aiokafka", "kafka", "prometheus_client", "aiohttp", "streams", "sim", "bench")


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            found[name] = path
    return found


def imports(path: Path) -> set[str]:
    """Every absolute module name ``path`` imports (``from a import b`` counts as ``a`` and ``a.b``)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def graph() -> dict[str, set[str]]:
    known = modules()
    edges: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        for target in imports(path):
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                edges[name].add(target)
    return edges


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(name: str) -> None:
        index[name] = low[name] = len(index)
        stack.append(name)
        for target in sorted(edges[name]):
            if target not in index:
                visit(target)
                low[name] = min(low[name], low[target])
            elif target in stack:
                low[name] = min(low[name], index[target])
        if low[name] == index[name]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == name:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for name in sorted(edges):
        if name not in index:
            visit(name)
    return found


def test_no_module_imports_itself_back_through_others():
    assert circles(graph()) == []


def test_the_circle_finder_finds_a_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_detection_never_imports_the_takedown_core():
    """detectors/ finds; takedowns/ acts on what was found. The arrow points one way."""
    offending = [
        f"{name} imports {target}"
        for name, path in modules().items()
        if name.startswith("detectors")
        for target in imports(path)
        if target.split(".")[0] == "takedowns"
    ]
    assert offending == []


def test_pure_packages_import_neither_faust_kafka_prometheus_nor_the_shell():
    offending = []
    for name, path in modules().items():
        if name.split(".")[0] in PURE:
            for target in imports(path):
                if target.split(".")[0] in FORBIDDEN_IN_PURE:
                    offending.append(f"{name} imports {target}")
    assert offending == []


# Small rooms: a module a reader can hold, functions that fit on a screen.
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60
# Declarative tables: one declaration after another, nothing to follow.
DECLARATIVE = {"streams/metrics.py:Metrics.__init__"}
SIZED = ("detectors", "takedowns", "streams", "sim", "fuzz")


def sized_modules() -> list[Path]:
    return sorted(path for package in SIZED for path in (ROOT / package).rglob("*.py"))


def test_no_module_is_over_500_lines():
    long = {
        str(path.relative_to(ROOT)): count
        for path in sized_modules()
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_no_function_is_over_60_lines_except_declarative_tables():
    long = {}
    for path in sized_modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            owner = parents.get(node)
            qualified = f"{owner.name}.{node.name}" if isinstance(owner, ast.ClassDef) else node.name
            name = f"{path.relative_to(ROOT)}:{qualified}"
            if node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES and name not in DECLARATIVE:
                long[name] = node.end_lineno - node.lineno + 1
    assert long == {}
