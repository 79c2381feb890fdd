"""Rendering the env file and the unit from ``templates/`` with jinja2.

The env template runs in an environment that refuses to print any expression that did not pass
through one of its encoding filters, so a value can never reach the file unencoded. The result is
parsed back with systemd's grammar and compared with what was meant before anyone installs it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import jinja2

from ssmenv import envfile
from ssmenv.config import REPO_ROOT, AppConfig

TEMPLATES = REPO_ROOT / "templates"


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


def _environment(finalize=None) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 -- not HTML; env values are encoded by filters
        finalize=finalize,
    )
    env.filters.update(
        env_name=_env_name, env_value=lambda v: Encoded(envfile.encode_value(v)), comment=_comment
    )
    return env


_env_templates = _environment(finalize=_finalize)
_unit_templates = _environment()


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


def unit_file(config: AppConfig) -> str:
    """The systemd unit of the app."""
    return _unit_templates.get_template("app.service.j2").render(
        name=config.name,
        user=config.user,
        home=config.home,
        env_file=config.env_file,
        # Literally: systemd would expand % specifiers and $VARIABLES (a secret's value among
        # them) into the command line.
        start=config.start.replace("%", "%%").replace("$", "$$"),
    )
