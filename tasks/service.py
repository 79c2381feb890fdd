"""Service: the systemd unit, restarted only when something it runs changed, then health-checked."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pyinfra.api import QuoteString, StringCommand, deploy
from pyinfra.api.operation import OperationMeta
from pyinfra.operations import server, systemd
from pyinfra.operations.util import any_changed

from ssmenv import render
from ssmenv.config import AppConfig
from ssmenv.operations import atomic_file

# Arguments: unit, port, health path (empty: active is enough), seconds. bash's /dev/tcp does the
# HTTP request, so a bare host needs neither curl nor wget.
HEALTH_SCRIPT = r"""unit=$1 port=$2 path=$3 seconds=$4
for _ in $(seq "$seconds"); do
  if systemctl is-active --quiet "$unit" && { [ -z "$path" ] || (
      exec 3<>"/dev/tcp/127.0.0.1/$port" &&
      printf 'GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n' "$path" >&3 &&
      head -n 1 <&3 | grep -qE '^HTTP/1\.[01] 2[0-9][0-9]' ) 2>/dev/null; }; then
    exit 0
  fi
  sleep 1
done
echo "$unit is not healthy after $seconds s (unit $(systemctl is-active "$unit"))" >&2
exit 1
"""


def health_check_command(config: AppConfig) -> StringCommand:
    """Wait until the unit is active and, if a health path is set, answers HTTP 2xx there."""
    return StringCommand(
        "bash -c",
        QuoteString(HEALTH_SCRIPT),
        "health",
        QuoteString(f"{config.name}.service"),
        QuoteString(str(config.port)),
        QuoteString(config.health_path),
        QuoteString(str(config.health_timeout)),
    )


@deploy("App service")
def app_service(
    config: AppConfig, state: dict[str, Any], restart_if: Sequence[OperationMeta | None]
) -> None:
    """Install the unit (verified by systemd first); reload systemd only if it changed; restart
    only if the unit or anything in ``restart_if`` (release switch, env file) changed, then wait
    until healthy; keep the service enabled and running. ``state`` is ``AppHostState``."""
    unit = atomic_file(
        name=f"Install unit {config.unit_file}",
        path=config.unit_file,
        content=render.unit_file(config),
        user="root",
        group="root",
        mode="0644",
        # The old unit stays if systemd finds anything wrong with the new one.
        verify="systemd-analyze verify --recursive-errors=no",
        current_state=state["unit_file"],
    )
    if unit.will_change:
        systemd.daemon_reload(name="Reload systemd (unit changed)", _if=unit.did_change)

    # Only operations that will run can change anything: with none, no restart is even planned.
    changers = [op for op in (unit, *restart_if) if op is not None and op.will_change]
    service = f"{config.name}.service"
    restart = None
    if changers:
        restart = systemd.service(
            name=f"Restart {config.name} (release, env file or unit changed)",
            service=service,
            restarted=True,
            _if=any_changed(*changers),
        )
    running = state["service"].get("ActiveState") == "active"
    enabled = state["service"].get("UnitFileState") == "enabled"
    if not (running and enabled) or restart is not None:
        systemd.service(
            name=f"Service {config.name} enabled and running",
            service=service,
            running=True,
            enabled=True,
        )
    if restart is not None:
        server.shell(
            name=f"Wait for {config.name} to be healthy",
            commands=[health_check_command(config)],
            _if=restart.did_change,
        )
