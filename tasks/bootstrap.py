"""Bootstrap: what the plan says an app host lacks before its activation (``ssmenv.plan.host``),
installed: the runtime packages with pyinfra's apt operation, then one command for the rest
(user, directories, journald, the release or the image).

A source's tool (npm, for a lockfile: ``Runtime.packages_for``) comes without its Recommends
(the plan's ``bare``, ``ssmenv.plan.host``):
Debian's npm recommends build-essential and git, a compiler on every app host (643 packages with
them, 376 without, for ``nodejs npm`` on Debian 12: 33 s and 14 s of the host's CPU). An app
whose dependencies build native code names ``build-essential`` (and ``python3``, node-gyp's) in
``app_packages``. The runtime's own packages keep theirs (``nodejs``: ``ca-certificates``)."""

from __future__ import annotations

from collections.abc import Sequence

from pyinfra.api import deploy
from pyinfra.operations import apt

from ssmenv.operations import provision
from ssmenv.provision import Provision


def app_host(
    app: str, missing: Sequence[str], plan: Provision | None, bare: Sequence[str] = ()
) -> None:
    """Install ``missing`` packages (those also in ``bare`` without their Recommends), then make
    ``plan``; nothing when neither is there."""
    # Decided before pyinfra's @deploy is entered: its bookkeeping costs a millisecond a host
    # even when it adds nothing, which a no-op redeploy of many hosts pays for each task.
    if missing or plan:
        _bootstrap(app, missing, plan, bare)


@deploy("Bootstrap app host")
def _bootstrap(
    app: str, missing: Sequence[str], plan: Provision | None, bare: Sequence[str]
) -> None:
    runtime = [p for p in missing if p not in bare]
    if runtime:
        apt.packages(
            name=f"Install runtime packages: {', '.join(runtime)}",
            packages=runtime,
            update=True,
            cache_time=24 * 3600,
        )
    if bare:
        apt.packages(
            name=f"Install without their recommends: {', '.join(bare)}",
            packages=list(bare),
            no_recommends=True,
            # The lists were just brought up to date for the runtime's packages, if any.
            update=not runtime,
            cache_time=24 * 3600,
        )
    if plan:
        provision(name=f"Provision {app}", plan=plan)
