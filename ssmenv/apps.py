"""Several apps on one host: which apps a host runs, each app's settings, and the loop over them.

Without ``apps`` a host runs one app, read from its data as ever. With it, each entry names an app
and holds that app's own settings, layered over the host's data, which stays the default for
every app; ``--data`` wins over both, so a one-run override applies to every app of the run::

    apps = {
        "example-app": {},
        "example-py": {"app_runtime": "python", "app_source": "examples/python-app",
                       "app_port": 3001, "ssm_path": "/example-py/prod"},
    }

Everything on a host is namespaced by ``app_name`` (user, ``/opt/<app>``, ``/etc/<app>.env*``,
the unit, ``/run/ssmenv/<app>.*``); what is not is checked here: two apps of a host may not share
a port or a user (a user could read the other app's ``/proc/<pid>/environ``). journald's drop-in
is one per host, so its settings are the host's, never an app's. ``--data app=NAME`` narrows a
run to one app: the hosts that have it deploy it alone, the others nothing (a name no host of the
inventory has is an error). Every app of a host is still checked, so a conflict is found either
way.

``each`` loops inside ``host.loop``, at the position of the app in the whole inventory's order, so
an app's operations are the same operations on every host (one rollout per app) whatever other
apps each host has.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Iterator, Mapping, Sequence
from copy import copy
from dataclasses import dataclass
from typing import Any

from ssmenv import journald, origins
from ssmenv.config import APP, HOST_APPS, NAME, SETTINGS, AppConfig
from ssmenv.errors import ConfigError
from ssmenv.names import shown
from ssmenv.settings import Setting, collect, refuse, value_of

#: Keys an app's entry may not set: its name is its key, and journald is one per host.
HOST_WIDE = {"app_name": "the name is the entry's key",
             **{key: "journald is one per host: set it in the host's data"
                for key in journald.SETTINGS.keys},
             **{key: "not an app's setting" for key in HOST_APPS.keys}}  # fmt: skip
#: What an entry may set: every other setting.
APP_KEYS = frozenset(s.key for s in SETTINGS) - set(HOST_WIDE)

_NAME = Setting("app_name", NAME, None, "")
_DEFAULT_NAME = next(s.default for s in APP if s.key == "app_name")


@dataclass(frozen=True)
class HostApps:
    """The apps of one host: ``configs``, those this run deploys (all, or the one ``app``
    names), in the order the host's data lists them; ``names``, every app the host has."""

    configs: tuple[AppConfig, ...]
    names: tuple[str, ...]
    #: Why the host deploys none of its apps in this run (another app was asked for).
    note: str | None = None

    @property
    def several(self) -> bool:
        """The host has more than one app: lines that do not name the app must."""
        return len(self.names) > 1

    def label(self, config: AppConfig) -> str:
        """What starts a line about ``config``: its name where the host has several apps."""
        return f"{config.name}: " if self.several else ""


class Layered:
    """One app's data: its entry over the host's data, ``--data`` (``overrides``) over both."""

    def __init__(self, name: str, entry: Mapping[str, Any], overrides: Mapping[str, Any],
                 data: Any) -> None:  # fmt: skip
        self.name, self.entry, self.overrides, self.data = name, entry, overrides, data

    def get(self, key: str, default: Any = None) -> Any:
        if key == "app_name":
            return self.name
        for layer in (self.overrides, self.entry):
            if key in layer:
                return layer[key]
        value = value_of(self.data, key)
        return default if value is None else value

    def origin(self, key: str) -> str | None:
        """Where the app's ``key`` was set: ``--data``, its entry (and where that is), or the
        host's data (``origins``)."""
        if key in self.overrides:
            return "--data"
        if key in self.entry:
            where = origins.of(self.data, "apps")
            return f"apps[{self.name}]" + (f" in {where}" if where else "")
        return origins.of(self.data, key)

    def from_entry(self, key: str) -> bool:
        """``key``'s value is the entry's own, or nobody's (a missing source): the app's problem,
        not the host's."""
        return key not in self.overrides and (key in self.entry or value_of(self.data, key) is None)


