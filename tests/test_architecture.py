"""The package's import graph: no cycle, and no arrow up the layers.

The graph is built with ``ast`` from the source files (no module is imported): one node per
module of ``selfattn`` (a package is its ``__init__``), one edge ``A -> B`` for every
``import selfattn...`` / ``from ... import ...`` in ``A`` that names ``B``, at module level
*or inside a function* (a deferred import is still a dependency), relative imports
resolved, ``from P import name`` counted as an import of ``P.name`` when that is a module.
Importing ``a.b.c`` also runs ``a/__init__`` and ``a/b/__init__``, so the edge set includes
those ancestor packages, except the ones ``A`` sits in (they are already being imported
when ``A`` runs). Imports under ``if TYPE_CHECKING:`` are skipped, and so are those inside
a package's module-level ``__getattr__`` (PEP 562): that is how a name that moved up a
layer stays importable from its old home (``selfattn.positional.PositionedEncoder``, now
in ``selfattn.nn``) without the old home importing the new one.

Rule 1, no cycle: the graph has no strongly connected component of more than one module.

Rule 2, layers (DESIGN.md, "data flows one way"): every module belongs to the layer of its
first name under ``selfattn`` (``selfattn.nn.variants.performer`` is in ``nn``), ranked

    0 _checks, varlen  <  1 patterns  <  2 functional  <  3 positional (encodings, biases)
    <  4 nn  <  5 data  <  6 train, bench, experiments, viz, demo  <  7 cli, __main__,
    and the root package ``selfattn`` itself,

and an edge ``A -> B`` needs ``rank(B) <= rank(A)``: a module may import its own layer and
the layers below it, never one above. A module outside this table fails the test (give it
a layer here).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = "selfattn"

LAYERS: dict[str, int] = {
    "_checks": 0, "varlen": 0,
    "patterns": 1,
    "functional": 2, "distributed": 2,
    "positional": 3,
    "nn": 4,
    "data": 5,
    "train": 6, "bench": 6, "experiments": 6, "viz": 6, "demo": 6,
    "cli": 7, "__main__": 7, "": 7,
}

# Cycles still to be removed, each named: a cycle is tolerated while all of its modules are
# in one of these sets (or under one of the packages).
KNOWN_CYCLE_PACKAGES: tuple[str, ...] = ()
# (data.asr -> data.pos -> data.registry -> data.asr went when the registry began naming
# generators "module:function" instead of importing them.)
KNOWN_CYCLES: list[set[str]] = []


def _known(cycle: set[str]) -> bool:
    return any(cycle <= known for known in KNOWN_CYCLES) or any(
        all(m == pkg or m.startswith(pkg + ".") for m in cycle) for pkg in KNOWN_CYCLE_PACKAGES)


def module_files(src: Path = SRC) -> dict[str, Path]:
    """Every module of the package: dotted name -> file."""
    out = {}
    for path in sorted((src / ROOT).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.Module, is_package: bool):
    """Import nodes anywhere in the tree (functions included), except under TYPE_CHECKING
    and, in a package, inside its module-level ``__getattr__`` (moved-name aliases)."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if is_package and isinstance(node, ast.FunctionDef) and node.name == "__getattr__" \
                and node in tree.body:
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def import_graph(src: Path = SRC) -> dict[str, set[str]]:
    """``module -> modules it imports`` within the package (see the module docstring)."""
    files = module_files(src)
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        is_pkg = path.name == "__init__.py"
        package = name if is_pkg else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in _imports(ast.parse(path.read_text(), str(path)), is_pkg):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                if node.level:
                    base = package.split(".")
                    base = base[:len(base) - (node.level - 1)]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                names = [mod] + [f"{mod}.{a.name}" for a in node.names]
            for target in names:
                while target and target not in files:  # `import a.b.func` -> a.b
                    target = target.rpartition(".")[0]
                if target.split(".")[0] == ROOT and target != name:
                    targets.add(target)
        mine = set(_ancestors(name)) | {name}
        full = set()
        for t in targets:
            full |= {t, *_ancestors(t)}
        graph[name] = full - mine - {ROOT}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[set[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in graph:
                    continue
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = set()
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.add(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        found.append(comp)
    return found


def layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else ""
    if top not in LAYERS:
        raise KeyError(f"{module}: no layer for selfattn.{top}; add it to LAYERS in {__file__}")
    return LAYERS[top]


def upward_edges(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    return sorted((a, b) for a, targets in graph.items() for b in targets if layer(b) > layer(a))


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


def test_the_graph_sees_relative_and_function_level_imports(graph):
    # functional/dispatch.py imports .call at module level; nn/model.py imports
    # ..positional inside positional_module.
    assert "selfattn.functional.call" in graph["selfattn.functional.dispatch"]
    assert "selfattn.positional" in graph["selfattn.nn.model"]


def test_no_import_cycle(graph):
    found = [c for c in cycles(graph) if not _known(c)]
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(sorted(c)) for c in found)


def test_no_import_runs_up_the_layers(graph):
    bad = upward_edges(graph)
    assert not bad, "imports up the layers:\n" + "\n".join(
        f"{a} (layer {layer(a)}) -> {b} (layer {layer(b)})" for a, b in bad)


def test_every_module_has_a_layer(graph):
    for module in graph:
        layer(module)
