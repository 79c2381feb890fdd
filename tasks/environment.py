"""Environment: the app's variables from SSM and host data, installed as /etc/<app>.env."""

from __future__ import annotations

from pyinfra.api import HiddenValue, deploy
from pyinfra.api.operation import OperationMeta

from ssmenv import render, sources
from ssmenv.config import AppConfig
from ssmenv.envfile import EnvFileError
from ssmenv.errors import ConfigError
from ssmenv.operations import atomic_file
from ssmenv.variables import Variable, compose


def resolve(config: AppConfig) -> dict[str, Variable]:
    """Fetch (once per run, shared by all hosts) and check the app's variables.

    Called before any operation is added, so a missing or invalid variable stops the run during
    pyinfra's prepare phase, before any host is changed.
    """
    parameters = sources.parameters_by_path(config.aws_region, config.ssm_path)
    return compose(config.ssm_path, parameters, config.env, config.env_required, port=config.port)


@deploy("App environment")
def app_environment(config: AppConfig, variables: dict[str, Variable]) -> OperationMeta:
    """Render the env file and install it root-only (0600), atomically, keeping the previous one.

    systemd reads it as root before starting the service, so the app's user never needs to.
    """
    try:
        content = render.env_file(
            config.name,
            f"SSM {config.ssm_path} and host data",
            {name: v.value for name, v in variables.items()},
        )
    except EnvFileError as e:
        raise ConfigError(f"{config.env_file}: {e}") from None
    return atomic_file(
        # Names only: which variables the file holds is useful, their values are never shown.
        name=f"Install {config.env_file} ({', '.join(variables)})",
        path=config.env_file,
        content=HiddenValue(content),
        user="root",
        group="root",
        mode="0600",
        keep_previous=True,
    )
