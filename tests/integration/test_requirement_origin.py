"""Where a requirement was set, as the real ``pyinfra`` CLI loads a project's data: a missing
required variable names the setting that requires it (``env_required`` or ``env_contract``) and the
layer that set it: the group data file (in the working directory's ``group_data/`` or the one
beside the inventory), the host's entry in the inventory, ``--data``, an app's ``apps`` entry.

The deploy stops while pyinfra prepares it, before any operation: ``@local`` with ``--dry`` is
safe. Sources are read from the stand-in, where nothing is under the path: every required name
is missing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PYINFRA = Path(sys.executable).with_name("pyinfra")
EMPTY = "/it/origin/nothing-here"


@pytest.fixture
def project(tmp_path) -> Path:
    """A project of its own: ``group_data/all.py`` in the working directory, an inventory in
    ``inventories/`` with ``group_data/`` beside it."""
    (tmp_path / "group_data").mkdir()
    (tmp_path / "group_data" / "all.py").write_text(
        f'env_required = ["FROM_ALL"]\nssm_path = "{EMPTY}"\n'
        f'app_source = "{REPO / "examples" / "app"}"\n'
    )
    (tmp_path / "inventories" / "group_data").mkdir(parents=True)
    (tmp_path / "inventories" / "group_data" / "shop.py").write_text(
        '"""The shop."""\napp_name = "shop"\nenv_contract = {"FROM_SHOP": {}}\n'
    )
    return tmp_path


def deploy(project: Path, inventory: str, *args: str, stand_in) -> str:
    """The output of ``pyinfra --dry INVENTORY deploy.py`` run from ``project``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SSMENV_"))}
    result = subprocess.run(
        [str(PYINFRA), "-y", "--dry", inventory, str(REPO / "deploy.py"), *args],
        cwd=project, env={**env, **stand_in.env, "PYTHONPATH": str(REPO)},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Starting operation" not in output
    return output


def missing(name: str, required_by: str) -> str:
    return (f"  {name}: required but missing (expected SSM parameter {EMPTY}/{name} or host "
            f"data env; required by {required_by})\n")  # fmt: skip


def test_a_missing_name_says_which_group_data_file_requires_it(project, stand_in):
    (project / "inventories" / "shop.py").write_text('shop = ["@local"]\n')
    output = deploy(project, "inventories/shop.py", stand_in=stand_in)
    assert missing("FROM_ALL", "env_required in group_data/all.py") in output, output
    assert missing("FROM_SHOP", "env_contract in inventories/group_data/shop.py") in output, output


def test_the_group_data_file_that_wins_is_named(project, stand_in):
    """A group's file beside the inventory wins over the working directory's of the same
    group; a group defined later in the inventory over an earlier one."""
    (project / "group_data" / "shop.py").write_text('env_contract = {"FROM_CWD": {}}\n')
    (project / "group_data" / "web.py").write_text('env_required = ["FROM_WEB"]\n')
    (project / "inventories" / "shop.py").write_text('shop = ["@local"]\nweb = ["@local"]\n')
    output = deploy(project, "inventories/shop.py", stand_in=stand_in)
    assert missing("FROM_SHOP", "env_contract in inventories/group_data/shop.py") in output
    assert missing("FROM_WEB", "env_required in group_data/web.py") in output, output
    assert "FROM_CWD" not in output and "FROM_ALL" not in output


def test_the_inventory_entry_the_command_line_and_an_apps_entry_are_named(project, stand_in):
    entry = {"env_contract": {"FROM_HOST": {}}}
    (project / "inventories" / "shop.py").write_text(f'shop = [("@local", {entry!r})]\n')
    output = deploy(project, "inventories/shop.py", "--data", 'env_required=["FROM_CLI"]',
                    stand_in=stand_in)  # fmt: skip
    assert missing("FROM_HOST", "env_contract in the inventory's entry for @local") in output
    assert missing("FROM_CLI", "env_required in --data") in output, output

    (project / "inventories" / "group_data" / "shop.py").write_text(
        'apps = {"shop": {"env_required": ["FROM_ENTRY"]}}\n'
    )
    (project / "inventories" / "shop.py").write_text('shop = ["@local"]\n')
    output = deploy(project, "inventories/shop.py", stand_in=stand_in)
    assert missing(
        "FROM_ENTRY", "env_required in apps[shop] in inventories/group_data/shop.py"
    ) in output, output