class Snapshot:
    """pyinfra host data as it is when the deploy reads it, its layers (``--data``, the host's,
    its groups', ``all``) merged once by ``HostData.dict()``. Reading each of some fifty settings
    through ``HostData`` walks every layer for every key: about 2 ms a host, measured at 50
    hosts. Values are copied when read, as ``HostData`` does; ``host`` is the data's host."""

    def __init__(self, data: Any) -> None:
        self.host = data.host
        self._values = data.dict()

    def get(self, key: str, default: Any = None) -> Any:
        return copy(self._values[key]) if key in self._values else default

    def origin(self, key: str) -> str | None:
        """Which of the inventory's layers set ``key`` (``origins.in_inventory``)."""
        return origins.in_inventory(self.host, key)


def _inventory_of(data: Any) -> Any:
    """The inventory of pyinfra's host data (``None`` for a plain mapping)."""
    host = getattr(data, "host", None) if not isinstance(data, Mapping) else None
    return getattr(host, "inventory", None)


def overrides_of(data: Any) -> Mapping[str, Any]:
    """What ``--data`` sets for the run, from pyinfra's host data (a plain mapping has none)."""
    inventory = _inventory_of(data)
    return inventory.get_override_data() if inventory is not None else {}


def _key(line: str) -> str:
    """The setting a problem line is about: ``ssm_path[0]: ...`` is about ``ssm_path``."""
    return line.split(":", 1)[0].split("[", 1)[0]


def _entry_problems(name: str, entry: Any) -> list[str]:
    if not isinstance(entry, Mapping):
        return [f"apps[{name}]: must be a map of settings (`{{}}` for the host's data as it is)"]
    problems = []
    for key in entry:
        if key in HOST_WIDE:
            problems.append(f"apps[{name}].{key}: {HOST_WIDE[key]}")
        elif key not in APP_KEYS:
            problems.append(f"apps[{name}].{shown(str(key))}: not a setting (see the settings "
                            "table, docs/settings.md)")  # fmt: skip
    return problems


def read(data: Any, overrides: Mapping[str, Any] | None = None) -> HostApps:
    """The apps ``data`` (pyinfra host data) describes, checked: every problem of every app at
    once, one line each naming the key (``apps[example-py].app_port: ...``), never a value.
    ``overrides``: what ``--data`` sets (default: read from ``data``)."""
    if not isinstance(data, Mapping | Snapshot) and hasattr(data, "dict"):
        data = Snapshot(data)
    values, problems = collect(data, [HOST_APPS])
    apps, narrowed = values.get("apps"), values.get("app")
    if "apps" not in values:
        refuse(problems)
    if apps is None:
        config, why = AppConfig.collect(data)
        refuse([*problems, *why])
        assert config is not None
        return _narrowed(HostApps((config,), (config.name,)), narrowed, data)

    overrides = overrides_of(data) if overrides is None else overrides
    if not apps:
        problems.append("apps: names no app (leave it unset for one app from the host's data)")
    configs: list[AppConfig] = []
    host_problems: list[str] = []
    for name, entry in apps.items():
        try:
            _NAME.check(name)
        except ValueError as e:
            problems.append(f"apps[{shown(name)}]: {str(e).removeprefix('app_name: ')}")
            continue
        why = _entry_problems(name, entry)
        if why:
            problems += why
            continue
        layered = Layered(name, entry, overrides, data)
        config, why = AppConfig.collect(layered)
        for line in why:
            if layered.from_entry(_key(line)):
                problems.append(f"apps[{name}].{line}")
            else:  # the host's value, the same problem for every app: said once
                host_problems.append(line)
        if config is not None:
            configs.append(config)
    problems = [*dict.fromkeys(host_problems), *problems]
    if not problems:
        problems += conflicts(configs)
    refuse(problems)
    return _narrowed(HostApps(tuple(configs), tuple(apps)), narrowed, data)



def of_hosts(
    hosts: Sequence[tuple[str, Mapping[str, Any]]],
) -> list[tuple[str, Mapping[str, Any], tuple[AppConfig, ...]]]:
    """Each host's name, data and apps (``read``, as a deploy reads them, without ``--data``), as
    the commands that read a whole inventory without touching a host need them (``iam``,
    ``publish``, ``fleet``). Raises ``ConfigError`` naming every host whose settings are not
    valid, all at once."""
    found, problems = [], []
    for name, data in hosts:
        try:
            found.append((name, data, read(data, overrides={}).configs))
        except ConfigError as e:
            problems.append(f"{name}: {e}")
    if problems:
        raise ConfigError("\n".join(problems))
    return found

def conflicts(configs: list[AppConfig]) -> list[str]:
    """What two apps of one host cannot share: a port (any of their processes'), a user, a unit
    (app ``shop`` with a process ``admin`` and an app ``shop-admin`` would both be
    ``shop-admin.service``)."""
    problems = []
    for what, values, why in (
        ("app_port", lambda c: [p.port for p in c.processes if p.port] or [c.port],
         "each app listens on its own port"),
        ("app_user", lambda c: [c.user], "each app runs as its own user, which alone can read "
                                         "its processes' environment"),
        ("app_processes", lambda c: [u.split("@")[0] for u in c.units],
         "each app's units have names of their own"),
    ):  # fmt: skip
        seen: dict[Any, str] = {}
        for config in configs:
            for value in dict.fromkeys(values(config)):
                if value in seen and seen[value] != config.name:
                    problems.append(f"apps[{config.name}].{what}: the same as "
                                    f"apps[{seen[value]}]'s: {why}")  # fmt: skip
                    break
                seen[value] = config.name
    return problems


def _narrowed(found: HostApps, name: str | None, data: Any) -> HostApps:
    """``found`` narrowed to app ``name``: on a host without it, no app, unless no host of the
    inventory has it either (a typo): then an error naming the host and the apps it has."""
    if name is None:
        return found
    chosen = tuple(c for c in found.configs if c.name == name)
    has = ", ".join(found.names)
    if chosen:
        return HostApps(chosen, found.names)
    inventory = _inventory_of(data)
    if inventory is None or name not in run_order(inventory):
        host = "this host" if inventory is None else data.host.name
        others = "" if inventory is None else ", nor of any other host of the inventory"
        refuse([f"app: {name} is not an app of {host} (it has: {has}){others}"])
    return HostApps((), found.names, note=f"app {name}: not on this host (it has: {has})")


_order: weakref.WeakKeyDictionary[Any, tuple[str, ...]] = weakref.WeakKeyDictionary()


def _names(data: Any) -> list[str]:
    """The app names of one host's data, unchecked (``read`` checks them)."""
    apps = value_of(data, "apps")
    if isinstance(apps, str):
        try:
            apps = json.loads(apps)
        except ValueError:
            apps = None
    if isinstance(apps, Mapping):
        return [str(name) for name in apps]
    return [str(value_of(data, "app_name") or _DEFAULT_NAME)]


def run_order(inventory: Any) -> tuple[str, ...]:
    """Every app name of the inventory's hosts, in order of first appearance (once per run)."""
    if inventory not in _order:
        names = (name for host in inventory for name in _names(host.data))
        _order[inventory] = tuple(dict.fromkeys(names))
    return _order[inventory]


def each(host: Any, found: HostApps) -> Iterator[AppConfig]:
    """``found``'s apps, inside ``host.loop`` (pyinfra's distinct operation positions for
    operations added in a loop), each at its place in the inventory's order of apps: an app's
    operations have the same position on every host."""
    if found.note:
        host.log(found.note)
    configs = {config.name: config for config in found.configs}
    order = run_order(host.inventory)
    # An app not among the inventory's (a host's data changed since): after the others.
    order = (*order, *(name for name in configs if name not in order))
    for name in host.loop(order):
        if name in configs:
            yield configs[name]
