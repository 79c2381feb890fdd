"""The deploy's settings: host data read once into a typed, validated ``AppConfig``.

Every setting lives in ``SETTINGS`` with its default and meaning; the README's table of host data is
generated from it (``python -m ssmenv.config``), so the two cannot drift. Values come from pyinfra's
data layers (``--data`` > host > group > ``all``), then these defaults.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ssmenv.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Setting:
    key: str
    default: Any
    help: str


SETTINGS = (
    Setting(
        "app_name",
        "example-app",
        "Name of the app: the unit, the env file `/etc/<app_name>.env`, `/opt/<app_name>`.",
    ),
    Setting("app_user", None, "System user (and group) the service runs as; default: `app_name`."),
    Setting(
        "app_source",
        "examples/app",
        "Local directory holding the app, relative to the repository "
        "or absolute. Uploaded as one release.",
    ),
    Setting(
        "app_version",
        None,
        "Release name under `/opt/<app_name>/releases/`; default: a hash of "
        "the source's content, so any change makes a new release.",
    ),
    Setting(
        "app_start",
        "/usr/bin/node server.js",
        "The command systemd runs (`ExecStart=`), in `/opt/<app_name>/current`.",
    ),
    Setting("app_port", 3000, "Port the app listens on; given to it as `PORT`."),
    Setting(
        "app_packages",
        ["nodejs"],
        "Debian packages the app needs at run time (`npm` is added "
        "when the source has a `package-lock.json`).",
    ),
    Setting(
        "health_path",
        "/healthz",
        "Path answered with 2xx once the app is up; empty to skip the check after a restart.",
    ),
    Setting("health_timeout", 30, "Seconds a restarted app has to become healthy."),
    Setting("aws_region", "us-east-1", "AWS region of the parameters."),
    Setting(
        "ssm_path",
        None,
        "SSM path read recursively and decrypted; each parameter's last path "
        "component is a variable name. Required; starts with `/`.",
    ),
    Setting(
        "env",
        {},
        "Non-secret variables from group data (name to value). A name also found in "
        "SSM is an error.",
    ),
    Setting(
        "env_required",
        [],
        "Names that must be present and non-empty, or the deploy stops before touching any host.",
    ),
)
DEFAULTS = {s.key: s.default for s in SETTINGS}

_APP_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class AppConfig:
    """What one host should run, from its data; the only place host data is read and checked."""

    name: str
    user: str
    source: Path
    version: str | None
    start: str
    port: int
    packages: tuple[str, ...]
    health_path: str
    health_timeout: int
    aws_region: str
    ssm_path: str
    env: Mapping[str, str]
    env_required: tuple[str, ...]

    @property
    def env_file(self) -> str:
        return f"/etc/{self.name}.env"

    @property
    def unit_file(self) -> str:
        return f"/etc/systemd/system/{self.name}.service"

    @property
    def home(self) -> str:
        return f"/opt/{self.name}"

    @classmethod
    def from_data(cls, data: Any) -> AppConfig:
        """Read and check every setting from pyinfra host data; report all problems at once."""
        raw = {s.key: _get(data, s.key, s.default) for s in SETTINGS}
        problems: list[str] = []

        def fail(key: str, why: str) -> None:
            problems.append(f"{key}: {why}")

        name = str(raw["app_name"])
        if not _APP_NAME.match(name):
            fail("app_name", "must be lowercase letters, digits and dashes, starting with a letter")
        version = raw["app_version"]
        if version is not None and not _VERSION.match(str(version)):
            fail("app_version", "must be letters, digits, dots, dashes and underscores")
        ssm_path = raw["ssm_path"]
        if not isinstance(ssm_path, str) or not ssm_path.startswith("/"):
            fail(
                "ssm_path", "must be set to an SSM path starting with / (for example /my-app/prod)"
            )
            ssm_path = ""
        port = _as_int(raw["app_port"])
        if port is None or not 0 < port < 65536:
            fail("app_port", "must be a port number")
        timeout = _as_int(raw["health_timeout"])
        if timeout is None or timeout < 1:
            fail("health_timeout", "must be a positive number of seconds")
        env = _as_json(raw["env"])
        if not isinstance(env, Mapping) or not all(isinstance(v, str | int) for v in env.values()):
            fail("env", "must map names to string values")
            env = {}
        required = _as_json(raw["env_required"])
        if isinstance(required, str) or not all(isinstance(n, str) for n in required):
            fail("env_required", "must be a list of names")
            required = []
        packages = _as_json(raw["app_packages"])
        if isinstance(packages, str):
            packages = [packages]
        source = Path(str(raw["app_source"]))
        if not source.is_absolute():
            source = REPO_ROOT / source
        if not source.is_dir():
            fail("app_source", f"no such directory: {source}")
        if problems:
            raise ConfigError("host data is not valid:\n" + "\n".join(f"  {p}" for p in problems))
        return cls(
            name=name,
            user=str(raw["app_user"] or name),
            source=source,
            version=None if raw["app_version"] is None else str(raw["app_version"]),
            start=str(raw["app_start"]),
            port=port,
            packages=tuple(packages),
            health_path=str(raw["health_path"] or ""),
            health_timeout=timeout,
            aws_region=str(raw["aws_region"]),
            ssm_path=ssm_path.rstrip("/") or "/",
            env={str(k): str(v) for k, v in env.items()},
            env_required=tuple(required),
        )


def _get(data: Any, key: str, default: Any) -> Any:
    value = data.get(key) if hasattr(data, "get") else getattr(data, key, None)
    return default if value is None else value


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _as_json(value: Any) -> Any:
    # `--data env='{"A": "1"}'` arrives parsed already; a string that is JSON is accepted too.
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def markdown_table() -> str:
    """The README's table of host data settings."""
    lines = ["| key | default | meaning |", "| --- | --- | --- |"]
    for s in SETTINGS:
        default = "—" if s.default is None else f"`{json.dumps(s.default)}`"
        lines.append(f"| `{s.key}` | {default} | {s.help} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
