"""Where a host's setting was set, named as a user finds it: ``--data``, the host's entry in the
inventory, the group data file (``group_data/prod.py``), an app's ``apps`` entry. For messages
about what a setting demands: ``API_KEY: required but missing (...; required by env_required in
group_data/all.py)``.

pyinfra's host data does not record where a key came from, so its layers are asked in pyinfra's
own order: ``--data``, the host's entry, the host's groups from the last to the first, ``all``.
A group's layer merges every group data file pyinfra read for that group (``./group_data/``,
then ``group_data/`` beside the inventory, then ``--group-data``, the later winning); the one
named is the last of those that assigns the key. pyinfra's CLI keeps the code of every file it
executed (``pyinfra_cli.util.PYTHON_CODES``, by file name, in the order read), so no file is read
or run again. Without the CLI (pyinfra's API) a group is named by its name only.
"""

from __future__ import annotations

import dis
import functools
import sys
from pathlib import Path
from types import CodeType
from typing import Any


def of(data: Any, key: str) -> str | None:
    """Where ``data`` (host data that knows its layers: ``apps.Snapshot``, an app's layered data,
    parity's group data) takes ``key`` from; ``None`` when it cannot say (a plain mapping) or no
    layer sets the key."""
    where = getattr(data, "origin", None)
    return where(key) if callable(where) else None


def in_inventory(host: Any, key: str) -> str | None:
    """Which layer of pyinfra's inventory gives ``host`` its ``key``."""
    inventory = host.inventory
    if key in inventory.get_override_data():
        return "--data"
    if key in inventory.get_host_data(host.name):
        return f"the inventory's entry for {host.name}"
    for group in reversed(host.groups):  # the last group defined wins (get_groups_data)
        if key in inventory.get_group_data(group):
            return group_data_file(group, key)
    if key in inventory.get_data():
        return group_data_file("all", key)
    return None


def group_data_file(group: str, key: str) -> str:
    """The group data file of ``group`` that sets ``key``, among those pyinfra's CLI read, as a
    path from the working directory; else the group by name (its data came from the inventory
    file, or from pyinfra's API)."""
    codes: dict[str, CodeType] = getattr(sys.modules.get("pyinfra_cli.util"), "PYTHON_CODES", {})
    files = [name for name, code in list(codes.items())
             if Path(name).stem == group and _assigns(code, key)]  # fmt: skip
    return shown(Path(files[-1])) if files else f"the data of group {group}"


@functools.lru_cache(maxsize=256)
def _assigns(code: CodeType, key: str) -> bool:
    """Whether a file's top-level code assigns ``key`` (``key = ...``): what pyinfra keeps of a
    group data file are its top-level names."""
    return any(i.opname in ("STORE_NAME", "STORE_GLOBAL") and i.argval == key
               for i in dis.get_instructions(code))  # fmt: skip


def shown(path: Path) -> str:
    """``path`` relative to the working directory when it is under it (``group_data/all.py``),
    else as it is."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)
