"""One app on one host, pushed: the core's plan (``ssmenv.plan.app``) for this host, its notes
printed, its refusal raised, the rest carried out by pyinfra's operations in the plan's order:
packages and provisioning (``tasks.bootstrap``), then the activation (``tasks.service``) or the
manifest alone (``tasks.environment``), or, in pull mode, the handover to the host's agent
(``tasks.agent``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pyinfra import host

from ssmenv import ecr, sources
from ssmenv.config import AppConfig
from ssmenv.hoststate import HostState
from ssmenv.plan import app
from ssmenv.plan.app import AppPlan, Supply
from ssmenv.plan.notes import Note
from ssmenv.variables import Variable
from tasks import agent, bootstrap, environment, release, service


def say(notes: Iterable[Note]) -> None:
    """Print a plan's notes: about this host, or warnings once per run."""
    for note in notes:
        if note.warning:
            sources.warn_once(note.text)
        else:
            host.log(note.text)


def carry_out(config: AppConfig, state: HostState, plan: AppPlan) -> None:
    """Say ``plan``'s notes, stop on its refusal (nothing has changed on any host yet: this is
    pyinfra's prepare phase), then add the operations it needs, none when it needs nothing."""
    say(plan.notes)
    if plan.refusal is not None:
        raise plan.refusal
    bootstrap.app_host(config.name, plan.packages, plan.provision, plan.bare)
    if plan.handover is not None:
        agent.hand_over(config, plan.handover)
    elif plan.activation is not None:
        service.activate(config, plan.activation)
    else:
        environment.install_manifest(config, plan.manifest, state.manifest_file)


def deploy(
    config: AppConfig,
    variables: dict[str, Variable],
    state: HostState,
    release_path: str,
    others: Sequence[AppConfig] = (),
) -> AppPlan:
    """Deploy ``config`` to this host: ``state`` read asking about ``release_path``
    (``tasks.release.release_path``), the archive built (once per run) only if the host lacks
    the release, an ECR login asked for (once per run and region) only if it must pull."""
    supply = Supply(archive=lambda: release.archive(config), ecr_login=ecr.run_login,
                    bundle=lambda: agent.agent(config),
                    description=lambda: agent.description(config, release_path))
    plan = app.deploy(config, variables, state, host=host.name, release=release_path,
                      others=others, supply=supply)  # fmt: skip
    carry_out(config, state, plan)
    return plan


def rotate(config: AppConfig, variables: dict[str, Variable], state: HostState) -> AppPlan:
    """Refresh ``config``'s environment on this host, restarting it only if a value changed."""
    plan = app.rotate(config, variables, state, host=host.name)
    carry_out(config, state, plan)
    return plan
