"""The layers ARCHITECTURE.md lists depend only on the ones above them, every module of the
project is in one, and the core (the plan and every layer above it) imports nothing from pyinfra:
one plan, for the push driver (pyinfra) and for a program on the host alike.

grimp reads every import statically, those inside functions and under ``TYPE_CHECKING`` too.
"""

from __future__ import annotations

import grimp
from grimp import Layer

#: ARCHITECTURE.md's layers, top first: each may import only from itself and those above it.
LAYERS: dict[str, tuple[str, ...]] = {
    "settings": ("ssmenv.settings", "ssmenv.errors", "ssmenv.names", "ssmenv.origins",
                 "ssmenv.scrub", "ssmenv.health", "ssmenv.pace", "ssmenv.journald",
                 "ssmenv.processes", "ssmenv.runtimes", "ssmenv.contract", "ssmenv.rotation",
                 "ssmenv.policy"),
    "sources": ("ssmenv.sources", "ssmenv.aws", "ssmenv.ecr", "ssmenv.publication"),
    "app settings": ("ssmenv.config", "ssmenv.apps", "ssmenv.entrypoints", "ssmenv.credentials",
                     "ssmenv.description"),
    "variables": ("ssmenv.variables", "ssmenv.envfile", "ssmenv.manifest", "ssmenv.render"),
    "host state": ("ssmenv.hoststate", "ssmenv.accounts", "ssmenv.programs"),
    "plan": ("ssmenv.plan", "ssmenv.activation", "ssmenv.provision"),
    "drivers": ("tasks", "ssmenv.facts", "ssmenv.operations", "ssmenv.rollout", "ssmenv.remote",
                "ssmenv.fleet",
                # Around the push driver, on the control machine: the commands and their tools.
                "ssmenv.cli", "ssmenv.__main__", "ssmenv.report", "ssmenv.parity", "ssmenv.ec2",
                "ssmenv.dotenv_import", "ssmenv.scan", "ssmenv.gitfiles", "ssmenv.control",
                "ssmenv.archive", "ssmenv.iam", "ssmenv.publish", "ssmenv.bundle",
                # A database password's rotation (db rotate), each engine's side of it, and
                # whether a secret rotates faster than its hosts sync.
                "ssmenv.dbrotate", "ssmenv.databases", "ssmenv.rotation_window",
                # The pull driver: the agent on each host.
                "ssmenv.agent"),
}  # fmt: skip
CORE = ("settings", "sources", "app settings", "variables", "host state", "plan")
#: Its errors are pyinfra's exceptions, so pyinfra's CLI prints them as one line: the one module
#: of the core that names pyinfra (its exception classes only: no host, no state).
PYINFRA_ERRORS = "ssmenv.errors"


def _graph() -> grimp.ImportGraph:
    return grimp.build_graph("ssmenv", "tasks", "pyinfra", cache_dir=None)


def _in(module: str, names: tuple[str, ...]) -> bool:
    return any(module == n or module.startswith(n + ".") for n in names)


def test_each_layer_imports_only_from_the_layers_above_it():
    graph = _graph()
    # grimp's layers go the other way: a higher one may import the lower ones.
    layers = [Layer(*names, independent=False) for names in reversed(LAYERS.values())]
    illegal = sorted(
        " -> ".join([head, *route.middle, tail])
        for dependency in graph.find_illegal_dependencies_for_layers(layers)
        for route in dependency.routes for head in route.heads for tail in route.tails
    )  # fmt: skip
    assert illegal == []


def test_every_module_of_the_project_is_in_a_layer():
    listed = tuple(name for names in LAYERS.values() for name in names)
    modules = _graph().modules
    assert sorted(m for m in modules if m.startswith(("ssmenv.", "tasks"))
                  and not _in(m, listed)) == []  # fmt: skip


def test_the_core_imports_nothing_from_pyinfra():
    graph = _graph()
    core = tuple(name for layer in CORE for name in LAYERS[layer])
    found = sorted(
        f"{module} -> {imported}"
        for module in graph.modules if _in(module, core) and module != PYINFRA_ERRORS
        for imported in graph.find_modules_directly_imported_by(module)
        if _in(imported, ("pyinfra", "pyinfra_cli", "gevent"))
    )  # fmt: skip
    assert found == []
    assert graph.find_modules_directly_imported_by(PYINFRA_ERRORS) == {"pyinfra.api.exceptions"}


def test_the_agent_runs_without_pyinfra():
    # The pull driver runs on a host that has no pyinfra: its one way there is ssmenv.errors'
    # import, which falls back to Exception without it (the bundle carries no pyinfra).
    graph = _graph()
    graph.remove_import(importer=PYINFRA_ERRORS, imported="pyinfra.api.exceptions")
    for module in ("ssmenv.agent", "ssmenv.description"):
        assert not graph.chain_exists(module, "pyinfra", as_packages=True), module
