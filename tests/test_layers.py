"""The packages' layers, read from the source with ``ast``: no import cycle, no upward import.

Layers, bottom to top: ``catalog`` (storage, errors root, fail points, progress display), then
``ingest`` and ``dedup`` (independent of each other), then ``haybale`` (the command line, the public
API and the demo). Every import counts, also one inside a function: a lazy import is still a
dependency, and a lazy import that closes a cycle only hides it.
"""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAYER = {"catalog": 0, "ingest": 1, "dedup": 1, "haybale": 2}


def module_files() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the product packages."""
    found = {}
    for package in LAYER:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Product modules that ``name`` imports (resolved to the deepest module that exists)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            candidates = [f"{module}.{alias.name}" for alias in node.names] + [module]
        else:
            continue
        for candidate in candidates:
            while candidate and candidate not in modules:
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name:
                targets.add(candidate)
                break
    return targets


def import_graph() -> dict[str, set[str]]:
    modules = module_files()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
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
            elif child not in index:
                index[child] = low[child] = counter
                counter += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph.get(child, ())))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def test_the_graph_sees_the_packages() -> None:
    graph = import_graph()
    assert {"catalog.catalog", "ingest.files_job", "dedup.job", "haybale.cli"} <= set(graph)
    assert "catalog.keys" in graph["catalog.catalog"]  # a known edge: the reader works


def test_no_import_cycles() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles (break each by moving what both sides need into its own module): " \
        + "; ".join(" <-> ".join(c) for c in found)


def test_no_upward_or_sideways_imports() -> None:
    bad = []
    for name, targets in import_graph().items():
        top = name.split(".")[0]
        for target in targets:
            other = target.split(".")[0]
            if other != top and LAYER[other] >= LAYER[top]:
                bad.append(f"{name} imports {target}")
    assert not bad, "imports that go up or sideways in the layers catalog < ingest, dedup < haybale: " \
        + "; ".join(sorted(bad))


def test_the_check_fails_on_a_cycle_and_an_upward_import() -> None:
    """The checks above can fail: a made-up graph with both faults is caught."""
    graph = {"catalog.a": {"catalog.b"}, "catalog.b": {"catalog.a", "ingest.x"}, "ingest.x": set()}
    assert cycles(graph) == [["catalog.a", "catalog.b"]]
    upward = [(n, t) for n, ts in graph.items() for t in ts
              if n.split(".")[0] != t.split(".")[0] and LAYER[t.split(".")[0]] >= LAYER[n.split(".")[0]]]
    assert upward == [("catalog.b", "ingest.x")]


def test_deploy_holds_files_not_a_package() -> None:
    assert not (REPO / "deploy" / "__init__.py").exists()
    assert not list((REPO / "deploy").glob("*.py"))
