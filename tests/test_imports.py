"""Heavy libraries are imported only where they are used.

`nkru --help` and `import nkru.cli` must not import great-expectations,
pandera or pandas; importing any layer's module must not import
great-expectations (only running the expectations layer does). Each check runs
in a fresh interpreter, so what other tests imported does not count.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys

import pytest

from tests.helpers import REPO
from nkru.layers import LAYERS

HEAVY = ("great_expectations", "pandera", "pandas")
REPORT = "import json, sys; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"


def _imported(code: str) -> set[str]:
    script = f"{code}\n{REPORT}"
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_nkru_help_imports_nothing_heavy():
    code = ("import sys, contextlib, io\n"
            "sys.argv = ['nkru', '--help']\n"
            "from nkru.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try:\n        main()\n    except SystemExit:\n        pass\n")
    modules = _imported(code)
    assert "nkru" in modules
    assert "validate" not in modules
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


def test_import_validate_cli_imports_nothing_heavy():
    modules = _imported("import nkru.cli")
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


def test_validate_help_imports_nothing_heavy():
    code = ("import sys, contextlib, io\n"
            "sys.argv = ['nkru', 'validate', '--help']\n"
            "from nkru.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try:\n        main()\n    except SystemExit:\n        pass\n")
    assert not _imported(code) & set(HEAVY)


@pytest.mark.slow
@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_layer_module_does_not_import_great_expectations(layer):
    assert "great_expectations" not in _imported(f"import {LAYERS[layer]}")


def test_suites_and_renderers_do_not_import_great_expectations():
    modules = _imported("import nkru.suites, nkru.suites.generate, nkru.render.junit, nkru.render.github")
    assert "great_expectations" not in modules



def test_the_cli_returns_polars_freed_memory_at_once_unless_the_user_says_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    """`nkru` sets polars' jemalloc to hand freed pages back (docs/performance.md); a user's own setting wins."""
    import sys

    from nkru.cli import POLARS_ALLOCATOR, main

    variable, setting = POLARS_ALLOCATOR
    for before, after in ((None, setting), ("narenas:1", "narenas:1")):
        if before is None:
            monkeypatch.delenv(variable, raising=False)
        else:
            monkeypatch.setenv(variable, before)
        monkeypatch.setattr(sys, "argv", ["nkru", "--help"])
        with pytest.raises(SystemExit):
            main()
        assert os.environ[variable] == after


# -- the import graph: no circles, no import from a lower floor to a higher one ------------------------

import ast  # noqa: E402
from pathlib import Path  # noqa: E402

#: The top floors: the public functions, the command line and the renderers.
TOP = ("nkru.api", "nkru.cli", "nkru.render", "nkru.__main__")
#: The products that act on a validated package (they may call the gate, `nkru.api.validate_package`).
PRODUCTS = ("nkru.release", "nkru.export", "nkru.report", "nkru.sheet")

def _modules() -> dict[str, Path]:
    found = {}
    for path in (REPO / "nkru").rglob("*.py"):
        parts = path.relative_to(REPO).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _owner(name: str, modules: dict[str, Path]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


@functools.cache
def import_graph() -> dict[str, set[str]]:
    """Module -> the nkru modules it imports, anywhere in it (a deferred import inside a function counts).
    Read once per run (every module parsed): the tests only read it."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets = [f"{node.module}.{alias.name}" for alias in node.names]
            for target in targets:
                owner = _owner(target, modules) if target.startswith("nkru.") else None
                if owner and owner != name and owner != "nkru":
                    graph[name].add(owner)
    return graph


def circles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _floor(name: str, floors: tuple[str, ...]) -> bool:
    return any(name == f or name.startswith(f + ".") for f in floors)


def test_the_import_graph_is_read_from_every_module():
    graph = import_graph()
    assert len(graph) > 40 and sum(map(len, graph.values())) > 100
    assert "nkru.types" in graph["nkru.reader"] and "nkru.reader" in graph["nkru.package"]
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]  # the detector detects


def test_no_import_circles_among_nkru_modules():
    found = circles(import_graph())
    assert not found, f"import circles: {[sorted(c) for c in found]}"


@pytest.mark.parametrize("floor", ["nkru.types", "nkru.reader", "nkru.archive", "nkru.package", "nkru.snapshot",
                                   "nkru.loader", "nkru.offsets", "nkru.coverage"])
def test_the_table_floors_are_layered(floor):
    """One way: types <- reader <- package <- snapshot/loader; nothing of theirs imports a floor above them."""
    graph = import_graph()
    order = ["nkru.types", "nkru.reader", "nkru.archive", "nkru.package"]
    above = set(order[order.index(floor) + 1:]) if floor in order else set()
    reached, todo = set(), [floor]
    while todo:  # everything the floor imports, directly or not
        for other in graph[todo.pop()]:
            if other not in reached:
                reached.add(other)
                todo.append(other)
    assert floor not in reached, f"{floor} imports itself through {sorted(reached)}"
    assert not reached & above, f"{floor} imports the floors above it: {sorted(reached & above)}"
    assert not {m for m in reached if _floor(m, TOP)}, f"{floor} imports {sorted(m for m in reached if _floor(m, TOP))}"


def test_no_lower_module_imports_the_api_the_cli_or_the_renderers():
    graph = import_graph()
    lower = [name for name in graph if not _floor(name, TOP + PRODUCTS) and name != "nkru"]
    assert len(lower) > 30
    wrong = {name: sorted(m for m in graph[name] if _floor(m, TOP)) for name in lower}
    assert not {k: v for k, v in wrong.items() if v}, wrong
