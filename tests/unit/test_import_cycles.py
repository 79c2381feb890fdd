"""The project's modules import one another in one direction only: no cycle, however long.

A cycle makes import order matter (a module half-initialised when the other reads it) and ties
layers together that ARCHITECTURE.md keeps apart. grimp reads every import statically, those
inside functions and under ``TYPE_CHECKING`` included.
"""

from __future__ import annotations

import grimp
import networkx

PACKAGES = ("ssmenv", "tasks", "lab")


def test_no_module_of_the_project_imports_itself_through_others():
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    edges = networkx.DiGraph(
        (module, imported)
        for module in graph.modules
        for imported in graph.find_modules_directly_imported_by(module)
    )
    cycles = sorted(" -> ".join([*c, c[0]]) for c in networkx.simple_cycles(edges))
    assert cycles == []


def test_the_check_sees_an_import_inside_a_function(tmp_path, monkeypatch):
    # The cycle ssmenv.cli <-> ssmenv.parity was such an import: the check must catch its kind.
    package = tmp_path / "cyclic"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from cyclic import b\n")
    (package / "b.py").write_text("def f():\n    from cyclic import a\n    return a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    graph = grimp.build_graph("cyclic", cache_dir=None)
    assert graph.find_modules_directly_imported_by("cyclic.b") == {"cyclic.a"}
