"""The package's folders are its layers: every import points down (or sideways within a layer,
without a cycle). A check over the ``ast`` of every module, including imports inside functions
(how the 11-module cycle once hid: ``config.validate`` imported the registries above it)."""

import ast
from pathlib import Path

import pytest

from lth_hedging.foundations.code import PACKAGE

# bottom to top; the modules directly in the package (``configure``, ``notebook``) are the top
LAYERS = ("foundations", "market", "nets", "measures", "studies", "presentation", "")


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> str:
    head = module.split(".")[0]
    return head if head in LAYERS[:-1] else ""


def imports(root: Path) -> dict[str, set[str]]:
    """Module → the package modules it imports (anywhere in its body), names from ``root``."""
    graph = {}
    for path in sorted(root.rglob("*.py")):
        name = module_name(path, root)
        parts = [p for p in name.split(".") if p]
        package = parts if path.name == "__init__.py" else parts[:-1]
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package[:len(package) - node.level + 1]
                targets = ([".".join([*base, node.module])] if node.module else
                           [".".join([*base, a.name]) for a in node.names])
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] \
                    == root.name:
                rest = node.module[len(root.name) + 1:]
                targets = [f"{rest}.{a.name}" if rest else a.name for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name[len(root.name) + 1:] for a in node.names
                           if a.name.split(".")[0] == root.name]
            else:
                continue
            for target in targets:
                # ``from .studies import stages`` names a module; ``from .x import f`` a name
                # in x; a name of the package's face (``from lth_hedging import load_config``,
                # ``import lth_hedging``) is the face itself, "" (the top layer)
                while target and not _exists(root, target):
                    target = target.rpartition(".")[0]
                if target != name:
                    found.add(target)
        graph[name] = found
    return graph


def _exists(root: Path, module: str) -> bool:
    path = root / module.replace(".", "/")
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def upward(graph: dict[str, set[str]]) -> list[str]:
    """Imports from a lower layer to a higher one (the package's face, ``__init__``, exempt:
    it re-exports the top)."""
    rank = {name: i for i, name in enumerate(LAYERS)}
    return sorted(f"{a} -> {b}" for a, targets in graph.items() if a != "" for b in targets
                  if rank[layer(b)] > rank[layer(a)] and not (layer(a) and b == layer(a)))


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles (Tarjan's strongly connected components of more than one module)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle_and_no_import_points_up():
    graph = imports(PACKAGE)
    assert len(graph) > 30 and all(layer(m) in LAYERS for m in graph)
    assert cycles(graph) == []
    assert upward(graph) == []


def test_every_module_sits_in_a_layer():
    top = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    assert top == {"configure", "notebook"}
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"} \
        == set(LAYERS[:-1])


@pytest.mark.parametrize("source, problems", [
    # the cycle that once was: the schema imported a registry inside a function
    ({"foundations/config.py": "def validate():\n    from ..studies.tickets import KINDS\n",
      "studies/tickets.py": "from ..foundations.config import validate\n"}, {"up", "cycle"}),
    ({"studies/a.py": "from .b import f\n", "studies/b.py": "from . import a\n"}, {"cycle"}),
    ({"market/x.py": "import lth_hedging.nets.y\n", "nets/y.py": ""}, {"up"}),
    ({"nets/y.py": "from ..market.x import f\n", "market/x.py": "def f(): pass\n"}, set()),
    # through the package's face: the top layer
    ({"foundations/a.py": "from lth_hedging import load_config\n"}, {"up"}),
    ({"foundations/a.py": "import lth_hedging\n"}, {"up"}),
    ({"foundations/a.py": "from .. import load_config\n"}, {"up"}),
    ({"studies/a.py": "def f():\n    from ..presentation import plots\n",
      "presentation/plots.py": ""}, {"up"}),
])
def test_the_check_fails_on_a_cycle_or_an_upward_import(tmp_path, source, problems):
    root = tmp_path / "lth_hedging"
    root.mkdir()
    (root / "__init__.py").write_text("from .foundations import a\n")
    for name in LAYERS[:-1]:
        (root / name).mkdir()
        (root / name / "__init__.py").write_text("")
    for path, text in source.items():
        (root / path).write_text(text)
    graph = imports(root)
    assert bool(upward(graph)) == ("up" in problems)
    assert bool(cycles(graph)) == ("cycle" in problems)
