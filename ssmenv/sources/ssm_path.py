"""SSM by path: every parameter under ``ssm_path``, recursive and decrypted, each named by its
last path component (or by ``ssm_path_map``)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ssmenv import aws, policy
from ssmenv.errors import SourceError
from ssmenv.names import VariableName, one_line
from ssmenv.policy import Statement
from ssmenv.settings import Json, Matching, Setting
from ssmenv.sources.base import Pin, Row, Source, Variable, read_once, run_cache
from ssmenv.sources.ssm import NAME_CHARACTERS, Parameter, pinned_names

# pyinfra's logger (``pyinfra.logger`` is this one), by name: the sources run without pyinfra too.
logger = logging.getLogger("pyinfra")

#: GetParametersByPath's MaxResults (neither botocore nor moto enforce it).
PAGE_SIZE = 10

SETTINGS = (
    aws.REGION,
    Setting("ssm_path", Matching(f"/{NAME_CHARACTERS}*", "an SSM path starting with / (for "
                                 "example /my-app/prod)"), None,
            "SSM path read recursively and decrypted; each parameter's last path component is a "
            "variable name (see `ssm_path_map`). Starts with `/`. At least one of `ssm_path`, "
            "`ssm_parameters` and `secrets` is required.", parse=lambda p: p.rstrip("/") or "/"),
    Setting("ssm_path_map", Json(dict[Matching(f"{NAME_CHARACTERS}+", "a parameter's path "
                                               "relative to ssm_path"), VariableName]), {},
            "Variable names for parameters under `ssm_path` whose last component is not the name: "
            'path relative to `ssm_path` to variable (`{"db/url": "DATABASE_URL"}`).',
            parse=lambda names: {k.strip("/"): v for k, v in names.items()}),
)  # fmt: skip


@dataclass(frozen=True)
class PathSpec:
    """The path to read and how its parameters are named.

    + region: the AWS region
    + path: the SSM path, without a trailing ``/``
    + names: path relative to ``path`` to variable, for parameters not named by their last
      component (``ssm_path_map``)
    """

    region: str
    path: str
    names: Mapping[str, str] = field(default_factory=dict)


_paths = run_cache()  # (region, path) -> {name: Parameter}, or the SourceError


def parameters_by_path(region: str, path: str) -> dict[str, Parameter]:
    """Every parameter under ``path``, recursive and decrypted, by full name; read once per run.

    Raises :class:`SourceError` naming the path when it cannot be read.
    """
    key = (region, path)
    return read_once(_paths, [key], lambda _: {key: _read_path(region, path)})[key]


def _read_path(region: str, path: str) -> dict[str, Parameter] | SourceError:
    found: dict[str, Parameter] = {}
    request = {"Path": path, "Recursive": True, "WithDecryption": True, "MaxResults": PAGE_SIZE}
    pages = 0
    try:
        # Pages may be short or empty while NextToken is present: follow the token, not the count.
        while True:
            pages += 1
            page = aws.call("ssm", region, "GetParametersByPath", **request)
            for p in page.get("Parameters", []):
                found[p["Name"]] = Parameter.from_answer(p)
            if not page.get("NextToken"):
                logger.debug(f"SSM path {path}: {len(found)} parameters in {pages} requests")
                return found
            request["NextToken"] = page["NextToken"]
    except (ClientError, BotoCoreError) as e:
        return SourceError(f"SSM path {path} ({region}): {aws.reason(e)}")


class SsmPath(Source):
    kind = "ssm_path"
    settings = SETTINGS
    hint = "ssm_path (for example /my-app/prod)"
    row = Row(
        "SSM by path",
        "`ssm_path`",
        "`GetParametersByPath`, recursive, decrypted, every page (10 per page)",
        "one variable per parameter, named by its last path component, or by `ssm_path_map`",
    )

    def spec(self, values: Mapping[str, Any]) -> tuple[PathSpec | None, list[str]]:
        if values["ssm_path"] is None:
            return None, []
        return PathSpec(values["aws_region"], values["ssm_path"], values["ssm_path_map"]), []

    def fetch(self, spec: PathSpec) -> dict[str, Parameter]:
        return parameters_by_path(spec.region, spec.path)

    def variables(
        self, spec: PathSpec, answer: dict[str, Parameter], pinned: frozenset[Pin]
    ) -> tuple[list[Variable], list[str]]:
        taken = pinned_names(pinned)
        found = []
        for parameter in sorted(answer.values(), key=lambda p: p.name):
            if parameter.name in taken:
                continue
            relative = parameter.name[len(spec.path) :].lstrip("/")
            name = spec.names.get(relative, relative.rsplit("/", 1)[-1])
            # The parameter's name as its source, on one line whatever an answer holds.
            found.append(Variable(name, parameter.value, one_line(parameter.name),
                                  parameter.version, parameter.secure))  # fmt: skip
        problems = [
            f"ssm_path_map: no SSM parameter {spec.path}/{relative}"
            for relative in sorted(spec.names)
            if f"{spec.path}/{relative}" not in answer
        ]
        return found, problems

    def expected(self, spec: PathSpec, name: str, pinned: frozenset[Pin]) -> list[str]:
        if any(p.variable == name for p in pinned):
            return []  # pinned by name: not expected from the path
        mapped = {variable: relative for relative, variable in spec.names.items()}
        return [f"SSM parameter {spec.path.rstrip('/')}/{mapped.get(name, name)}"]

    def summary(self, spec: PathSpec) -> str:
        return f"SSM {spec.path}"

    def permissions(self, spec: PathSpec, account: str) -> list[Statement]:
        # GetParametersByPath is authorized against the path, not the parameters it returns
        # (AWS's documentation); each SecureString under it is decrypted with its own ARN as
        # the encryption context.
        path = policy.parameter_arn(spec.region, account, spec.path)
        return [
            Statement("ReadParameterPaths", ("ssm:GetParametersByPath",), (path,)),
            policy.decrypt("DecryptParameters", "ssm", spec.region, account, "PARAMETER_ARN",
                           [f"{path.rstrip('/')}/*"]),
        ]  # fmt: skip


SOURCE = SsmPath()
