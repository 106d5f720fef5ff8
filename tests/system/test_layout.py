"""The layout is the architecture: `actors/` imports run one way, from the operator's tools down to
the store, the write side and the read side never import each other, and no module imports itself
back through others. Every import counts, those inside functions too."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Lower layers never import higher ones. `actors` (the public names of the model) and
# `actors.client` (the public names of the clients) are facades over their layer.
LAYERS = {
    "storage": 0,
    "actors.errors": 1,
    "actors.process": 2,
    "actors.model": 3, "actors": 3, "actors.protocol": 3,
    "actors.shard": 4, "actors.followers": 4,
    "actors.system": 5,
    "actors.clients": 6, "actors.client": 6,
    "actors.ops": 7, "actors.testing": 7,
}
NEVER = [("actors.shard", "actors.followers"), ("actors.followers", "actors.shard"),
         ("actors.model", "actors.protocol"), ("actors.protocol", "actors.model")]


def _module_of(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _area(module: str) -> str:
    """The entry of LAYERS a module belongs to: its longest prefix there."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in LAYERS:
            return ".".join(parts[:end])
    raise AssertionError(f"{module} belongs to no layer of tests/system/test_layout.py: add its package there")


def _imports(path: Path, module: str) -> set[str]:
    """The modules of actors/ and storage/ that `path` imports, relative ones resolved."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names if _is_module(f"{base}.{alias.name}")}
    return {name for name in found if name.split(".")[0] in ("actors", "storage") and _is_module(name)}


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def _graph() -> dict[str, set[str]]:
    graph = {}
    for path in sorted((ROOT / "actors").rglob("*.py")):
        module = _module_of(path)
        graph[module] = {name for name in _imports(path, module) if name != module}
    return graph


def _violations(graph: dict[str, set[str]]) -> list[str]:
    wrong = []
    for module, imported in graph.items():
        area = _area(module)
        for name in imported:
            target = _area(name)
            if LAYERS[target] > LAYERS[area]:
                wrong.append(f"{module} imports {name}: {area} is below {target}")
            if (area, target) in NEVER:
                wrong.append(f"{module} imports {name}: {area} never imports {target}")
    return sorted(wrong)


def _cycles(graph: dict[str, set[str]]) -> list[str]:
    cycles: list[str] = []
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            cycles.append(" -> ".join(path[path.index(module):] + [module]))
            return
        if module in done:
            return
        for name in sorted(graph.get(module, ())):
            if not module.startswith(name + "."):   # a package's own __init__ runs first: not a cycle
                visit(name, path + [module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
    return cycles


def test_imports_run_down_the_layers_and_the_two_sides_never_meet():
    wrong = _violations(_graph())
    assert not wrong, "\n".join(wrong)


def test_no_module_imports_itself_back_through_others():
    cycles = _cycles(_graph())
    assert not cycles, "\n".join(cycles)


def test_the_checks_catch_an_upward_import_a_crossing_and_a_cycle():
    graph = {"actors.shard.aggregate_host": {"actors.clients.sync_client", "actors.followers.pages"},
             "actors.clients.sync_client": {"actors.clients.async_client"},
             "actors.clients.async_client": {"actors.clients.sync_client"}}
    assert _violations(graph) == [
        "actors.shard.aggregate_host imports actors.clients.sync_client: actors.shard is below actors.clients",
        "actors.shard.aggregate_host imports actors.followers.pages: actors.shard never imports actors.followers"]
    assert _cycles(graph) == [
        "actors.clients.async_client -> actors.clients.sync_client -> actors.clients.async_client"]
    assert {_area(m) for m in _graph()} >= {"actors.shard", "actors.followers", "actors.system", "actors.clients"}
