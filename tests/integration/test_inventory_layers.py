"""Group data layering as the real ``pyinfra`` CLI applies it (``debug-inventory --json``), for
the repository's inventory files and for pyinfra's default.

Each layer's group data file sets ``layer`` to its own name and ``from_<name>``; what a host ends
up with shows which layer won and that every layer was read.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PYINFRA = Path(sys.executable).with_name("pyinfra")


def layer(name: str) -> str:
    return f"layer = {name!r}\nfrom_{name} = True\n"


def debug_inventory(cwd: Path, inventory: str, *args: str) -> dict[str, dict]:
    """Each host's groups and data, as ``pyinfra INVENTORY debug-inventory --json`` prints them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SSMENV_", "AWS_"))}
    env["PYTHONPATH"] = str(REPO)  # the repository's inventories import ssmenv
    result = subprocess.run(
        [str(PYINFRA), inventory, "debug-inventory", "--json", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return {host["name"]: host for host in json.loads(result.stdout)}


@pytest.fixture
def project(tmp_path) -> Path:
    """A project with group data for ``all``, ``example`` (the app), ``prod`` and ``web``, and the
    repository's inventories/prod.py."""
    (tmp_path / "group_data").mkdir()
    for name in ("all", "example", "prod", "web"):
        (tmp_path / "group_data" / f"{name}.py").write_text(layer(name))
    (tmp_path / "inventories").mkdir()
    shutil.copy(REPO / "inventories" / "prod.py", tmp_path / "inventories" / "prod.py")
    return tmp_path


def test_repository_inventory_layers_all_then_app_then_environment_then_group(project):
    hosts = debug_inventory(project, "inventories/prod.py")
    assert set(hosts) == {"app-1.prod.example.internal", "app-2.prod.example.internal"}
    for host in hosts.values():
        assert host["groups"] == ["example", "prod", "web"]
        assert host["data"]["layer"] == "web"
        assert {"from_all", "from_example", "from_prod", "from_web"} <= set(host["data"])
    (project / "group_data" / "web.py").unlink()
    for host in debug_inventory(project, "inventories/prod.py").values():
        assert host["data"]["layer"] == "prod"  # the environment over the app


def test_host_data_wins_over_every_group_and_data_on_the_command_line_over_all(project):
    (project / "inventories" / "prod.py").write_text(
        '_hosts = [("pinned", {"layer": "host"}), "plain"]\nprod = _hosts\nweb = _hosts\n'
    )
    hosts = debug_inventory(project, "inventories/prod.py")
    assert hosts["pinned"]["data"]["layer"] == "host"
    assert hosts["plain"]["data"]["layer"] == "web"
    hosts = debug_inventory(project, "inventories/prod.py", "--data", "layer=cli")
    assert {host["data"]["layer"] for host in hosts.values()} == {"cli"}


def test_without_the_environment_group_defined_pyinfra_applies_it_last(project):
    """pyinfra's default: the inventory file's own group is appended after the groups it
    defines, so environment data would override the ``web`` group's."""
    (project / "inventories" / "prod.py").write_text('web = ["plain"]\n')
    host = debug_inventory(project, "inventories/prod.py")["plain"]
    assert host["groups"] == ["web", "prod"]
    assert host["data"]["layer"] == "prod"


def test_group_data_beside_the_inventory_wins_over_the_project_group_data(project):
    beside = project / "inventories" / "group_data"
    beside.mkdir()
    (beside / "web.py").write_text("layer = 'web beside the inventory'\n")
    host = debug_inventory(project, "inventories/prod.py")["app-1.prod.example.internal"]
    assert host["data"]["layer"] == "web beside the inventory"
    assert host["data"]["from_web"] is True  # both files of a group are read, merged
