"""Rendering from ``templates/`` with jinja2: the env file, the app's unit, the rotation units.

This module owns the one jinja environment over the templates (``templates``: its loader, options
and filters); the scheduler renders its units through it too. The env template runs in an overlay
of it that refuses to print any expression that did not pass through one of its encoding filters,
so a value can never reach the file unencoded. The result is parsed back with systemd's grammar
and compared with what was meant before anyone installs it.

The templates are the checkout's root ``templates/``; an installed package carries them inside
itself (``ssmenv/templates``, mapped there by the wheel build in ``pyproject.toml``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2

from ssmenv import envfile
from ssmenv.config import REPO_ROOT, AppConfig
from ssmenv.credentials import Delivered
from ssmenv.names import is_variable, shown
from ssmenv.processes import command_problems
from ssmenv.rotation import RotationTimer
from ssmenv.runtimes.container import CREDENTIALS_MOUNT, ENGINES, SECRETS_DIR, Engine

_PACKAGED = Path(__file__).with_name("templates")
TEMPLATES = _PACKAGED if _PACKAGED.is_dir() else REPO_ROOT / "templates"


class Encoded(str):
    """Text already made safe for its place in the env file."""


def _finalize(value: Any) -> Any:
    if not isinstance(value, Encoded):
        # The message names the type only: the value may be a secret.
        raise jinja2.TemplateError(
            f"env template printed a {type(value).__name__} without an encoding filter "
            "(env_name, env_value or comment)"
        )
    return value


def _env_name(name: str) -> Encoded:
    if envfile.problems({name: ""}):
        raise jinja2.TemplateError(f"invalid variable name {name!r}")
    return Encoded(name)


# In a comment, systemd refuses a NUL (the whole file), and a lone surrogate cannot be written
# as UTF-8 at all: both become U+FFFD.
_UNWRITABLE = re.compile(r"[\x00\ud800-\udfff]")


def _comment(text: Any) -> Encoded:
    # A comment stays one line (systemd ends comments at newline or CR), and must not end in a
    # backslash, which on systemd <= 253 hides the next line.
    one_line = " ".join(_UNWRITABLE.sub("\ufffd", str(text)).split())
    return Encoded(one_line.rstrip("\\"))


# Characters an ExecStart= argument may hold without quoting.
_PLAIN_ARG = re.compile(r"[A-Za-z0-9_./:=@+,-]+")


def unit_value(text: str) -> str:
    """Text for a unit setting taken literally (paths, descriptions): ``%`` starts a specifier."""
    return text.replace("%", "%%")


def command_line(text: str) -> str:
    """An ``ExecStart=`` command line taken literally: no ``%`` specifier, no ``$VARIABLE`` (a
    secret's value among them) expanded into it; its words and quotes are systemd's as written."""
    return unit_value(text).replace("$", "$$")


def exec_start(command: str) -> str:
    """``command`` as its unit's ``ExecStart=`` line (``command_line``), or ``ValueError`` when
    it cannot be one as written (``ssmenv.processes.command_problems``: a prefix that runs it as
    root, a control character, a trailing backslash...). Host data and the Procfile are checked
    before this; here no other way in can write such a line either."""
    why = command_problems(command)
    if why:
        raise ValueError(f"ExecStart= command refused: {'; '.join(why)}")
    return command_line(command)


def exec_arg(arg: str) -> str:
    """One ``ExecStart=`` argument that systemd reads back as exactly ``arg``: specifiers and
    ``$`` variables escaped, and double-quoted with C escapes unless it is plain."""
    escaped = command_line(arg)
    if _PLAIN_ARG.fullmatch(escaped):
        return escaped
    return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _environment(finalize=None) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # noqa: S701 -- not HTML; values are encoded or escaped by filters
        finalize=finalize,
    )
    env.filters.update(
        env_name=_env_name,
        env_value=lambda v: Encoded(envfile.encode_value(v)),
        comment=_comment,
        unit_value=unit_value,
        exec_arg=exec_arg,
    )
    return env


# The one environment: units render through it as they are, the env file through an overlay that
# shares its loader and filters and adds the strict finalize (a fresh cache, so no template
# compiled without that finalize can be handed out by it).
templates = _environment()
_env_templates = templates.overlay(finalize=_finalize, cache_size=50)


def env_file(app_name: str, origin: str, variables: Mapping[str, str]) -> str:
    """The env file for ``variables``, checked to parse back to exactly them."""
    text = _env_templates.get_template("app.env.j2").render(
        app_name=app_name, origin=origin, variables=variables
    )
    parsed = envfile.parse(text)
    if parsed != dict(variables):
        wrong = sorted(k for k in set(parsed) | set(variables) if parsed.get(k) != variables.get(k))
        raise envfile.EnvFileError(
            [envfile.Problem(k, "does not parse back to its value") for k in wrong]
        )
    return text


def container_run(
    config: AppConfig, engine: Engine, names: Sequence[str], credentials: Delivered
) -> dict[str, Any]:
    """What the unit of an app that runs an image says about it: the engine's command line, each
    word escaped for ``ExecStart=`` (the container given the env file's ``names``, the listening
    process's ``PORT`` and each credential's ``NAME_FILE``, by name only), and the command that
    removes a leftover container first, for an engine that cannot replace one."""
    assert config.container is not None
    process = config.processes[0]
    given = [*names, *(["PORT"] if process.port else []),
             *(f"{name}_FILE" for name in credentials.names)]  # fmt: skip
    options = engine.options(config.name, bool(credentials))
    image = [config.container.image.reference, *config.container.args(process.command)]
    # One line for the engine's options, one per name, one for the image and its command. The
    # credentials' mount is the one word with a specifier for systemd to expand (%d).
    lines = [
        " ".join(word if word == CREDENTIALS_MOUNT else exec_arg(word) for word in options),
        *(exec_arg(f"--env={name}") for name in given),
        " ".join(exec_arg(word) for word in image),
    ]
    remove = [engine.binary, "rm", "--force", config.name] if engine.remove_first else None
    return {
        "run": lines,
        "remove": remove,
        "secrets_dir": SECRETS_DIR,
    }


def unit_files(
    config: AppConfig,
    credentials: Delivered | None = None,
    names: Sequence[str] = (),
    engine: Engine | None = None,
) -> dict[str, str]:
    """The app's unit files on this host, by name: one per process (a template for a process
    that runs several times), and the target they are part of, if the app has a Procfile. Each
    process's unit loads the app's ``credentials``, if it has any. An app that runs an image has
    one unit, which runs it with ``engine``, giving the container the env file's ``names``."""
    files = {}
    credentials = credentials or Delivered(config.name)
    # Names become unit lines (LoadCredentialEncrypted=NAME:..., --env=NAME): the variables'
    # composition refuses any other before this; here no other way in can write one either.
    odd = [shown(n) for n in (*credentials.names, *names) if not is_variable(n)]
    if odd:
        raise ValueError(f"not variable names, refused in a unit: {', '.join(odd)}")
    target = config.target
    container = None
    if config.container is not None:
        container = container_run(config, engine or ENGINES["podman"], names, credentials)
    for process in config.processes:
        template = process.instances is not None
        label = f"{config.name} {process.name}" if not process.legacy else config.name
        syslog = config.name if process.legacy else f"{config.name}-{process.name}"
        files[process.unit_file(config.name)] = templates.get_template("app.service.j2").render(
            unit=process.unit_file(config.name),
            description=label + (" %i" if template else ""),
            syslog=syslog + ("-%i" if template else ""),
            target=target,
            name=config.name,
            user=config.user,
            home=config.home,
            env_file=config.env_file,
            port=process.port,
            start=None if container else exec_start(process.command),
            credentials=credentials.paths,
            load=credentials.delivery.directive,
            container=container,
        )
    if target:
        files[target] = templates.get_template("app.target.j2").render(
            target=target, name=config.name
        )
    return files


def unit_file(config: AppConfig) -> str:
    """The unit of the app's first process (its only one without a Procfile)."""
    return next(iter(unit_files(config).values()))


# The scheduled rotation's units: pure functions of a RotationTimer, tested by equality and
# `systemd-analyze verify`.


def _render_rotation(template: str, timer: RotationTimer) -> str:
    return templates.get_template(template).render(
        t=timer, service=timer.service, timer=timer.timer, command=timer.command()
    )


def rotation_service_unit(timer: RotationTimer) -> str:
    """``ssmenv-rotate-<name>.service``: one rotation run, under the lock."""
    return _render_rotation("rotation.service.j2", timer)


def rotation_timer_unit(timer: RotationTimer) -> str:
    """``ssmenv-rotate-<name>.timer``: when the service runs."""
    return _render_rotation("rotation.timer.j2", timer)
