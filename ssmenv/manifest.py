"""The env file's manifest: per variable its source, version and a keyed fingerprint, never a value;
and how each unit of the deployed version is health-checked.

It sits beside the env file (``/etc/<app>.env.manifest``), readable by the app's group, so a
person or a tool on the host can see what is deployed and where it came from. Fingerprints are
HMAC-SHA256 with a random key per host stored root-only (``/etc/<app>.env.key``): a bare sha256
would let anyone who reads the manifest test guesses of a weak password offline.

The units' health checks (port, path, timeout, settle time) are those of the version the host
runs: the activation switches the manifest with the units and a rollback puts it back, so a
later rollback to that version checks it as it was deployed, not as the settings say now.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ssmenv.health import Unit
from ssmenv.names import shown

FORMAT = 1
KEY_BYTES = 32


def new_key() -> str:
    """A fresh fingerprint key, hex-encoded."""
    return secrets.token_hex(KEY_BYTES)


def fingerprint(key: str, value: str) -> str:
    return "hmac-sha256:" + hmac.new(bytes.fromhex(key), value.encode(), hashlib.sha256).hexdigest()


#: How a manifest marks a variable delivered as a systemd credential (``ssmenv.credentials``).
CREDENTIAL = "credential"


def build(
    app: str,
    key: str,
    variables: Mapping[str, Any],
    credentials: Collection[str] = (),
    units: Collection[Unit] | None = None,
) -> dict[str, Any]:
    """The manifest for ``variables`` (name -> object with value, source, version), those named
    in ``credentials`` marked as delivered as credentials (``"as": "credential"``), and the
    health check of each of ``units`` (``None``: none recorded)."""
    built: dict[str, Any] = {
        "format": FORMAT,
        "app": app,
        "variables": {
            name: {
                "source": v.source,
                "version": v.version,
                "fingerprint": fingerprint(key, v.value),
                **({"as": CREDENTIAL} if name in credentials else {}),
            }
            for name, v in sorted(variables.items())
        },
    }
    if units is not None:
        built["units"] = {
            u.name: {"port": u.port, "health_path": u.path, "health_timeout": u.timeout,
                     "health_settle": u.settle}
            for u in sorted(units, key=lambda u: u.name)
        }  # fmt: skip
    return built


def checks(manifest: Mapping[str, Any] | None) -> dict[str, Unit] | None:
    """How a host's manifest records each unit of the deployed version is checked, by unit name;
    ``None`` for a manifest that records none (written before manifests did)."""
    entries = (manifest or {}).get("units")
    if not isinstance(entries, dict):
        return None
    found = {}
    for name, entry in entries.items():
        if isinstance(entry, dict) and (unit := _unit(name, entry)):
            found[name] = unit
    return found


def _count(value: Any, least: int, most: int = 999_999_999) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and least <= value <= most


def _unit(name: str, entry: Mapping[str, Any]) -> Unit | None:
    """A recorded check, if it is one the activation's plan can carry (an entry that is not is
    left out: that unit is then checked as the settings say)."""
    port, path = entry.get("port"), entry.get("health_path")
    timeout, settle = entry.get("health_timeout"), entry.get("health_settle")
    if not (_count(port, 0, 65535) and _count(timeout, 1) and _count(settle, 0)
            and isinstance(path, str) and re.fullmatch(r"(/[!-~]*)?", path)):  # fmt: skip
        return None
    return Unit(name, port, path, timeout, settle)


def credentials(manifest: Mapping[str, Any] | None) -> dict[str, str]:
    """The variables a host's manifest records as delivered as credentials: name -> keyed
    fingerprint."""
    entries = (manifest or {}).get("variables", {})
    return {
        name: str(entry.get("fingerprint"))
        for name, entry in entries.items()
        if isinstance(entry, dict) and entry.get("as") == CREDENTIAL
    }


def dumps(manifest: Mapping[str, Any]) -> str:
    """Stable text, so an unchanged manifest is byte-for-byte the same file."""
    return json.dumps(manifest, indent=2, sort_keys=True) + "\n"


def loads(text: str | None) -> dict[str, Any] | None:
    """A manifest read from a host; ``None`` for none or one this version cannot read."""
    if not text:
        return None
    try:
        manifest = json.loads(text)
    except ValueError:
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        return None
    return manifest


# The words drift and plan both use for a value replaced under the version it had: a parameter
# deleted and created again restarts at version 1, so versions alone would say nothing changed.
NEW_VALUE_SAME_VERSION = "new value, same version"
SAME_VALUE_NEW_VERSION = "same value, new version"


@dataclass(frozen=True)
class Difference:
    """One variable whose deployed entry (in a host's manifest) is not what its source has now.

    ``value`` says how the values compare: ``True`` they differ, ``False`` they are the same (only
    the version moved), ``None`` not known (no fingerprint key: only versions were compared).
    Holds names and versions, never a value or a fingerprint.
    """

    name: str
    deployed: int | str | None = None
    current: int | str | None = None
    added: bool = False  # wanted, not deployed
    removed: bool = False  # deployed, no longer wanted
    value: bool | None = True

    @property
    def differs(self) -> bool:
        """Whether the host runs something other than the source has: a version that moved
        over the same value does not count (a rotation would restart nothing)."""
        return self.value is not False

    def __str__(self) -> str:
        # A name read back from a host's manifest is shown escaped if it is odd: one line.
        if self.added:
            return f"+{shown(self.name)}"
        if self.removed:
            return f"-{shown(self.name)}"
        if self.deployed is None and self.current is None:  # group data, PORT: no versions
            return f"{shown(self.name)} (new value)"
        text = self.versions()
        if self.value is False:
            return f"{text} ({SAME_VALUE_NEW_VERSION})"
        if self.deployed == self.current:
            return f"{text} ({NEW_VALUE_SAME_VERSION})"
        return text

    def versions(self) -> str:
        """``NAME vDEPLOYED->vCURRENT`` (``-`` for no version)."""
        return f"{shown(self.name)} {_version(self.deployed)}->{_version(self.current)}"


def _version(version: int | str | None) -> str:
    return "-" if version is None else f"v{version}"


def compare(
    deployed: Mapping[str, Any] | None, variables: Mapping[str, Any], key: str | None
) -> list[Difference]:
    """What differs between a host's manifest and ``variables`` (name -> object with value,
    source, version), by name: added, removed, then changed.

    With the host's fingerprint ``key`` the values are compared (their keyed fingerprints), so a
    value replaced under the same version is found and a version that moved over the same value
    is marked as such; without it (a host that has none) only versions can be compared.
    """
    before = (deployed or {}).get("variables", {})
    added = [Difference(n, current=variables[n].version, added=True)
             for n in sorted(set(variables) - set(before))]  # fmt: skip
    removed = [Difference(n, deployed=before[n].get("version"), removed=True)
               for n in sorted(set(before) - set(variables))]  # fmt: skip
    changed = []
    for name in sorted(set(before) & set(variables)):
        old, new = before[name], variables[name]
        versions = (old.get("version"), new.version)
        if key is not None and isinstance(old.get("fingerprint"), str):
            value_changed = old["fingerprint"] != fingerprint(key, new.value)
            if value_changed or versions[0] != versions[1]:
                changed.append(Difference(name, *versions, value=value_changed))
        elif versions[0] != versions[1]:
            changed.append(Difference(name, *versions, value=None))
    return added + removed + changed


def differing(differences: Sequence[Difference]) -> list[str]:
    """The names whose deployed value (or presence) is not the current one."""
    return [d.name for d in differences if d.differs]


def drift_line(differences: Sequence[Difference], keyed: bool) -> str:
    """``drift.py``'s report for one host: what differs, or why nothing does; never a value."""
    unkeyed = "" if keyed else " (values not compared: the host has no fingerprint key)"
    if any(d.differs for d in differences):
        return f"drift: {', '.join(map(str, differences))}{unkeyed}"
    if differences:  # only versions moved, over the same values
        moved = ", ".join(d.versions() for d in differences)
        return f"drift: none, every value is current (only versions moved: {moved})"
    return f"drift: none, every version is current{unkeyed}"
