"""Scheduled rotation: a systemd timer on a control host that runs ``rotate.py`` for one inventory.

The control host holds a checkout of this repository and its virtualenv; the timer starts
``ssmenv-rotate-<name>.service``, a oneshot that runs ``pyinfra -y <inventory> rotate.py`` there
under ``flock -n``, logging to the journal and failing when the rotation fails. Installed with
``pyinfra CONTROL_INVENTORY schedule.py``; the settings are host data of the control host
(``ROTATION_SETTINGS``; the README's table is generated from them: ``python -m tasks.scheduler``).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any

from pyinfra import host
from pyinfra.api import FactBase, QuoteString, StringCommand, deploy
from pyinfra.operations import systemd
from pyinfra.operations.util import any_changed

from ssmenv.errors import ConfigError
from ssmenv.facts import FILE_STATE_FUNCTION, file_state, sections
from ssmenv.operations import atomic_file
from ssmenv.render import exec_arg as exec_arg  # re-exported: the unit escaping lives there
from ssmenv.render import templates
from ssmenv.render import unit_value as unit_value
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
            "`/run/lock/ssmenv-rotate-<name>.lock`; default: the inventory file's name without "
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
            "`AWS_PROFILE`, `AWS_ENDPOINT_URL`. Must exist when set; keep it `root:root 0600`. "
            "Nothing secret goes into the units.", parse=_absolute),
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
    def lock(self) -> str:
        return f"/run/lock/ssmenv-rotate-{self.name}.lock"

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


# Rendering: pure functions of a RotationTimer, tested by equality and `systemd-analyze verify`,
# through the templates' one environment (``ssmenv.render``, whose filters escape for systemd).


def _render(template: str, timer: RotationTimer) -> str:
    return templates.get_template(template).render(
        t=timer, service=timer.service, timer=timer.timer, command=timer.command()
    )


def service_unit(timer: RotationTimer) -> str:
    """``ssmenv-rotate-<name>.service``: one rotation run, under the lock."""
    return _render("rotation.service.j2", timer)


def timer_unit(timer: RotationTimer) -> str:
    """``ssmenv-rotate-<name>.timer``: when the service runs."""
    return _render("rotation.timer.j2", timer)


# What the control host has, read in one command before anything is installed.

_HOST_SCRIPT = FILE_STATE_FUNCTION + r"""
pyinfra=$1 checkout=$2 inventory=$3 env_file=$4 user=$5 schedule=$6
service=$7 timer=$8
shift 8
echo --problems--
[ -x "$pyinfra" ] || echo "rotation_venv: no executable $pyinfra"
[ -f "$checkout/rotate.py" ] || echo "rotation_checkout: no $checkout/rotate.py"
[ -f "$inventory" ] || echo "rotation_inventory: no file $inventory"
[ -z "$env_file" ] || [ -f "$env_file" ] || echo "rotation_environment_file: no file $env_file"
getent passwd "$user" > /dev/null || echo "rotation_user: no user $user"
systemd-analyze calendar -- "$schedule" > /dev/null 2>&1 ||
  echo "rotation_schedule: systemd cannot read '$schedule' (systemd-analyze calendar)"
while [ $# -gt 1 ]; do
  systemd-analyze timespan -- "$2" > /dev/null 2>&1 ||
    echo "$1: systemd cannot read '$2' as a time span (systemd-analyze timespan)"
  shift 2
done
echo --service--; file_state "$service"
echo --timer--; file_state "$timer"
true
"""


class RotationHostState(FactBase):
    """
    What stands in the way of a rotation timer on the control host, and its unit files now.

    .. code:: python

        {
            "problems": ["rotation_venv: no executable /opt/ssmenv/.venv/bin/pyinfra"],
            "service": FileInfo(user="root", group="root", mode="644", sha256="9f86d0..."),
            "timer": None,
        }
    """

    def command(self, timer: RotationTimer) -> StringCommand:
        args = [
            timer.pyinfra, timer.checkout, timer.inventory, timer.environment_file or "",
            timer.user, timer.schedule, timer.service_path, timer.timer_path,
            "rotation_randomized_delay", timer.randomized_delay,
            "rotation_timeout", timer.timeout,
        ]  # fmt: skip
        return StringCommand(
            "sh -c", QuoteString(_HOST_SCRIPT), "ssmenv-rotation-state",
            *(QuoteString(a) for a in args),
        )  # fmt: skip

    def process(self, output: list[str]) -> dict[str, Any]:
        found = sections(output)
        return {
            "problems": found.get("problems", []),
            "service": file_state(found.get("service", [])),
            "timer": file_state(found.get("timer", [])),
        }


@deploy("Rotation timer")
def rotation_timer(timer: RotationTimer) -> None:
    """Install ``timer``'s service and timer units, reload systemd if they changed, and enable
    and start the timer. Stops before changing anything, naming the setting, when the control
    host lacks the checkout, the virtualenv, the inventory or the environment file, or systemd
    cannot read the schedule."""
    state = host.get_fact(RotationHostState, timer=timer)
    if state["problems"]:
        raise ConfigError(
            f"{host.name}: cannot schedule the rotation of {timer.inventory}:\n"
            + "\n".join(f"  {p}" for p in state["problems"])
        )
    service = atomic_file(
        name=f"Unit {timer.service}",
        path=timer.service_path,
        content=service_unit(timer),
        mode="0644",
        current_state=state["service"],
    )
    schedule = atomic_file(
        name=f"Unit {timer.timer}",
        path=timer.timer_path,
        content=timer_unit(timer),
        mode="0644",
        current_state=state["timer"],
    )
    if service.will_change or schedule.will_change:
        # A reload also makes a running timer recompute its next run from the new schedule.
        systemd.daemon_reload(
            name="Reload systemd (rotation units changed)",
            _if=any_changed(service, schedule),
        )
    systemd.service(
        name=f"Enable and start {timer.timer}",
        service=timer.timer,
        running=True,
        enabled=True,
    )


def markdown_table() -> str:
    """The README's table of the control host's settings."""
    return settings_table([ROTATION])


if __name__ == "__main__":
    print(markdown_table())
