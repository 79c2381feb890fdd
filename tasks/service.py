"""Service: the systemd unit, restarted only when something it runs changed, then health-checked."""

from __future__ import annotations

from collections.abc import Sequence

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
def app_service(config: AppConfig, restart_if: Sequence[OperationMeta]) -> None:
    """Install the unit; reload systemd only if it changed; restart only if the unit or anything in
    ``restart_if`` (release switch, env file) changed; keep it enabled and running."""
    unit = atomic_file(
        name=f"Install unit {config.unit_file}",
        path=config.unit_file,
        content=render.unit_file(config),
        user="root",
        group="root",
        mode="0644",
        # The old unit stays if systemd finds anything wrong with the new one.
        verify="systemd-analyze verify --recursive-errors=no",
    )
    systemd.daemon_reload(name="Reload systemd (unit changed)", _if=unit.did_change)
    changed = any_changed(unit, *restart_if)
    restart = systemd.service(
        name=f"Restart {config.name} (release, env file or unit changed)",
        service=f"{config.name}.service",
        restarted=True,
        _if=changed,
    )
    systemd.service(
        name=f"Service {config.name} enabled and running",
        service=f"{config.name}.service",
        running=True,
        enabled=True,
    )
    server.shell(
        name=f"Wait for {config.name} to be healthy",
        commands=[health_check_command(config)],
        _if=restart.did_change,
    )
