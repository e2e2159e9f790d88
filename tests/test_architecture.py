"""The rules that keep the code easy to change, checked on its source.

- Every registered demo satisfies the demo contract (:class:`tl_core.demos.protocol.Demo`) and
  declares what it offers beyond it in an :class:`~tl_core.demos.protocol.Offers`.
- No import circle among the modules of tl_core and tl_app (imports inside functions count:
  they run too, only later).
- tl_core never imports streamlit.
- Nothing in tl_app or tl_core/api.py probes a demo module with hasattr or getattr: what a demo
  offers is read from its OFFERS.
- No module of tl_core or tl_app is over MAX_LINES lines.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import tl_core
from tl_core.demos import DEMOS
from tl_core.demos.protocol import Demo, Offers

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("tl_core", "tl_app")
MAX_LINES = 500
PROBES = ("hasattr", "getattr")
DEMO_MODULE_NAMES = ("module", "demo_module")  # what the code calls a demo module it holds


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


SOURCES = {module_name(path): path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))}


def tree(module: str) -> ast.Module:
    return ast.parse(SOURCES[module].read_text(), filename=str(SOURCES[module]))


def is_type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def import_nodes(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement that runs, at module level or in a function (not those under
    `if TYPE_CHECKING:`, which never run)."""
    for child in ast.iter_child_nodes(node):
        if is_type_checking(child):
            for other in child.orelse:
                yield from import_nodes(ast.Module(body=[other], type_ignores=[]))
        elif isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child
        else:
            yield from import_nodes(child)


def imported_names(module: str) -> Iterator[str]:
    """What `module` imports, as dotted names: `import a.b` gives a.b; `from a import b` gives
    a.b where that is a module of ours, else a (b is then a name defined in package a);
    relative imports resolved."""
    package = module if SOURCES[module].name == "__init__.py" else module.rpartition(".")[0]
    for node in import_nodes(tree(module)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
            base = ".".join(anchor + ([base] if base else []))
        for alias in node.names:
            yield f"{base}.{alias.name}" if f"{base}.{alias.name}" in SOURCES else base


def imports_of(module: str) -> set[str]:
    """The modules of tl_core and tl_app that `module` imports (a package stands for its
    __init__.py; importing a submodule is no import of its package's __init__ here, or every
    package that imports its own parts would be a circle)."""
    return {name for name in imported_names(module) if name in SOURCES and name != module}


def import_graph() -> dict[str, set[str]]:
    """Who imports whom. The registry imports its demos by name (importlib), on first use:
    those imports count as its own."""
    graph = {module: imports_of(module) for module in SOURCES}
    graph["tl_core.demos"] |= {name for name in DEMOS.values() if name in SOURCES}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One import circle per group of modules that import each other (Tarjan's strongly
    connected components), each as the path a → b → ... → a."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [circle_in(graph, group) for group in groups]


def circle_in(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """A shortest path from the group's first module back to itself, inside the group."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph[node] & group):
                if nxt == start:
                    return paths[node] + [start]
                if nxt not in paths:
                    paths[nxt] = paths[node] + [nxt]
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"no circle in {sorted(group)}")


# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("demo", list(DEMOS))
def test_every_registered_demo_satisfies_the_contract(demo):
    module = tl_core.get_demo(demo)
    assert isinstance(module, Demo), f"{module.__name__} lacks members of tl_core.demos.protocol.Demo"
    assert isinstance(module.OFFERS, Offers), f"{module.__name__}.OFFERS is not an Offers"


def test_no_import_circle():
    found = cycles(import_graph())
    assert not found, "import circles:\n" + "\n".join(" → ".join(circle) for circle in found)


def test_the_import_graph_sees_imports_in_functions_and_the_registrys_demos():
    graph = import_graph()
    assert "tl_app.training_slots" in graph["tl_app.cached"]  # module level
    assert "tl_core.userdata.tables" in graph["tl_app.user_data"]  # inside table_source
    assert "tl_core.demos.linear" in graph["tl_core.demos"]  # by name, through importlib


def test_the_circle_finder_finds_a_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_tl_core_never_imports_streamlit():
    offenders = [
        f"{module} imports {name}"
        for module in SOURCES
        if module.startswith("tl_core")
        for name in imported_names(module)
        if name == "streamlit" or name.startswith("streamlit.")
    ]
    assert not offenders, offenders


def test_one_place_in_the_core_picks_a_runs_device():
    """DESIGN: one place picks the device. In the core only torch_demo.device_of asks
    runtime.pick_device, so a run, its store key and its source models agree on it."""
    callers = sorted(
        module
        for module in SOURCES
        if module.startswith("tl_core")
        for node in ast.walk(tree(module))
        if isinstance(node, ast.Call) and "pick_device" in ast.unparse(node.func)
    )
    assert callers == ["tl_core.demos.torch_demo"], callers


def is_demo_module(node: ast.AST) -> bool:
    """A name the code gives a demo module, or a call that fetches one (`get_demo(...)`)."""
    if isinstance(node, ast.Name):
        return node.id in DEMO_MODULE_NAMES
    if isinstance(node, ast.Call):
        called = node.func
        return (isinstance(called, ast.Name) and called.id == "get_demo") or (
            isinstance(called, ast.Attribute) and called.attr == "get_demo"
        )
    return False


def probes(module: str) -> list[str]:
    return [
        f"{SOURCES[module].relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}"
        for node in ast.walk(tree(module))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in PROBES
        and node.args
        and is_demo_module(node.args[0])
    ]


@pytest.mark.parametrize("where", ["tl_app", "tl_core.api"])
def test_no_hasattr_or_getattr_probe_of_a_demo_module(where):
    checked = [m for m in SOURCES if m == where or m.startswith(where + ".")]
    offenders = [line for module in checked for line in probes(module)]
    assert not offenders, "read the demo's OFFERS instead:\n" + "\n".join(offenders)


def test_the_probe_check_sees_a_probe():
    sample = ast.parse(
        "hasattr(module, 'run_many')\ngetattr(tl_core.get_demo(d), 'x', None)\ngetattr(st, 'x')"
    )
    calls = [n for n in ast.walk(sample) if isinstance(n, ast.Call) and getattr(n.func, "id", "") in PROBES]
    assert [is_demo_module(c.args[0]) for c in calls] == [True, True, False]


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_is_over_the_line_limit(package):
    lengths = {
        module: len(path.read_text().splitlines())
        for module, path in SOURCES.items()
        if module.split(".")[0] == package
    }
    offenders = sorted(
        (f"{SOURCES[m].relative_to(ROOT)}: {n} lines" for m, n in lengths.items() if n > MAX_LINES),
    )
    assert not offenders, f"over {MAX_LINES} lines:\n" + "\n".join(offenders)
