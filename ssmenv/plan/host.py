"""Host: what every app host needs before its activation: the runtime packages, then one
command for the rest (user, directories, journald's retention, the release or the image); and
what on a host the app must never be provisioned over."""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass

from ssmenv import accounts, journald
from ssmenv.activation import sha256
from ssmenv.config import AppConfig
from ssmenv.errors import HostError
from ssmenv.hoststate import HostState
from ssmenv.plan.notes import Note
from ssmenv.provision import HostFile, Provision, Pull, Unpack
from ssmenv.runtimes.container import engine_on

JOURNALD_DROPIN = journald.DROPIN


#: What the host's agent runs on, in pull mode: the distribution's Python and botocore (its
#: other dependencies travel in its bundle).
AGENT_PACKAGES = ("python3", "python3-botocore")


def runtime_packages(config: AppConfig) -> list[str]:
    """The Debian packages the app needs, with what its source needs too (a lockfile's tool) and,
    in pull mode, what the agent runs on; an image's engine is installed only where the host has
    none (``app_host``)."""
    agent = AGENT_PACKAGES if config.pull.pulled else ()
    if config.container is not None:
        return list(dict.fromkeys((*config.packages, *agent)))
    return list(dict.fromkeys((*config.packages, *config.tree.packages, *agent)))


@dataclass(frozen=True)
class HostPlan:
    """What a host lacks before the app's activation: ``packages`` to install, then the rest in
    one provisioning command (``provision``, falsy when there is nothing to make). ``bare``: those
    of ``packages`` installed without their Recommends (a source's tool: Debian's npm recommends
    build-essential and git, a compiler on every app host)."""

    packages: tuple[str, ...]
    provision: Provision
    bare: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.packages or self.provision)


def app_host(
    config: AppConfig,
    state: HostState,
    others: Sequence[AppConfig] = (),
    release: Unpack | None = None,
    pull: Pull | None = None,
    *,
    host: str,
    notes: list[Note] | None = None,
    agent: Unpack | None = None,
) -> HostPlan:
    """Runtime packages (for an image, its engine where the host has none), then what the host
    lacks of the rest: the app's system group and user, its directories, journald's retention,
    and the ``release`` to unpack or the image to ``pull``; only what ``state`` shows missing or
    different, and nothing when nothing is.

    ``agent``: the agent's bundle to unpack (pull mode, a host that lacks it).

    ``others``: the apps bootstrapped before this one on the host in this run. The packages they
    install are theirs to install, and journald's drop-in, one per host, is the first app's to
    write (every app of a host has the host's journald settings), so nothing is done twice.

    Refuses (``HostError``, before anything is done on any host) host ``host`` when its
    directories the toolkit manages include a link, or its account named ``app_user`` is one the
    toolkit did not make and may not adopt (``ssmenv.accounts``).
    """
    problems = refusals(config, state)
    if problems:
        raise HostError("\n".join(f"{host}: {config.name}: {p}" for p in problems))
    packages = runtime_packages(config)
    if config.container is not None and state.engine is None:
        packages.append(engine_on(config.container, None).package)
    theirs = {p for other in others for p in runtime_packages(other)}
    missing = [p for p in packages if state.packages.get(p) != "installed" and p not in theirs]
    # Code is root-owned: the app runs as its own user and cannot rewrite itself. An image has
    # no release on the host.
    homes = (config.home, f"{config.home}/releases") if config.container is None else ()
    if agent is not None:
        homes = (*homes, posixpath.dirname(agent.path))
    dirs = tuple(path for path in homes
                 if state.dirs.get(path) != "root root 755 directory")  # fmt: skip
    files = ()
    retention = journald.dropin(config.journald_max_use, config.journald_max_retention)
    if not others and (state.journald is None or state.journald.sha256 != sha256(retention)
                       or state.journald.mode != "644"):  # fmt: skip
        files = (HostFile(JOURNALD_DROPIN, retention, restart="systemd-journald.service"),)
    plan = Provision(
        config.name,
        user=config.user if state.account is None else None,
        dirs=dirs, files=files, release=release, pull=pull, agent=agent,
    )  # fmt: skip
    if plan and notes is not None:
        notes.append(Note(f"{config.name}: provision {plan.describe()}"))
    bare = tuple(p for p in missing if p in config.tree.packages)
    return HostPlan(tuple(missing), plan, bare)


def refusals(config: AppConfig, state: HostState) -> list[str]:
    """What on the host the app must not be provisioned over, one line each: a directory the
    toolkit manages (``/opt/<app>``, its releases and release, the credential stores) that is a
    link or not a directory (``chown``, ``chmod`` or a file written there would reach through
    it), and an account named ``app_user`` that is not the app's to take."""
    problems = []
    for path, stat in state.dirs.items():
        if config.container is not None and (path + "/").startswith(config.home + "/"):
            continue  # an app that runs an image has nothing of its own there
        kind = stat.split(" ", 3)[-1]
        if kind == "symbolic link":
            problems.append(f"{path} is a symbolic link: ssmenv never follows a link in the "
                            "directories it manages; remove it")  # fmt: skip
        elif kind != "directory":
            problems.append(f"{path} is a {kind}, not a directory; remove it")
    deployed = config.home in state.dirs or state.env_file is not None
    account = accounts.refusal(config.user, config.name, state.account, state.group, deployed)
    return [*problems, *([account] if account else [])]
