"""``ssmenv-agent status APP``: what the host says of an app it pulls, from its own records alone
(no AWS call, no change): where its description comes from, the description and release of its
last healthy sync, what its manifest says is deployed (names, sources and versions: never a value
nor a fingerprint), how old its last known good copy is, how its last timed sync and its boot
ended, and its units. For a person on the host, and for a fleet asking through Run Command where
SSH is closed (``plan`` and ``drift`` read the same manifest over SSH).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ssmenv import manifest
from ssmenv.agent import lastgood, status, units
from ssmenv.agent.sync import Said, _span, cached
from ssmenv.description import Description, parse
from ssmenv.errors import SsmEnvError
from ssmenv.plan import pull

#: What ``systemctl show`` is asked of the agent's units.
SHOWN = ("ActiveState", "Result", "ExecMainStatus", "ExecMainExitTimestamp")


@dataclass(frozen=True)
class Found:
    """What the host keeps of an app it pulls, read by ``gather``.

    + kept: the description of the last healthy sync (``None``: none yet)
    + deployed: the app's manifest (``None``: none, or one this version cannot read)
    + last_good_age: seconds since AWS last confirmed the last known good copy (``None``: none)
    + max_age: ``pull_max_age`` of the kept description, in seconds
    + shown: per unit (the sync, the boot unit, the app's), what ``systemctl show`` says
    """

    app: str
    where: units.Where
    kept: Description | None = None
    deployed: Mapping[str, object] | None = None
    last_good_age: float | None = None
    max_age: int | None = None
    shown: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    app_units: Sequence[str] = ()


def lines(found: Found) -> list[str]:
    """The report, one fact a line (``Said`` puts the app's name before each)."""
    app, where = found.app, found.where
    said = [f"pulls from {where.parameter} ({where.region})" if where.parameter
            else f"pulls from {where.file} (a deploy's)"]  # fmt: skip
    kept = found.kept
    if kept is None:
        said.append("last healthy sync: none yet")
    else:
        release = f"release {kept.release.name}, " if kept.release else ""
        agent = f", agent {kept.agent.sha256[:12]}" if kept.agent else ""
        said.append(f"last healthy sync: {release}description sha256 {kept.sha256[:12]}{agent}")
    variables = (found.deployed or {}).get("variables")
    if not isinstance(variables, dict):
        said.append(f"deployed: no manifest ({app} has not been switched on this host)")
    else:
        for name, entry in sorted(variables.items()):
            entry = entry if isinstance(entry, dict) else {}
            delivered = " as a credential" if entry.get("as") == manifest.CREDENTIAL else ""
            # Host data and defaults have no version.
            version = f" v{entry['version']}" if entry.get("version") is not None else ""
            said.append(f"deployed: {name}{version} from {entry.get('source', '?')}{delivered}")
    if found.last_good_age is None:
        said.append("last known good: none")
    else:
        limit = f" (pull_max_age {_span(found.max_age)})" if found.max_age is not None else ""
        said.append(f"last known good: confirmed {_span(found.last_good_age)} ago{limit}")
    for unit, words in (
        (pull.sync_unit(app), "last timed sync"),
        (pull.boot_unit(app), "last boot sync"),
    ):  # fmt: skip
        said.append(f"{words}: {_ended(found.shown.get(unit, {}))}")
    for unit in found.app_units:
        said.append(f"{unit}: {found.shown.get(unit, {}).get('ActiveState') or 'unknown'}")
    return said


def _ended(shown: Mapping[str, str]) -> str:
    """How a oneshot unit's last run ended, in the agent's words."""
    when = shown.get("ExecMainExitTimestamp", "")
    code = shown.get("ExecMainStatus", "")
    if not when or when == "n/a":
        return "not run since boot"
    word = status.WORDS.get(int(code), "status") if code.isdigit() else "status"
    return f"{word} ({code}) at {when}"


def gather(app: str) -> Found | None:
    """What the host keeps of ``app``; ``None`` when it does not pull it."""
    where = units.configured(app)
    if where is None:
        return None
    kept = None
    try:
        kept = parse(Path(cached(app)).read_text())
    except FileNotFoundError:
        pass
    except (OSError, SsmEnvError, ValueError):
        kept = None  # unreadable: reported as none; the next sync writes it again
    config = None
    if kept is not None:
        try:
            config = kept.config()
        except SsmEnvError:
            config = None
    deployed = None
    if config is not None:
        try:
            deployed = manifest.loads(Path(f"{config.env_file}.manifest").read_text())
        except OSError:
            deployed = None
    age = None
    if lastgood.exists(app):
        age = max(0.0, time.time() - os.stat(pull.last_good(app)).st_mtime)
    app_units = tuple(config.units) if config is not None else ()
    return Found(app, where, kept, deployed, age,
                 config.pull.max_age if config is not None else None,
                 _show([pull.sync_unit(app), pull.boot_unit(app), *app_units]),
                 app_units)  # fmt: skip


def _show(names: Sequence[str]) -> dict[str, dict[str, str]]:
    """``systemctl show`` of each unit: ``SHOWN``'s properties, by unit."""
    done = subprocess.run(["systemctl", "show", f"--property={','.join(SHOWN)}", "--", *names],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    found: dict[str, dict[str, str]] = {}
    # One block per unit, in the order asked, separated by an empty line.
    blocks = done.stdout.strip("\n").split("\n\n") if done.returncode == 0 else []
    for name, block in zip(names, blocks, strict=False):
        found[name] = dict(line.partition("=")[::2] for line in block.splitlines() if line)
    return found


def report(app: str, say: Said) -> int:
    """Print the report of ``app``; 0 when the host pulls it, 1 when it does not."""
    found = gather(app)
    if found is None:
        say(f"this host does not pull {app}: no agent configuration for it")
        return status.ERROR
    for line in lines(found):
        say(line)
    return status.UNCHANGED

