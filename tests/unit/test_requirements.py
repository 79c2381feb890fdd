"""The pinned files match what ``pyproject.toml`` declares: ``requirements.txt`` is the runtime tree
and nothing more (the control host's rotation virtualenv installs it), ``requirements-test.txt``
adds the test extra's tree. The trees are read from the installed distributions' metadata."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def tree(requirements: Iterable[str]) -> set[str]:
    """The names of ``requirements`` and everything they need, extras and markers applied."""
    found: dict[str, set[str]] = {}  # name -> extras asked for
    pending = [Requirement(r) for r in requirements]
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        extras = set(requirement.extras)
        if name in found and extras <= found[name]:
            continue
        found[name] = found.get(name, set()) | extras
        try:
            needs = distribution(name).requires or []
        except PackageNotFoundError:
            pytest.fail(f"{name} is needed but not installed: run make")
        for text in needs:
            need = Requirement(text)
            extras_asked = found[name] | {""}
            if need.marker is None or any(need.marker.evaluate({"extra": e}) for e in extras_asked):
                pending.append(need)
    return set(found)


def pinned(path: Path) -> dict[str, str]:
    """Name -> version of every ``NAME==VERSION`` line, following ``-r FILE``."""
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            pins |= pinned(path.parent / line[3:].strip())
        elif line:
            name, _, version = line.partition("==")
            assert version, f"{path.name}: {line!r} is not pinned exactly"
            pins[canonicalize_name(name)] = version
    return pins


def test_requirements_txt_pins_the_runtime_tree_and_nothing_else():
    assert set(pinned(REPO / "requirements.txt")) == tree(PROJECT["dependencies"])


def test_requirements_test_txt_adds_the_tree_of_the_test_extra():
    declared = [*PROJECT["dependencies"], *PROJECT["optional-dependencies"]["test"]]
    assert set(pinned(REPO / "requirements-test.txt")) == tree(declared)


@pytest.mark.parametrize("tool", ["moto", "flask", "cfn-lint", "docker", "sympy", "pytest",
                                  "hypothesis", "ruff"])  # fmt: skip
def test_the_rotation_virtualenv_installs_no_test_tool(tool):
    assert tool not in pinned(REPO / "requirements.txt")
    assert tool in pinned(REPO / "requirements-test.txt")


def test_every_pin_is_the_version_installed_here():
    # The suite runs on exactly the pins (make reinstalls .venv when a requirements file changes).
    pins = pinned(REPO / "requirements-test.txt")
    assert pins == {name: distribution(name).version for name in pins}
