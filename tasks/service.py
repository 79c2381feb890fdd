"""Service: the activation the plan made (``ssmenv.plan.service``) carried out, in turn with the
other hosts: one health-gated restart of the app's units, rolled back on failure."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from ssmenv.activation import Activation
from ssmenv.config import AppConfig
from ssmenv.operations import activation
from ssmenv.rollout import Rollout


@deploy("App service")
def activate(config: AppConfig, plan: Activation) -> None:
    """Activate ``plan`` on this host when its turn comes (``config.rollout``'s pace)."""
    # Known before the run, so hosts take their turns in inventory order whatever order
    # pyinfra's pool starts them in.
    Rollout.enlist(host.state, host, config.name, plan)
    activation(
        name=f"Activate {config.name} (rolling, health-gated)",
        plan=plan,
        pace=config.rollout,
    )
