"""The package's layers, checked: pure wire formats, no import circles, short modules, one face.

ARCHITECTURE.md draws the layers; these tests (and the import-linter contracts in pyproject.toml,
which ``.ci/run`` runs as ``lint-imports``) keep the drawing true. grimp, the library behind
import-linter, reads every import statement — function-level ones included — without running
the code.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp
import pytest

import rtlab

PACKAGE = Path(rtlab.__file__).parent
MAX_MODULE_LINES = 400


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_the_wire_formats_import_without_aiohttp() -> None:
    """`rtlab.wire` is pure: it imports with aiohttp (and asyncio's sockets) unavailable."""
    done = run_python("import sys; sys.modules['aiohttp'] = None; import rtlab.wire as w; "
                      "print(w.accept_key('dGhlIHNhbXBsZSBub25jZQ=='))")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455 §1.3's example


def test_import_rtlab_loads_no_networking_or_plotting_library() -> None:
    done = run_python("import sys, rtlab; print(sorted(m for m in ('aiohttp', 'matplotlib', "
                      "'ipywidgets', 'anywidget') if m in sys.modules))")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return cycles


def test_no_import_circle_anywhere_in_rtlab() -> None:
    graph = grimp.build_graph("rtlab")
    assert import_cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The check above would be worthless if it could not see a circle: give it one."""
    graph = grimp.ImportGraph()
    for module in ("a", "a.x", "a.y", "a.z"):
        graph.add_module(module)
    graph.add_import(importer="a.x", imported="a.y")
    graph.add_import(importer="a.y", imported="a.x")
    graph.add_import(importer="a.z", imported="a.x")
    assert import_cycles(graph) == [["a.x", "a.y"]]


def test_nothing_inside_rtlab_imports_the_face() -> None:
    """Modules import the real module (`from ..net import serve`), never `rtlab` itself:
    the face imports everything lazily, and an import of it from inside would be a circle."""
    graph = grimp.build_graph("rtlab")
    importers = graph.find_modules_that_directly_import("rtlab")
    assert importers == set()


def test_every_module_is_short_enough_to_read_in_one_sitting() -> None:
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert long == {}, f"split these modules (over {MAX_MODULE_LINES} lines): {long}"


def test_every_wire_module_declares_what_it_exports() -> None:
    for path in (PACKAGE / "wire").glob("*.py"):
        assert "__all__" in path.read_text(encoding="utf-8"), path


@pytest.mark.parametrize("name", sorted(rtlab.__all__))
def test_every_name_on_the_face_resolves(name: str) -> None:
    assert getattr(rtlab, name) is not None


def test_the_face_names_the_experiments_not_the_metrics_module() -> None:
    """`rtlab.measure` is the function a notebook calls, even after `rtlab.metrics` is imported."""
    import rtlab.metrics  # noqa: F401 - importing a submodule must not shadow a face name

    assert callable(rtlab.measure) and rtlab.measure.__module__ == "rtlab.lessons.experiments"


def test_import_linter_contracts_are_kept() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    if not lint.exists():
        pytest.skip("lint-imports is not installed in this environment")
    done = subprocess.run([str(lint)], capture_output=True, text=True, timeout=120,
                          cwd=PACKAGE.parent)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout
