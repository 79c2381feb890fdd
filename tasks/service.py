"""Service: the systemd unit, restarted only when something it runs changed, then health-checked."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from ssmenv import render
from ssmenv.activation import Activation, FileWrite, Health, LinkSwitch, sha256
from ssmenv.config import AppConfig
from ssmenv.facts import HostState
from ssmenv.operations import activation
from ssmenv.rollout import Rollout
from tasks.environment import EnvPlan


@deploy("App service")
def app_service(
    config: AppConfig,
    state: HostState,
    env: EnvPlan | None = None,
    release: LinkSwitch | None = None,
    only_env: bool = False,
) -> None:
    """Activate what changed (env file, release switch, unit) with one health-gated restart,
    in turn with the other hosts, rolling back on failure; or just start and enable a service
    that is down, or finish an activation a run left unfinished. ``state`` is the host's
    ``AppHostState``; nothing changed means no operation. ``only_env`` (rotation) leaves the unit
    as it is."""
    unit = render.unit_file(config)
    unit_state = state.unit_file
    unit_write = FileWrite(
        config.unit_file, unit, mode="0644", expect=unit_state and unit_state.sha256,
        # The old unit stays if systemd finds anything wrong with the new one.
        unit=True,
    )  # fmt: skip
    files = list(env.files if env else ())
    if not only_env and (unit_state is None or unit_state.sha256 != sha256(unit)):
        files.append(unit_write)
    service = f"{config.name}.service"
    running, enabled, pending = state.running, state.enabled, state.pending
    if not files and release is None and running and enabled and pending is None:
        return
    reasons = [name for name, why in (
        ("env file", env and any(f.path == config.env_file for f in env.files)),
        ("release", release),
        ("unit", any(f.path == config.unit_file for f in files)),
        ("not running", not running), ("unfinished activation", pending),
    ) if why]  # fmt: skip
    host.log(f"{service}: restart ({', '.join(reasons)}), then health check")

    known = {f.path: f for f in (*(env.known if env else ()), unit_write)}
    plan = Activation.resuming(
        pending,
        files,
        release,
        state.current,
        known,
        app=config.name,
        service=service,
        health=Health(config.port, config.health_path, config.health_timeout,
                      config.health_settle),
        # A first deploy has no version to go back to: on failure, the service is stopped.
        previous=unit_state is not None and state.env_file is not None,
        secrets=env.secrets if env else (),
    )  # fmt: skip
    # Known before the run, so hosts take their turns in inventory order whatever order
    # pyinfra's pool starts them in.
    Rollout.enlist(host.state, host, config.name, plan)
    activation(
        name=f"Activate {config.name} (rolling, health-gated)",
        plan=plan,
        batch=config.rollout_batch,
    )
