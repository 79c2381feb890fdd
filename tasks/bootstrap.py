"""Bootstrap: what the plan says an app host lacks before its activation (``ssmenv.plan.host``),
installed: the runtime packages with pyinfra's apt operation, then one command for the rest
(user, directories, journald, the release or the image)."""

from __future__ import annotations

from collections.abc import Sequence

from pyinfra.api import deploy
from pyinfra.operations import apt

from ssmenv.operations import provision
from ssmenv.provision import Provision


def app_host(app: str, missing: Sequence[str], plan: Provision | None) -> None:
    """Install ``missing`` packages, then make ``plan``; nothing when neither is there."""
    # Decided before pyinfra's @deploy is entered: its bookkeeping costs a millisecond a host
    # even when it adds nothing, which a no-op redeploy of many hosts pays for each task.
    if missing or plan:
        _bootstrap(app, missing, plan)


@deploy("Bootstrap app host")
def _bootstrap(app: str, missing: Sequence[str], plan: Provision | None) -> None:
    if missing:
        apt.packages(
            name=f"Install runtime packages: {', '.join(missing)}",
            packages=list(missing),
            update=True,
            cache_time=24 * 3600,
        )
    if plan:
        provision(name=f"Provision {app}", plan=plan)
