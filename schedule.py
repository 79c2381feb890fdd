"""Schedule rotation: ``pyinfra CONTROL_INVENTORY schedule.py``.

Installs on each host of the control inventory a systemd timer and service that run
``pyinfra -y <rotation_inventory> rotate.py`` from a checkout of this repository on a schedule,
never two at once, logging to the journal (docs/scheduled-rotation.md). The settings are the
control host's data: ``rotation_inventory`` (required), ``rotation_schedule``... (``python -m
ssmenv.rotation`` lists them).

Under ``python -m ssmenv schedule`` each host also reports itself (``ssmenv.report``), so that an
inventory with no host, which pyinfra runs and calls a success, is an error there.
"""

from pyinfra import host

from ssmenv import report
from ssmenv.rotation import RotationTimer
from tasks.scheduler import rotation_timer

rotation_timer(RotationTimer.from_data(host.data))
report.emit(host.name, differs=False)
