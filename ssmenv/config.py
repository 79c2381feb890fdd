"""The deploy's settings: host data read once into a typed, validated ``AppConfig``.

Every setting lives in ``SETTINGS`` with its default and meaning; the README's table of host data is
generated from it (``python -m ssmenv.config``), so the two cannot drift. Values come from pyinfra's
data layers (``--data`` > host > group > ``all``), then these defaults.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ssmenv.contract import Contract
from ssmenv.errors import ConfigError
from ssmenv.sources import ParameterSpec, SecretSpec
from ssmenv.variables import describe

# The checkout this package runs from, where relative paths of host data (`app_source`) resolve;
# for a package installed with pip, with no checkout around it, the working directory.
_PARENT = Path(__file__).resolve().parent.parent
REPO_ROOT = _PARENT if (_PARENT / "deploy.py").is_file() else Path.cwd()


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
        "app_runtime",
        "node",
        "`node` (Debian's Node.js; `npm ci` where a lockfile exists) or `python` (Debian's "
        "Python 3 with a virtualenv per release, from the source's `requirements.txt`).",
    ),
    Setting(
        "app_start",
        None,
        "The command systemd runs (`ExecStart=`), in `/opt/<app_name>/current`; default: "
        "`/usr/bin/node server.js` (node) or `/opt/<app_name>/current/.venv/bin/python "
        "server.py` (python).",
    ),
    Setting("app_port", 3000, "Port the app listens on; given to it as `PORT`."),
    Setting(
        "app_packages",
        None,
        "Debian packages the app needs at run time; default: `nodejs` (node; `npm` is added "
        "when the source has a `package-lock.json`) or `python3`, `python3-venv` (python).",
    ),
    Setting(
        "health_path",
        "/healthz",
        "Path answered with 2xx once the app is up; empty to skip the check after a restart.",
    ),
    Setting("health_timeout", 30, "Seconds a restarted app has to become healthy."),
    Setting("health_settle", 2, "Seconds a healthy app must then stay up (same process, still "
            "active) before the host counts as done."),
    Setting("rollout_batch", 1, "Hosts activated at a time, in inventory order; the rollout "
            "stops at the first host that does not become healthy."),
    Setting("env_keep_previous", True, "Keep the replaced env file as `/etc/<app_name>.env"
            ".previous` (root-only) once the new one is healthy. `false` removes it then, leaving "
            "no copy of the old values on the host (after a leaked credential); a rollback during "
            "the activation works either way."),
    Setting("journald_max_use", "500M", "Journald's `SystemMaxUse=` on the host: disk the "
            "journal may take."),
    Setting("journald_max_retention", "1month", "Journald's `MaxRetentionSec=`: how long "
            "entries are kept."),
    Setting("aws_region", "us-east-1", "AWS region of the parameters and secrets."),
    Setting(
        "ssm_path",
        None,
        "SSM path read recursively and decrypted; each parameter's last path component is a "
        "variable name (see `ssm_path_map`). Starts with `/`. At least one of `ssm_path`, "
        "`ssm_parameters` and `secrets` is required.",
    ),
    Setting(
        "ssm_path_map",
        {},
        "Variable names for parameters under `ssm_path` whose last component is not the name: "
        'path relative to `ssm_path` to variable (`{"db/url": "DATABASE_URL"}`).',
    ),
    Setting(
        "ssm_parameters",
        [],
        "SSM parameters read by name (10 per request): a list of names, each optionally pinned "
        "to a version (`/app/prod/DB_PASSWORD:3`) or a label (`/app/prod/DB_PASSWORD:live`), "
        "the last path component naming the variable; or a dict of variable name to parameter.",
    ),
    Setting(
        "secrets",
        [],
        "Secrets Manager secrets (20 per request): ids of JSON secrets, each key becoming a "
        'variable; or dicts `{"id": ..., "prefix": "DB_", "stage": "AWSPENDING"}`, or '
        '`{"id": ..., "variable": "API_KEY"}` for a plain-text secret.',
    ),
    Setting(
        "env",
        {},
        "Non-secret variables from group data (name to value).",
    ),
    Setting(
        "env_overrides",
        [],
        "Names that may be set by more than one source: the highest in precedence wins. "
        "Any other name set by two sources stops the deploy.",
    ),
    Setting(
        "env_contract",
        {},
        "What the app needs: variable name to rule (`required`, `default`, `check` (`non-empty`, "
        "`integer`, `port`, `url`), `one_of`, `pattern`, `allow_empty`). Checked before any "
        "host is touched; variables the app gets but the contract does not list are reported.",
    ),
    Setting(
        "env_required",
        [],
        "Names that must be present and non-empty, or the deploy stops before touching any "
        "host; the same as `env_contract` entries with an empty rule.",
    ),
)
DEFAULTS = {s.key: s.default for s in SETTINGS}

# What each runtime needs by default: its Debian packages and the command systemd runs.
RUNTIMES = {
    "node": {"packages": ["nodejs"], "start": "/usr/bin/node server.js"},
    "python": {
        "packages": ["python3", "python3-venv"],
        "start": "{home}/current/.venv/bin/python server.py",
    },
}

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
    ssm_path: str | None
    env: Mapping[str, str]
    env_required: tuple[str, ...]
    ssm_path_map: Mapping[str, str] = field(default_factory=dict)
    ssm_parameters: tuple[ParameterSpec, ...] = ()
    secrets: tuple[SecretSpec, ...] = ()
    env_overrides: frozenset[str] = frozenset()
    contract: Contract = field(default_factory=Contract)
    journald_max_use: str = "500M"
    runtime: str = "node"
    health_settle: int = 2
    rollout_batch: int = 1
    journald_max_retention: str = "1month"
    env_keep_previous: bool = True

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
        if ssm_path is not None and (not isinstance(ssm_path, str) or not ssm_path.startswith("/")):
            fail("ssm_path", "must be an SSM path starting with / (for example /my-app/prod)")
            ssm_path = None
        path_map = _as_json(raw["ssm_path_map"])
        if not isinstance(path_map, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in path_map.items()
        ):
            fail("ssm_path_map", "must map paths relative to ssm_path to variable names")
            path_map = {}
        parameters = _parameter_specs(_as_json(raw["ssm_parameters"]), fail)
        secret_specs = []
        secrets = _as_json(raw["secrets"])
        if isinstance(secrets, str | dict) or not isinstance(secrets, list):
            secrets = [secrets]
        for i, entry in enumerate(secrets):
            try:
                secret_specs.append(SecretSpec.parse(entry))
            except ValueError as e:
                fail(f"secrets[{i}]", str(e))
        if raw["ssm_path"] is None and not raw["ssm_parameters"] and not raw["secrets"]:
            fail(
                "ssm_path",
                "no configuration source: set ssm_path (for example /my-app/prod), "
                "ssm_parameters or secrets",
            )
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
        overrides = _as_json(raw["env_overrides"])
        if isinstance(overrides, str) or not all(isinstance(n, str) for n in overrides):
            fail("env_overrides", "must be a list of names")
            overrides = []
        contract, why = Contract.parse(_as_json(raw["env_contract"]), required)
        for problem in why:
            fail("env_contract", problem)
        runtime = str(raw["app_runtime"])
        if runtime not in RUNTIMES:
            fail("app_runtime", f"must be one of {', '.join(RUNTIMES)}")
            runtime = "node"
        packages = _as_json(raw["app_packages"] or RUNTIMES[runtime]["packages"])
        if isinstance(packages, str):
            packages = [packages]
        source = Path(str(raw["app_source"]))
        if not source.is_absolute():
            source = REPO_ROOT / source
        if not source.is_dir():
            fail("app_source", f"no such directory: {source}")
        keep_previous = raw["env_keep_previous"]
        if not isinstance(keep_previous, bool):
            fail("env_keep_previous", "must be true or false")
        if problems:
            raise ConfigError("host data is not valid:\n" + "\n".join(f"  {p}" for p in problems))
        return cls(
            name=name,
            user=str(raw["app_user"] or name),
            source=source,
            version=None if raw["app_version"] is None else str(raw["app_version"]),
            start=str(raw["app_start"] or RUNTIMES[runtime]["start"].format(home=f"/opt/{name}")),
            runtime=runtime,
            port=port,
            packages=tuple(packages),
            health_path=str(raw["health_path"] or ""),
            health_timeout=timeout,
            aws_region=str(raw["aws_region"]),
            ssm_path=None if ssm_path is None else ssm_path.rstrip("/") or "/",
            env={str(k): str(v) for k, v in env.items()},
            env_required=tuple(required),
            ssm_path_map={k.strip("/"): v for k, v in path_map.items()},
            ssm_parameters=tuple(parameters),
            secrets=tuple(secret_specs),
            env_overrides=frozenset(overrides),
            contract=contract,
            journald_max_use=str(raw["journald_max_use"]),
            health_settle=max(0, _as_int(raw["health_settle"]) or 0),
            rollout_batch=max(1, _as_int(raw["rollout_batch"]) or 1),
            journald_max_retention=str(raw["journald_max_retention"]),
            env_keep_previous=keep_previous,
        )

    @property
    def sources_summary(self) -> str:
        """Where the variables come from, for headers and messages (no values)."""
        return describe(self)


def _parameter_specs(value: Any, fail: Any) -> list[ParameterSpec]:
    """``ssm_parameters``: a list of references, or a dict of variable name to reference."""
    if isinstance(value, str):
        value = [value]
    pairs = value.items() if isinstance(value, Mapping) else ((None, r) for r in value or ())
    specs = []
    for variable, reference in pairs:
        if not isinstance(reference, str) or not (variable is None or isinstance(variable, str)):
            fail("ssm_parameters", "must be a list of parameter names or a dict of names to them")
            continue
        try:
            specs.append(ParameterSpec.parse(reference, variable))
        except ValueError as e:
            fail(f"ssm_parameters: {reference}", str(e))
    return specs


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
