"""Runs ``deploy.py``, ``rotate.py`` and ``drift.py`` in this process, as pyinfra's CLI runs them
(once per host, in pyinfra's context), against fixed host states and fixed fetched variables, and
writes down everything they decide: the state reads they ask for, the operations they add (with
each provisioning and activation plan, its payload and its secrets), the lines they print and
the reports they hand over.

Nothing reaches a host or AWS: the state read answers with the scenario's ``HostState``, the
sources with its parameters (``ssmenv.sources.fetch``), and pyinfra's operations are added to a
``State`` that never runs them (``check_for_changes=False``: an operation's commands are made
here, by calling its generator, only for the toolkit's own operations).

``python -m tests.golden.harness`` writes the golden files again (after a change that is meant to
change what a deploy does).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from unittest import mock

from pyinfra.api import Config, FunctionCommand, Inventory, State, StringCommand
from pyinfra.context import ctx_host, ctx_state

from ssmenv import manifest, report, sources
from ssmenv.activation import Activation
from ssmenv.archive import build_archive
from ssmenv.facts import HostState
from ssmenv.provision import Provision
from ssmenv.sources import Fetched
from ssmenv.sources.ssm import Parameter
from tasks import release
from tasks import state as state_read
from tests.hostmodel import project

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent
SCRIPTS = ("deploy.py", "rotate.py", "drift.py")


@dataclass(frozen=True)
class Run:
    """One run of ``script`` over ``hosts`` (name -> host data), each app of each host reading
    ``states[(host, app)]``, the sources answering ``parameters`` (SSM name -> (value, version,
    type))."""

    script: str
    hosts: Mapping[str, Mapping[str, Any]]
    parameters: Mapping[str, tuple[str, int, str]]
    states: Mapping[tuple[str, str], HostState]
    title: str = ""
    #: The images each host has, by reference.
    images: Mapping[str, frozenset[str]] = field(default_factory=dict)


@dataclass
class Outcome:
    """What a run decided: its text, and per host the plans it made (for a next run's state)."""

    lines: list[str] = field(default_factory=list)
    activations: dict[tuple[str, str], Activation] = field(default_factory=dict)
    provisions: dict[tuple[str, str], Provision] = field(default_factory=dict)
    packages: dict[str, tuple[str, ...]] = field(default_factory=dict)
    manifests: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    error: str | None = None


# --- the inputs, as text ----------------------------------------------------------------------


def dump_state(state: HostState) -> list[str]:
    """Every field of ``state``, one per line (the key too: it is a test's)."""
    lines = []
    for f in fields(state):
        value = getattr(state, f.name)
        if isinstance(value, Mapping):
            value = dict(sorted(value.items()))
        lines.append(f"  {f.name}: {value!r}")
    return lines


def dump_inputs(run: Run) -> list[str]:
    lines = [f"run {run.script}" + (f": {run.title}" if run.title else "")]
    for name, data in run.hosts.items():
        lines.append(f"host {name}: {json.dumps(data, sort_keys=True, default=str)}")
    for name, (value, version, kind) in sorted(run.parameters.items()):
        lines.append(f"parameter {name} v{version} {kind}: {value!r}")
    return lines


# --- the outputs, as text ---------------------------------------------------------------------


def _archives() -> dict[str, str]:
    """Each release archive's line as it travels, by a name that does not change with the
    examples' files: ``archive <examples/app>``."""
    found = {}
    for source in ("examples/app", "examples/python-app"):
        _, path = build_archive(ROOT / source)
        data = path.read_bytes()
        text = base64.b64encode(data).decode()
        found[f"archive {len(text)} {hashlib.sha256(data).hexdigest()}"] = f"archive <{source}>"
        found[text] = f"<{source} base64>"
    return found


def _normal(text: str) -> str:
    for real, shown in _archives().items():
        text = text.replace(real, shown)
    return text.replace(str(ROOT), "<checkout>")


def _provision_lines(plan: Provision) -> list[str]:
    lines = [f"  describe: {plan.describe()}", *(f"  | {line}" for line in plan.plan())]
    lines.append(f"  payload: {plan.payload()!r}")
    lines.append(f"  secrets: {list(plan.secrets)!r}")
    return lines


def _activation_lines(plan: Activation, pace: Any) -> list[str]:
    lines = [f"  pace: {pace!r}", f"  timeout: {plan.timeout}"]
    lines += [f"  | {line}" for line in plan.plan()]
    for f in plan.files:
        if f.content is not None:
            lines.append(f"  content {f.path}:")
            lines += [f"    {line}" for line in f.content.splitlines()]
    lines.append(f"  payload: {plan.payload()!r}")
    lines.append(f"  secrets: {list(plan.secrets)!r}")
    return lines


# --- running a script -------------------------------------------------------------------------


def _fetch(parameters: Mapping[str, tuple[str, int, str]]) -> Callable[[Mapping], Fetched]:
    def fetch(specs: Mapping[str, Any]) -> Fetched:
        answers: dict[str, Any] = {}
        if "ssm_path" in specs:
            path = specs["ssm_path"].path.rstrip("/") + "/"
            answers["ssm_path"] = {
                name: Parameter(name, value, version, kind)
                for name, (value, version, kind) in parameters.items()
                if name.startswith(path)
            }
        return Fetched(answers)

    return fetch


class _Warnings(logging.Handler):
    def __init__(self, lines: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"warning: {record.getMessage()}")


def _keys() -> Iterator[str]:
    n = 0
    while True:
        n += 1
        yield f"{n:02x}" * manifest.KEY_BYTES


@contextmanager
def _patched(
    run: Run, lines: list[str], queries: list[str], reports: list[str]
) -> Iterator[None]:
    keys = _keys()

    def read(host, fact, **kwargs):
        # What it asks of the app's image only for an app that runs one.
        asked = {k: v for k, v in kwargs.items()
                 if k != "app" and (kwargs.get("image") or k not in ("engines", "image"))}
        queries.append(f"read state {host.name} {kwargs['app']}: "
                       f"{json.dumps(asked, sort_keys=True, default=list)}")  # fmt: skip
        lines.append(queries[-1])
        found = project(run.states[(host.name, kwargs["app"])],
                        run.images.get(host.name, frozenset()), kwargs)  # fmt: skip
        lines.extend(dump_state(found))
        return found

    def emit(host, differs, names=(), app=None):
        # Another channel than the lines printed (a pipe to python -m ssmenv): listed after them.
        reports.append(f"report {host} {app}: differs={differs} names={list(names)}")

    with ExitStack() as stack:
        stack.enter_context(mock.patch.object(state_read, "quiet_fact", read))
        stack.enter_context(mock.patch.object(sources, "fetch", _fetch(run.parameters)))
        stack.enter_context(mock.patch.object(manifest, "new_key", lambda: next(keys)))
        stack.enter_context(mock.patch.object(report, "emit", emit))
        yield


def _clear() -> None:
    sources.clear_cache()
    release._say.cache_clear()


def run(spec: Run) -> Outcome:
    """Run ``spec``'s script for each of its hosts in turn, as pyinfra's CLI would."""
    _clear()
    outcome = Outcome()
    lines = outcome.lines
    lines += dump_inputs(spec)
    inventory = Inventory((list(spec.hosts.items()), {}))
    state = State(inventory, Config(), check_for_changes=False)
    warnings = _Warnings(lines)
    logger = logging.getLogger("pyinfra")
    logger.addHandler(warnings)
    code = compile((ROOT / spec.script).read_text(), str(ROOT / spec.script), "exec")
    queries: list[str] = []
    reports: list[str] = []
    try:
        with _patched(spec, lines, queries, reports), ctx_state.use(state):
            for host in inventory:
                host.log = lambda message, log_func=None, name=host.name: lines.append(
                    f"log {name}: {message}")
                with ctx_host.use(host):
                    try:
                        # As pyinfra's CLI runs a deploy file (pyinfra_cli.util.exec_file).
                        exec(code, {"__file__": str(ROOT / spec.script)})  # noqa: S102
                    except Exception as e:  # a refusal is an outcome too
                        outcome.error = f"{type(e).__name__}: {e}"
                        lines.append(f"error {host.name}: {outcome.error}")
                        continue
                    finally:
                        lines.extend(reports)
                        reports.clear()
                    _operations(state, host, outcome)
    finally:
        logger.removeHandler(warnings)
    outcome.lines = [_normal(line) for line in lines]
    return outcome


INSTALLS = ("Install runtime packages: ", "Install without their recommends: ")


def _operations(state: State, host: Any, outcome: Outcome) -> None:
    lines = outcome.lines
    for op_hash in host.op_hash_order:
        names = sorted(state.op_meta[op_hash].names)
        lines.append(f"operation {host.name}: {' / '.join(names)}")
        data = state.ops[host].get(op_hash)
        if data is None:
            continue
        # pyinfra's own apt operations (tasks/bootstrap.py): named by the packages they install.
        installs = [n.split(" | ")[-1] for n in names
                    if n.split(" | ")[-1].startswith(INSTALLS)]  # fmt: skip
        if installs:
            packages = tuple(installs[0].split(": ", 1)[1].split(", "))
            outcome.packages[host.name] = outcome.packages.get(host.name, ()) + packages
            continue
        with ctx_host.use(host):
            commands = list(data.command_generator())
        for command in commands:
            if isinstance(command, FunctionCommand):
                args = command.args
                if isinstance(args[0], Activation):
                    outcome.activations[(host.name, args[0].app)] = args[0]
                    lines += _activation_lines(*args)
                elif isinstance(args[0], Provision):
                    outcome.provisions[(host.name, args[0].app)] = args[0]
                    lines += _provision_lines(args[0])
                else:
                    lines.append(f"  function {command.function.__name__}")
            elif isinstance(command, StringCommand):
                stdin = command.connector_arguments.get("_stdin")
                lines.append(f"  command: {command.get_raw_value()}")
                if stdin is not None:
                    lines.append(f"  stdin: {stdin!r}")
                    app = names[0].rsplit("/", 1)[-1].split(".")[0]
                    outcome.manifests[(host.name, app)] = (names[0].split(" ")[-1], stdin)
            else:
                lines.append(f"  {type(command).__name__}: {command!r}")


def text(runs: Sequence[Outcome]) -> str:
    return "\n".join(line for outcome in runs for line in [*outcome.lines, ""])


def write(names: Sequence[str] = ()) -> None:
    from tests.golden.scenarios import SCENARIOS

    for name, scenario in SCENARIOS.items():
        if names and name not in names:
            continue
        (GOLDEN / f"{name}.txt").write_text(text(scenario()))
        print(f"wrote {name}.txt")


if __name__ == "__main__":
    write(sys.argv[1:])
