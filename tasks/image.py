"""Image: for an app that runs a container image, the pull the host needs before its activation,
and the engine it runs the image with."""

from __future__ import annotations

from collections.abc import Mapping

from pyinfra import host

from ssmenv.config import AppConfig
from ssmenv.errors import ConfigError
from ssmenv.facts import HostState
from ssmenv.provision import Pull
from ssmenv.runtimes.container import Engine, auth_json, engine_on
from ssmenv.variables import Variable


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


def app_image(
    config: AppConfig, state: HostState, variables: Mapping[str, Variable]
) -> Pull | None:
    """The pull of the app's image, unless the host has it (by digest) already: it travels in
    the host's one provisioning command (``tasks.bootstrap``), before the activation, so a slow
    or failing pull never happens while the old version is stopped. With the registry's login
    when the settings name one: on stdin only, in a root-only file the pull removes."""
    container = config.container
    if container is None or state.image_present:
        return None
    image = container.image
    host.log(f"{config.name}: pull image {image.repository}@{image.digest[:19]}")
    password = registry_password(config, variables)
    auth = None
    if password is not None and container.username is not None:
        auth = auth_json(image.registry, container.username, password)
    return Pull(engine_on(container, state.engine).name, image.reference, auth)
