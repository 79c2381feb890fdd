"""The deploy's settings: host data read once into a typed, checked ``AppConfig``.

Each component declares its own settings (``ssmenv.settings``): the app itself here, its runtime
(``ssmenv.runtimes``), the health check (``ssmenv.health``), the rollout's pace (``ssmenv.pace``),
journald (``ssmenv.journald``), the variables and their sources. Each group is declared in a module
of this layer or of the one above it (the sources), never below: the plan and its drivers read the
settings, the settings read nothing of them. ``GROUPS`` lists them in the order docs/settings.md's
table shows them, generated from them (``python -m ssmenv.config``), so the two cannot drift.
Every value is type-checked and matched whole; a bad one stops the run before any command runs
on any host, with one line per problem naming the key, never the value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ssmenv import (
    aws,
    credentials,
    ecr,
    entrypoints,
    health,
    journald,
    origins,
    pace,
    publication,
    sources,
)
from ssmenv import processes as proc
from ssmenv.contract import Contract
from ssmenv.names import VariableName, one_line
from ssmenv.publication import Pull
from ssmenv.runtimes import RUNTIMES, Runtime
from ssmenv.runtimes import container as image
from ssmenv.settings import (
    Integer,
    Json,
    Line,
    Matching,
    Port,
    Setting,
    Settings,
    StrictBool,
    StrictStr,
    collect,
    refuse,
    value_of,
)
from ssmenv.settings import markdown_table as settings_table

# The checkout this package runs from, where relative paths of host data (`app_source`) resolve;
# for a package installed with pip, with no checkout around it, the working directory.
_PARENT = Path(__file__).resolve().parent.parent
REPO_ROOT = _PARENT if (_PARENT / "deploy.py").is_file() else Path.cwd()

_USER = r"[a-z_][a-z0-9_-]{0,31}"
#: An app's name: it names the unit, the user, files and directories.
NAME = Matching(r"[a-z][a-z0-9-]{0,30}", "lowercase letters, digits and dashes, starting with a "
                "letter, at most 31")  # fmt: skip


def _not_root(user: str) -> str:
    if user == "root":
        raise ValueError("must not be root: the app runs as a system user of its own")
    return user


def _source_directory(text: str) -> Path:
    source = Path(text)
    if not source.is_absolute():
        source = REPO_ROOT / source
    if not source.is_dir():
        raise ValueError(f"no such directory: {one_line(str(source))}")
    return source


APP = Settings("The app", (
    Setting("app_name", NAME, "example-app", "Name of the app: the unit, the env file "
            "`/etc/<app_name>.env`, `/opt/<app_name>`."),
    Setting("app_user", Matching(_USER, "a user name (lowercase letters, digits, _ and -)"), None,
            "System user (and group) the service runs as, never root; default: `app_name`. "
            "Made by the deploy, marked `ssmenv app <app_name>` in its comment; an account the "
            "host has already is taken only if it is the app's (a system account or one in a "
            "privileged group stops the deploy: see What a deploy does).",
            parse=_not_root),
    Setting("app_source", Line, "examples/app", "Local directory holding the app, relative to "
            "the repository or absolute. Uploaded as one release: what git hands over of it "
            "(tracked, or not ignored), or every file outside git; never `.env*` nor "
            "`node_modules`.", parse=_source_directory),
    Setting("app_version", Matching(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}",
                                    "letters, digits, dots, dashes and underscores"), None,
            "Release name under `/opt/<app_name>/releases/`; default: a hash of the release's "
            "content, so any change to what it ships makes a new release."),
    Setting("app_runtime", Literal[tuple(RUNTIMES)], "node", " ".join(
        f"`{r.name}`: {r.help}" for r in RUNTIMES.values()), parse=RUNTIMES.__getitem__),
    Setting("app_start", Line, None, "Without a Procfile: the command systemd runs "
            "(`ExecStart=`), in `/opt/<app_name>/current`; `%` and `$` are taken literally (a "
            "variable's value never lands on a command line, where `ps` shows it). It starts "
            "with the program: systemd's prefixes (`+`, `!`, `@`, `-`, `:`) are refused, as in a "
            "Procfile. Default: "
            + "; ".join(f"`{r.start.format(home='/opt/<app_name>')}` ({r.name})"
                        for r in RUNTIMES.values() if not r.image)
            + "; for a container, the words after the image (its command), default none."),
    Setting("app_port", Port, 3000, "Port the app listens on; given to it as `PORT`."),
    Setting("app_packages", Json(list[Matching(r"[a-z0-9][a-z0-9+.-]+", "Debian package names")]),
            None, "Debian packages the app needs at run time; default: the runtime's ("
            + "; ".join(f"`{', '.join(r.packages)}` for {r.name}" for r in RUNTIMES.values()
                        if r.packages) + ").", parse=tuple),
))  # fmt: skip

VARIABLES = Settings("Variables", (
    Setting("env", Json(dict[VariableName, StrictStr | Integer]), {},
            "Non-secret variables from group data (variable name to value).",
            parse=lambda env: {k: str(v) for k, v in env.items()}),
    Setting("env_overrides", Json(list[VariableName]), [], "Names that may be set by more than one "
            "source: the highest in precedence wins. Any other name set by two sources stops the "
            "deploy.", parse=frozenset),
    Setting("env_contract", Json(dict[StrictStr, Any]), {}, shown_type="map of name to rule",
            help="What the app needs: variable name "
            "to rule (`required`, `default`, `check` (`non-empty`, `integer`, `port`, `url`), "
            "`one_of`, `pattern`, `allow_empty`). Checked before any host is touched; variables "
            "the app gets but the contract does not list are reported."),
    Setting("env_required", Json(list[VariableName]), [], "Names that must be present and "
            "non-empty, or the deploy stops before touching any host; the same as "
            "`env_contract` entries with an empty rule.", parse=tuple),
    Setting("env_keep_previous", StrictBool, True, "Keep the replaced env file as "
            "`/etc/<app_name>.env.previous` (root-only) once the new one is healthy. `false` "
            "removes it then, leaving no copy of the old values on the host (after a leaked "
            "credential); a rollback during the activation works either way."),
))  # fmt: skip

#: Which apps a host runs (read by ``ssmenv.apps``, which layers each app's settings over the
#: host's data and checks that the apps of a host can live side by side).
HOST_APPS = Settings("Apps on a host", (
    Setting("apps", Json(dict[StrictStr, Any]), None, shown_type="map of app name to settings",
            help="Several apps on the host: app name to that app's own settings, layered over "
            "the host's data, which stays the default for every app (`{\"example-py\": "
            "{\"app_runtime\": \"python\", \"app_port\": 3001}}`). Any key of this table but "
            "`app_name` (the name is the key), `apps`, `app` and the journald ones (one journald "
            "per host); an app's key replaces the host's whole, and `--data` still wins over both. "
            "The apps' ports and users must differ. Default: one app, from the host's data."),
    Setting("app", NAME, None, "Narrows a run to one app, by name: `--data app=example-py`. "
            "Hosts without it deploy nothing; a name no host of the inventory has stops the run, "
            "naming the apps each host has."),
))  # fmt: skip

# --- The configuration sources: declared by each source (ssmenv.sources), which also checks them
# (sources.read, in from_data); listed here for the settings table only.
SOURCES = sources.settings()
# --- end of the configuration sources -------------------------------------------------------

#: Every group of settings, in the settings table's order (docs/settings.md).
GROUPS: tuple[Settings, ...] = (
    APP, image.SETTINGS, HOST_APPS, proc.SETTINGS, health.SETTINGS, pace.SETTINGS,
    journald.SETTINGS, SOURCES, VARIABLES, credentials.SETTINGS, publication.SETTINGS,
)  # fmt: skip
SETTINGS: tuple[Setting, ...] = tuple(s for group in GROUPS for s in group)
DEFAULTS = {s.key: s.default for s in SETTINGS}


@dataclass(frozen=True)
class Tree:
    """What the settings read of the app's source tree: its ``Procfile`` (the text, ``None``
    when it has none), the command that installs a release's dependencies in it
    (``Runtime.install``) and the packages that needs (``Runtime.packages_for``). Read from
    ``app_source`` on the control machine (``read``); a host that pulls has it from the app's
    description (``ssmenv.description``), with no tree at hand."""

    procfile: str | None = None
    install: str | None = None
    packages: tuple[str, ...] = ()

    @classmethod
    def read(cls, source: Path, runtime: Runtime) -> Tree:
        """``source``'s, as ``runtime`` reads it; raises ``ProcfileError`` naming a Procfile
        line that is not UTF-8 text."""
        return cls(proc.procfile_text(source), runtime.install(source),
                   runtime.packages_for(source))  # fmt: skip


#: The settings an app's description carries (``AppConfig.settings``): every one but which apps
#: a host runs and where the source tree is on the control machine.
DESCRIBED = tuple(s.key for s in SETTINGS
                  if s.key not in HOST_APPS.keys and s.key != "app_source")  # fmt: skip


@dataclass(frozen=True)
class AppConfig:
    """What one host should run, from its data; the only place host data is read and checked."""

    name: str
    user: str
    # The app's source tree on the control machine; ``None`` on a host that pulls.
    source: Path | None
    version: str | None
    start: str
    port: int
    packages: tuple[str, ...]
    health_path: str
    health_timeout: int
    env: Mapping[str, str]
    env_required: tuple[str, ...]
    # Each configuration source's spec, by kind, for the sources host data uses, lowest
    # precedence first (ssmenv.sources: `config.sources["ssm_path"].path`).
    sources: Mapping[str, Any] = field(default_factory=dict)
    env_overrides: frozenset[str] = frozenset()
    contract: Contract = field(default_factory=Contract)
    journald_max_use: str = "500M"
    runtime: Runtime = RUNTIMES["node"]
    health_settle: int = 2
    # How many hosts activate at once: a canary, then batches (ssmenv.rollout).
    rollout: pace.Pace = field(default_factory=pace.Pace)
    # A fleet rollout through Run Command, beyond its pace: MaxErrors and each host's timeout.
    fleet: pace.Fleet = field(default_factory=pace.Fleet)
    journald_max_retention: str = "1month"
    env_keep_previous: bool = True
    # The variables delivered as systemd credentials instead of env-file lines.
    credentials: credentials.Selection = field(default_factory=credentials.Selection)
    # What runs on this host: the Procfile's processes placed here, or the one web process.
    processes: tuple[proc.Process, ...] = ()
    # An image to run instead of a source tree (app_runtime "container").
    container: image.Container | None = None
    # Where the app is published for hosts in pull mode (its description, its releases).
    publication: publication.Publication | None = None
    # How its hosts get it (push or pull) and how its agent goes about it.
    pull: Pull = field(default_factory=Pull)
    # What the settings read of its source tree (Procfile, dependencies' install).
    tree: Tree = field(default_factory=Tree)
    # Its settings as given (``DESCRIBED``, unset ones left out), for its description.
    settings: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def env_file(self) -> str:
        return f"/etc/{self.name}.env"

    @property
    def target(self) -> str | None:
        """``<app>.target``, which every process's unit is part of; ``None`` without a
        Procfile (the app's one unit, ``<app>.service``, stands alone as it always has)."""
        if not self.processes or self.processes[0].legacy:
            return None
        return f"{self.name}.target"

    @property
    def units(self) -> tuple[str, ...]:
        """Every unit the app runs on this host: its processes' (instances included), then its
        target."""
        units = tuple(u for p in self.processes for u in p.units(self.name))
        return units + ((self.target,) if self.target else ())

    @property
    def home(self) -> str:
        return f"/opt/{self.name}"

    @classmethod
    def from_data(cls, data: Any) -> AppConfig:
        """Read and check every setting from pyinfra host data; report all problems at once."""
        config, problems = cls.collect(data)
        refuse(problems)
        assert config is not None
        return config

    @classmethod
    def collect(cls, data: Any, tree: Tree | None = None) -> tuple[AppConfig | None, list[str]]:
        """The app ``data`` describes, or ``None`` and every problem found (one ``key: why``
        line each, never a value). ``tree``: what the settings read of the source tree, given
        (a host that pulls: the app's description) instead of read from ``app_source``, which
        is then not a setting."""
        groups = [group for group in GROUPS if group not in (SOURCES, HOST_APPS)]
        if tree is not None:
            groups = [_DESCRIBED_APP if group is APP else group for group in groups]
        values, problems = collect(data, groups)

        def fail(key: str, why: str) -> None:
            problems.append(f"{key}: {why}")

        # --- the configuration sources: their settings, checked, become their specs ---
        specs, why = sources.read(data)
        problems += why
        # --- end of the configuration sources ---
        contract = Contract()
        if "env_contract" in values and "env_required" in values:
            contract, why = Contract.parse(
                values["env_contract"], values["env_required"],
                contract_origin=origins.of(data, "env_contract"),
                required_origin=origins.of(data, "env_required"),
            )  # fmt: skip
            for problem in why:
                fail("env_contract", problem)
        name = values.get("app_name", "example-app")
        home = f"/opt/{name}"
        runtime: Runtime | None = values.get("app_runtime")
        found: tuple[proc.Process, ...] = ()
        container, why = _container(runtime, values, data)
        problems += why
        published = None
        if all(key in values for key in publication.SETTINGS.keys):
            try:
                region = aws.REGION.check(value_of(data, aws.REGION.key))
            except ValueError:
                region = None  # the sources report aws_region's problem
            path = specs["ssm_path"].path if "ssm_path" in specs else None
            if region is not None:
                published, why = publication.read(values, name, region, path)
                problems += why
        # A key with a problem has no value: what depends on it waits for it to be fixed.
        ready = all(key in values for key in ("app_start", "app_port", "app_processes"))
        if values.get("app_start") is not None and runtime is not None:
            # The command lands in a unit: as ExecStart=, or as words after the image, which
            # the engine's command precedes (so a leading "-" is an option there, no prefix).
            why = proc.command_problems(values["app_start"], prefixes=not runtime.image)
            problems += [f"app_start: {w}" for w in why]
            ready = ready and not why
        if ready and container is not None:
            # An image is one process: the web one, its command the image's own or app_start.
            try:
                found = proc.processes(
                    procfile=None, placement=values["app_processes"],
                    start=values["app_start"] or "", port=values["app_port"],
                    health_path=values.get("health_path", ""), home=home,
                )  # fmt: skip
            except ValueError as e:
                problems.append(str(e))
        elif ready and runtime is not None and not runtime.image and (
                tree is not None or values.get("app_source")):  # fmt: skip
            start = values["app_start"] or runtime.start_command(home)
            try:
                if tree is None:
                    tree = Tree.read(values["app_source"], runtime)
                procfile = None if tree.procfile is None else proc.parse_procfile(tree.procfile)
                if procfile is not None and values["app_start"] is not None:
                    raise ValueError("app_start: the app's Procfile says how each process starts")
                found = proc.processes(
                    procfile=procfile,
                    placement=values["app_processes"], start=start, port=values["app_port"],
                    health_path=values.get("health_path", ""), home=home,
                )  # fmt: skip
            except ValueError as e:
                problems.append(str(e) if str(e).startswith("app_") else f"app_source: {e}")
            # What the units will run must be in the release (a missing server.js would fail at
            # start, on the first host, after the release went to all of them). Checked where
            # the tree is: a description was checked so when it was made.
            if values.get("app_source") is not None:
                problems += entrypoints.problems(found, values["app_source"], runtime, home,
                                                 values["app_start"])  # fmt: skip
        if problems or runtime is None:
            return None, problems
        config = cls(
            name=name,
            user=values["app_user"] or name,
            source=values.get("app_source"),
            version=values["app_version"],
            start=values["app_start"] or runtime.start_command(home),
            runtime=runtime,
            port=values["app_port"],
            packages=values["app_packages"] or runtime.packages,
            health_path=values["health_path"],
            health_timeout=values["health_timeout"],
            health_settle=values["health_settle"],
            rollout=pace.pace(values["rollout_canary"], values["rollout_batch"]),
            fleet=pace.Fleet(values["fleet_max_errors"], values["fleet_timeout"]),
            journald_max_use=values["journald_max_use"],
            journald_max_retention=values["journald_max_retention"],
            env=values["env"],
            env_required=values["env_required"],
            env_overrides=values["env_overrides"],
            env_keep_previous=values["env_keep_previous"],
            credentials=values["credentials"],
            contract=contract,
            sources=specs,
            processes=found,
            container=container,
            publication=published,
            pull=publication.pull(values),
            tree=tree if tree is not None and not runtime.image else Tree(),
            settings=described(data),
        )
        return config, []

    @property
    def sources_summary(self) -> str:
        """Where the variables come from, for headers and messages (no values)."""
        return sources.describe(self.sources)


#: The app's own settings without ``app_source``: a host that pulls has no tree.
_DESCRIBED_APP = Settings(APP.title, tuple(s for s in APP if s.key != "app_source"))


def described(data: Any) -> dict[str, Any]:
    """The app's settings as ``data`` gives them (``DESCRIBED``), those it sets: what its
    description carries, to be checked again where it is read."""
    return {key: value for key in DESCRIBED if (value := value_of(data, key)) is not None}


def _container(
    runtime: Runtime | None, values: Mapping[str, Any], data: Any
) -> tuple[image.Container | None, list[str]]:
    """The image settings checked against the runtime: an image only for ``container``, and
    always for it; a registry password only with its user; an ECR login without either. An
    ECR token is asked for in the region of the image's ECR host, else in ``aws_region``."""
    given = [s.key for s in image.SETTINGS if values.get(s.key) not in (None, s.default)]
    if runtime is None or not runtime.image:
        if runtime is not None:
            return None, [f"{key}: only with app_runtime \"container\"" for key in given]
        return None, []
    problems = []
    if "app_image" in values and values["app_image"] is None:
        problems.append("app_image: required with app_runtime \"container\" (the image to run, "
                        "by digest)")  # fmt: skip
    user = values.get("container_registry_username")
    password = values.get("container_registry_password")
    if (user is None) != (password is None):
        problems.append("container_registry_password: the registry's user and password go "
                        "together (container_registry_username)")  # fmt: skip
    reference: image.Image | None = values.get("app_image")
    ecr_region = ecr.region_of(reference.registry) if reference else None
    login = values.get("container_registry_login")
    if login is None:
        login = "password" if user is not None else "ecr" if ecr_region else None
    if login == "ecr" and (user is not None or password is not None):
        problems.append("container_registry_login: ecr logs in as AWS with ECR's token: leave "
                        "container_registry_username and container_registry_password unset")
    elif login == "password" and user is None and password is None:
        problems.append("container_registry_login: password needs container_registry_username "
                        "and container_registry_password")  # fmt: skip
    # A key with a problem has no value (collect reported it): nothing to build yet.
    if problems or reference is None or any(k not in values for k in image.SETTINGS.keys):
        return None, problems
    region = None
    if login == "ecr":
        try:
            region = ecr_region or aws.REGION.check(value_of(data, aws.REGION.key))
        except ValueError:
            return None, []  # the sources report aws_region's problem
    return image.Container(reference, values.get("container_engine"), user, password, login,
                           region, values["container_user"]), []  # fmt: skip


def markdown_table() -> str:
    """The table of host data settings (docs/settings.md)."""
    return settings_table(GROUPS)


if __name__ == "__main__":
    print(markdown_table())
