"""Image: for an app that runs a container image, the pull the host needs before its activation,
the login it pulls with, and the engine it runs the image with."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ssmenv.config import AppConfig
from ssmenv.ecr import Login
from ssmenv.errors import ConfigError
from ssmenv.hoststate import HostState
from ssmenv.plan.notes import Note
from ssmenv.provision import Pull
from ssmenv.runtimes.container import Engine, auth_json, engine_on
from ssmenv.variables import Variable

#: How a driver gets Amazon ECR's login for a region, when a pull needs one: the push driver
#: asks once per run on the control machine (``ssmenv.ecr.run_login``), a host for itself.
EcrLogin = Callable[[str], Login]


def engine(config: AppConfig, state: HostState) -> Engine | None:
    """The engine that runs ``config``'s image on this host (``None``: the app has no image)."""
    if config.container is None:
        return None
    return engine_on(config.container, state.engine)


def registry_password(config: AppConfig, variables: Mapping[str, Variable]) -> str | None:
    """The registry's password, from the variable ``container_registry_password`` names; a
    ``ConfigError`` (before any host is touched) if the app's sources have no such variable."""
    container = config.container
    if container is None or container.password is None:
        return None
    if container.password not in variables:
        raise ConfigError(
            f"{config.name}: container_registry_password names {container.password}, which no "
            f"source of the app has ({config.sources_summary})"
        )
    return variables[container.password].value


def registry_login(
    config: AppConfig, variables: Mapping[str, Variable], ecr_login: EcrLogin | None = None
) -> tuple[str, str] | None:
    """The user and password the pull logs in to the image's registry with (``None``: none):
    ``container_registry_username`` and the variable ``container_registry_password`` names, or
    ``AWS`` and Amazon ECR's token, from ``ecr_login`` (the driver's: a ``SourceError`` naming
    the call if it fails, before any host is touched)."""
    container = config.container
    if container is None or container.login is None:
        return None
    if container.login == "ecr":
        assert container.region is not None
        if ecr_login is None:
            raise ConfigError(f"{config.name}: an ECR login is needed and none was supplied")
        token = ecr_login(container.region)
        return token.username, token.password
    password = registry_password(config, variables)
    if password is None or container.username is None:
        return None
    return container.username, password


def app_image(
    config: AppConfig,
    state: HostState,
    variables: Mapping[str, Variable],
    ecr_login: EcrLogin | None = None,
    notes: list[Note] | None = None,
) -> Pull | None:
    """The pull of the app's image, unless the host has it (by digest) already: it travels in
    the host's one provisioning command, before the activation, so a slow or failing pull never
    happens while the old version is stopped. With the registry's login when the settings name
    one (an ECR token is asked for only when a host needs a pull): on stdin only, in a root-only
    file the pull removes, for the registry the image names."""
    container = config.container
    if container is None or state.image_present:
        return None
    image = container.image
    if notes is not None:
        notes.append(Note(f"{config.name}: pull image {image.repository}@{image.digest[:19]}"))
    login = registry_login(config, variables, ecr_login)
    auth = auth_json(image.registry, *login) if login else None
    return Pull(engine_on(container, state.engine).name, image.reference, auth)
