"""Service: the systemd unit, restarted only when something it runs changed, then health-checked."""

from __future__ import annotations

from typing import Any

from pyinfra import host
from pyinfra.api import deploy

from ssmenv import render
from ssmenv.config import AppConfig
from ssmenv.operations import activation
from ssmenv.rollout import Activation, FileWrite, Health, LinkSwitch, sha256
from tasks.environment import EnvPlan


@deploy("App service")
def app_service(
    config: AppConfig,
    state: dict[str, Any],
    env: EnvPlan | None = None,
    release: LinkSwitch | None = None,
    only_env: bool = False,
) -> None:
    """Activate what changed (env file, release switch, unit) with one health-gated restart,
    in turn with the other hosts, rolling back on failure; or just start and enable a service
    that is down. ``state`` is the host's ``AppHostState``; nothing changed means no operation.
    ``only_env`` (rotation) leaves the unit as it is."""
    unit = render.unit_file(config)
    unit_state = state["unit_file"]
    files = list(env.files if env else ())
    if not only_env and (unit_state is None or unit_state["sha256"] != sha256(unit)):
        files.append(FileWrite(
            config.unit_file, unit, mode="0644", expect=unit_state and unit_state["sha256"],
            # The old unit stays if systemd finds anything wrong with the new one.
            verify="systemd-analyze verify --recursive-errors=no",
        ))  # fmt: skip
    service = f"{config.name}.service"
    running = state["service"].get("ActiveState") == "active"
    enabled = state["service"].get("UnitFileState") == "enabled"
    if not files and release is None and running and enabled and not state["pending"]:
        return
    reasons = [name for name, why in (
        ("env file", env and env.files), ("release", release),
        ("unit", any(f.path == config.unit_file for f in files)),
        ("not running", not running), ("unfinished activation", state["pending"]),
    ) if why]  # fmt: skip
    host.log(f"{service}: restart ({', '.join(reasons)}), then health check")

    plan = Activation(
        app=config.name,
        service=service,
        files=tuple(files),
        link=release,
        reload=any(f.path == config.unit_file for f in files),
        health=Health(config.port, config.health_path, config.health_timeout,
                      config.health_settle),
        secrets=env.secrets if env else (),
    )  # fmt: skip
    activation(
        name=f"Activate {config.name} (rolling, health-gated)",
        plan=plan,
        batch=config.rollout_batch,
    )
