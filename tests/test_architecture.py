"""The house drawn from the code's own imports: no import cycle among envdoctor's modules, and no envdoctor
module imported inside a function (a lazy import is how a cycle hides), but for the few allowed below, each
with its reason. Read from the source with `ast`, imports inside functions included; nothing is imported.
The scripts sent to targets (probe/script/, proof/script/) import only the standard library and one another,
as envdoctor/payload.py checks; their own lazy imports (torch in a worker) are theirs."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "envdoctor"
TARGET_SIDE = ("envdoctor.probe.script", "envdoctor.proof.script")

# (importing module, imported module): why it is imported inside a function.
LAZY_ALLOWED = {
    ("envdoctor.hosts.transport", "envdoctor.hosts.transport.ssh"):
        "Fabric and paramiko take ~0.25 s to import; only a host reached over SSH needs them",
    ("envdoctor.cli.fleet_options", "envdoctor.hosts.transport.identities"):
        "paramiko's key loading (~0.1 s to import); only keys of hosts reached over SSH are unlocked",
}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        name = ".".join(parts)
        if not name.startswith(TARGET_SIDE):
            out[name] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path):
    """(imported envdoctor module, line, inside a function) for every import statement of the module.
    `from package import name` imports the package (its __init__ runs) and, when `name` is a submodule, that."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield alias.name, child.lineno, in_function
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    up = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join(up + ([base] if base else []))
                yield base, child.lineno, in_function
                for alias in child.names:
                    if f"{base}.{alias.name}" in MODULES:
                        yield f"{base}.{alias.name}", child.lineno, in_function
            yield from visit(child, inside)

    for imported, line, in_function in visit(ast.parse(path.read_text(), str(path)), False):
        while imported and imported not in MODULES:  # `import envdoctor.proof.stage` names a module; a
            imported = imported.rpartition(".")[0]   # `from m import function` names m
        if imported and imported.startswith("envdoctor") and imported != name:
            yield imported, line, in_function


GRAPH = {name: sorted({m for m, _, _ in _imports(name, path)}) for name, path in MODULES.items()}


def _cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each a set of modules that
    import one another, directly or through others."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, []):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return found


def _path_within(component: list[str]) -> str:
    """One cycle through the component's first module, spelled as the imports go: a -> b -> a."""
    members, start = set(component), component[0]
    trail, seen = [start], {start}
    while True:
        nxt = next(w for w in GRAPH[trail[-1]] if w in members and (w == start or w not in seen))
        trail.append(nxt)
        if nxt == start or nxt in seen:
            return " -> ".join(trail)
        seen.add(nxt)


def test_the_walk_sees_the_package():
    assert "envdoctor.diagnosis.catalog" in MODULES and "envdoctor.hosts.transport.ssh" in MODULES
    assert "envdoctor.models" in GRAPH["envdoctor.diagnosis.catalog"]
    assert not any(m.startswith(TARGET_SIDE) for m in MODULES)


def test_no_import_cycle():
    cycles = _cycles(GRAPH)
    assert not cycles, "import cycles:\n" + "\n".join(_path_within(c) for c in cycles)


def test_the_cycle_test_finds_a_cycle():
    graph = {"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": ["b"], "b": []}) == []


def _floor(module: str) -> str:
    """The floor a module lives on: its subpackage of envdoctor (hosts, diagnosis, ...), or the root."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and (PACKAGE / parts[1]).is_dir() else "envdoctor"


def test_floors_import_one_way():
    """No two floors import each other, through any path: the house has a top and a bottom. The root's
    shared modules are a floor of their own; `python -m envdoctor` (__main__) is the one door into the CLI."""
    floors: dict[str, set[str]] = {}
    for name, imported in GRAPH.items():
        if name == "envdoctor.__main__":
            continue
        floors.setdefault(_floor(name), set()).update(_floor(m) for m in imported if _floor(m) != _floor(name))
    why = {(a, b): [f"{n} -> {m}" for n, ms in GRAPH.items() for m in ms if _floor(n) == a and _floor(m) == b]
           for a, bs in floors.items() for b in bs}
    loops = _cycles({a: sorted(bs) for a, bs in floors.items()})
    assert not loops, "floors that import each other:\n" + "\n".join(
        f"{' <-> '.join(c)}: " + "; ".join(x for a in c for b in c for x in why.get((a, b), [])[:2]) for c in loops)


def test_no_envdoctor_import_inside_a_function():
    lazy = [(name, imported, line) for name, path in MODULES.items()
            for imported, line, in_function in _imports(name, path) if in_function]
    unexplained = [f"{MODULES[n].relative_to(PACKAGE.parent)}:{line}: {imported}" for n, imported, line in lazy
                   if (n, imported) not in LAZY_ALLOWED]
    assert not unexplained, "imports inside functions (move them to the top, or allow one with its reason):\n" \
        + "\n".join(unexplained)


@pytest.mark.parametrize("pair", sorted(LAZY_ALLOWED))
def test_each_allowed_lazy_import_still_exists(pair):
    name, imported = pair
    assert any(i == imported and f for i, _, f in _imports(name, MODULES[name])), \
        f"{name} no longer imports {imported} inside a function: drop it from LAZY_ALLOWED"
