"""The env file's manifest: per variable its source, version and a keyed fingerprint, never a value.

It sits beside the env file (``/etc/<app>.env.manifest``), readable by the app's group, so a
person or a tool on the host can see what is deployed and where it came from. Fingerprints are
HMAC-SHA256 with a random key per host stored root-only (``/etc/<app>.env.key``): a bare sha256
would let anyone who reads the manifest test guesses of a weak password offline.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

FORMAT = 1
KEY_BYTES = 32


def new_key() -> str:
    """A fresh fingerprint key, hex-encoded."""
    return secrets.token_hex(KEY_BYTES)


def fingerprint(key: str, value: str) -> str:
    return "hmac-sha256:" + hmac.new(bytes.fromhex(key), value.encode(), hashlib.sha256).hexdigest()


def build(app: str, key: str, variables: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest for ``variables`` (name -> object with value, source, version)."""
    return {
        "format": FORMAT,
        "app": app,
        "variables": {
            name: {
                "source": v.source,
                "version": v.version,
                "fingerprint": fingerprint(key, v.value),
            }
            for name, v in sorted(variables.items())
        },
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


@dataclass(frozen=True)
class Changes:
    """Names added, removed and changed between two manifests (by fingerprint or version)."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def __str__(self) -> str:
        parts = [
            f"{label} {', '.join(names)}"
            for label, names in (
                ("added", self.added),
                ("removed", self.removed),
                ("changed", self.changed),
            )
            if names
        ]
        return "; ".join(parts) or "no changes"


def changes(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> Changes:
    before = (old or {}).get("variables", {})
    after = new["variables"]
    return Changes(
        added=tuple(sorted(set(after) - set(before))),
        removed=tuple(sorted(set(before) - set(after))),
        changed=tuple(sorted(n for n in set(before) & set(after) if before[n] != after[n])),
    )


def drift(deployed: Mapping[str, Any] | None, variables: Mapping[str, Any]) -> list[str]:
    """Per variable whose deployed version (or presence) differs from its source's current one:
    ``NAME vDEPLOYED->vCURRENT``, ``+NAME`` (not deployed yet), ``-NAME`` (no longer wanted)."""
    before = (deployed or {}).get("variables", {})
    lines = []
    for name in sorted(set(before) | set(variables)):
        if name not in before:
            lines.append(f"+{name}")
        elif name not in variables:
            lines.append(f"-{name}")
        elif before[name].get("version") != variables[name].version:
            old, new = before[name].get("version"), variables[name].version
            lines.append(f"{name} v{old}->v{new}")
    return lines
