"""A scheduled rotation: a systemd timer on a control host that runs ``rotate.py`` for one
inventory, as its settings (host data of the control host) describe it.

The control host holds a checkout of this repository and its virtualenv; the timer starts
``ssmenv-rotate-<name>.service``, a oneshot that runs ``pyinfra -y <inventory> rotate.py`` there
under ``flock -n``, logging to the journal and failing when the rotation fails. Its units are
rendered by ``ssmenv.render``, the control host is checked by ``ssmenv.facts.RotationHostState``,
and ``tasks/scheduler.py`` installs them (``pyinfra CONTROL_INVENTORY schedule.py``). The
table of the settings (docs/scheduled-rotation.md) is generated from ``ROTATION``:
``python -m ssmenv.rotation``.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any

from ssmenv.settings import REQUIRED, Line, Matching, Setting, Settings, read
from ssmenv.settings import markdown_table as settings_table

UNIT_DIR = "/etc/systemd/system"
FLOCK = "/usr/bin/flock"
# flock's exit status when another run holds the lock (EX_TEMPFAIL, as the deploy lock's).
LOCKED = 75

def _absolute(path: str) -> str:
    if not path.startswith("/"):
        raise ValueError("must be an absolute path")
    return posixpath.normpath(path)


def _not_empty(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be empty")
    return text.strip()


ROTATION = Settings("Scheduled rotation (the control host)", (
    Setting("rotation_inventory", Line, REQUIRED, "The inventory the timer rotates, on the "
            "control host: relative to `rotation_checkout` (`inventories/prod.py`) or absolute.",
            parse=_not_empty),
    Setting("rotation_name", Matching(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", "letters, digits, dashes "
                                      "and underscores (it names the units)"), None,
            "Names the units `ssmenv-rotate-<name>.service` and `.timer` and the lock "
            "`/run/ssmenv-rotate-<name>/lock`; default: the inventory file's name without "
            "`.py`."),
    Setting("rotation_schedule", Line, "hourly", "When to rotate: the timer's `OnCalendar=` "
            "(`hourly`, `*-*-* 04:00:00`, `Mon..Fri *:0/15`; check one with `systemd-analyze "
            "calendar`).", parse=_not_empty),
    Setting("rotation_randomized_delay", Line, "5min", "The timer's `RandomizedDelaySec=`: each "
            "run starts at a random moment within this window after the scheduled time, so "
            "control hosts do not all call AWS at once.", parse=_not_empty),
    Setting("rotation_timeout", Line, "30min", "The service's `TimeoutStartSec=`: a run still "
            "going after this long is killed and counts as failed, so a hung run cannot hold the "
            "lock forever.", parse=_not_empty),
    Setting("rotation_checkout", Line, "/opt/ssmenv", "Absolute path of this repository's "
            "checkout on the control host; the run's working directory.", parse=_absolute),
    Setting("rotation_venv", Line, None, "Absolute path of the virtualenv holding pyinfra on the "
            "control host; default: `<rotation_checkout>/.venv`.", parse=_absolute),
    Setting("rotation_environment_file", Line, None, "Absolute path of a file on the control host "
            "loaded as the service's `EnvironmentFile=`: AWS settings such as `AWS_REGION`, "
            "`AWS_PROFILE`, `AWS_ENDPOINT_URL`. Must exist when set, owned by root (or "
            "`rotation_user`) and mode 0600. Nothing secret goes into the units.",
            parse=_absolute),
    Setting("rotation_user", Matching(r"[a-z_][a-z0-9_-]{0,31}", "a user name"), "root",
            "User the rotation runs as: the one whose SSH key reaches the inventory's hosts and "
            "whose AWS credentials (profile, instance role) read the parameters."),
))  # fmt: skip
ROTATION_SETTINGS = ROTATION.settings



@dataclass(frozen=True)
class RotationTimer:
    """One scheduled rotation on a control host, from its host data (``from_data``)."""

    name: str
    inventory: str
    checkout: str
    venv: str
    schedule: str
    randomized_delay: str
    timeout: str
    user: str = "root"
    environment_file: str | None = None

    @property
    def service(self) -> str:
        return f"ssmenv-rotate-{self.name}.service"

    @property
    def timer(self) -> str:
        return f"ssmenv-rotate-{self.name}.timer"

    @property
    def service_path(self) -> str:
        return f"{UNIT_DIR}/{self.service}"

    @property
    def timer_path(self) -> str:
        return f"{UNIT_DIR}/{self.timer}"

    @property
    def lock_directory(self) -> str:
        """The lock's directory under /run, as the unit's ``RuntimeDirectory=`` names it."""
        return f"ssmenv-rotate-{self.name}"

    @property
    def lock(self) -> str:
        # Not world-writable /run/lock, where any local user could create the lock and hold it:
        # a directory in /run (where only root creates) that systemd gives the service's user.
        return f"/run/{self.lock_directory}/lock"

    @property
    def pyinfra(self) -> str:
        return posixpath.join(self.venv, "bin", "pyinfra")

    def command(self) -> list[str]:
        """What the service runs: the rotation, unless another run holds the lock."""
        return [
            FLOCK, "--nonblock", "--conflict-exit-code", str(LOCKED), "--verbose", self.lock,
            self.pyinfra, "-y", self.inventory, "rotate.py",
        ]  # fmt: skip

    @classmethod
    def from_data(cls, data: Any) -> RotationTimer:
        """Read and check the ``rotation_*`` settings; report every problem at once."""
        values = read(data, [ROTATION], what="control host data")
        checkout = values["rotation_checkout"]
        inventory = values["rotation_inventory"]
        return cls(
            name=values["rotation_name"] or posixpath.basename(inventory).removesuffix(".py"),
            inventory=posixpath.normpath(posixpath.join(checkout, inventory)),
            checkout=checkout,
            venv=values["rotation_venv"] or posixpath.join(checkout, ".venv"),
            schedule=values["rotation_schedule"],
            randomized_delay=values["rotation_randomized_delay"],
            timeout=values["rotation_timeout"],
            user=values["rotation_user"],
            environment_file=values["rotation_environment_file"],
        )


def markdown_table() -> str:
    """The table of the control host's settings (docs/scheduled-rotation.md)."""
    return settings_table([ROTATION])


if __name__ == "__main__":
    print(markdown_table())
