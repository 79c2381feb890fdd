"""Scheduled rotation: install a rotation timer (``ssmenv.rotation``) on a control host.

``pyinfra CONTROL_INVENTORY schedule.py`` (or ``python -m ssmenv schedule CONTROL_INVENTORY``);
the settings are host data of the control host (``ssmenv.rotation.ROTATION``).
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import systemd
from pyinfra.operations.util import any_changed

from ssmenv.errors import ConfigError
from ssmenv.facts import RotationHostState
from ssmenv.operations import atomic_file
from ssmenv.render import rotation_service_unit, rotation_timer_unit
from ssmenv.rotation import RotationTimer


@deploy("Rotation timer")
def rotation_timer(timer: RotationTimer) -> None:
    """Install ``timer``'s service and timer units, reload systemd if they changed, and enable
    and start the timer. Stops before changing anything, naming the setting, when the control
    host lacks the checkout, the virtualenv, the inventory or the environment file, when someone
    other than root or the rotation's user could change one of them (or read the environment
    file), or when systemd cannot read the schedule."""
    state = host.get_fact(RotationHostState, timer=timer)
    if state["problems"]:
        raise ConfigError(
            f"{host.name}: cannot schedule the rotation of {timer.inventory}:\n"
            + "\n".join(f"  {p}" for p in state["problems"])
        )
    service = atomic_file(
        name=f"Unit {timer.service}",
        path=timer.service_path,
        content=rotation_service_unit(timer),
        mode="0644",
        current_state=state["service"],
    )
    schedule = atomic_file(
        name=f"Unit {timer.timer}",
        path=timer.timer_path,
        content=rotation_timer_unit(timer),
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
