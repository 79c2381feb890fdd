"""SSM by name: the parameters listed in ``ssm_parameters``, each optionally pinned to a version
or a label, read with ``GetParameters``."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import AfterValidator

from ssmenv import aws, policy
from ssmenv.errors import SourceError
from ssmenv.names import RULE, is_variable, shown
from ssmenv.policy import Statement
from ssmenv.settings import Json, Setting
from ssmenv.sources.base import (
    Failure,
    Pin,
    Row,
    Source,
    Variable,
    batches,
    plural,
    read_once,
    run_cache,
    some,
)
from ssmenv.sources.ssm import NAME_CHARACTERS, Parameter, pin

#: GetParameters' Names maximum (neither botocore nor moto enforce it).
NAMES_PER_CALL = 10

_PARAMETER_NAME = re.compile(f"{NAME_CHARACTERS}{{1,2048}}")
# A version is a number; a label starts with a letter, '.', '-' or '_' (AWS refuses digits first).
_SELECTOR = re.compile(r"[0-9]{1,10}|[A-Za-z_.\-][A-Za-z0-9_.\-]{0,99}")


def _listed(value: Any) -> list[tuple[str | None, str]]:
    """A name, a list of names, or a dict of variable to name, as (variable or None, name)."""
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list) and all(isinstance(r, str) for r in value):
        return [(None, reference) for reference in value]
    if isinstance(value, dict) and all(isinstance(k, str) and isinstance(r, str)
                                       for k, r in value.items()):  # fmt: skip
        return list(value.items())
    raise ValueError("must be a list of parameter names or a dict of names to them")


SETTINGS = (
    aws.REGION,
    Setting("ssm_parameters", Annotated[Json(Any), AfterValidator(_listed)], [],
            "SSM parameters read by name (10 per request): a list of names, each optionally pinned "
            "to a version (`/app/prod/DB_PASSWORD:3`) or a label (`/app/prod/DB_PASSWORD:live`), "
            "the last path component naming the variable; or a dict of variable name to parameter.",
            shown_type="list of string, or map"),
)  # fmt: skip


@dataclass(frozen=True)
class ParameterSpec:
    """One SSM parameter read by name, optionally pinned: ``/app/prod/DB_PASSWORD``,
    ``/app/prod/DB_PASSWORD:3`` (version 3) or ``/app/prod/DB_PASSWORD:live`` (label ``live``).

    + reference: the name as ``GetParameters`` takes it, selector included
    + variable: the variable it becomes; default: the name's last path component
    """

    reference: str
    variable: str

    @property
    def name(self) -> str:
        return self.reference.split(":", 1)[0]

    @property
    def selector(self) -> str:
        return self.reference.partition(":")[2]

    @classmethod
    def parse(cls, reference: str, variable: str | None = None) -> ParameterSpec:
        """Check ``reference``'s shape; raises ``ValueError`` saying what is wrong."""
        name, _, selector = reference.partition(":")
        if not _PARAMETER_NAME.fullmatch(name):
            raise ValueError("a parameter name is letters, digits and _ . - / (ARNs are not taken)")
        if ":" in reference and not _SELECTOR.fullmatch(selector):
            raise ValueError("the pin after ':' must be a version number or a label")
        if variable is None:
            variable = name.rstrip("/").rsplit("/", 1)[-1]
            if not is_variable(variable):
                raise ValueError(f"its last path component is not a variable name ({RULE}): "
                                 "map a name to it ({\"NAME\": \"/path/to/it\"})")  # fmt: skip
        elif not is_variable(variable):
            raise ValueError(f"the variable {shown(variable)} is not a variable name ({RULE})")
        return cls(reference, variable)


@dataclass(frozen=True)
class ParametersSpec:
    """The parameters to read by name, in the region ``region``."""

    region: str
    parameters: tuple[ParameterSpec, ...]


_parameters = run_cache()  # (region, reference) -> Parameter, Failure or the call's SourceError


def parameters_by_name(region: str, references: Iterable[str]) -> dict[str, Parameter | Failure]:
    """Each reference (``name``, ``name:version``, ``name:label``) to its parameter or why not.

    Reads only what no host read before, ``GetParameters`` with at most 10 names per call, a
    name at most once per call: AWS tells two pins of one name apart only by ``Selector``,
    which not every implementation returns. Raises :class:`SourceError` when a call fails.
    """

    def read(missing: list[tuple[str, str]]) -> dict[tuple[str, str], Any]:
        found: dict[tuple[str, str], Any] = {}
        names = [reference for _, reference in missing]
        for batch in batches(names, NAMES_PER_CALL, key=lambda r: r.split(":", 1)[0]):
            found.update({(region, r): got for r, got in _get_parameters(region, batch).items()})
        return found

    answer = read_once(_parameters, [(region, r) for r in references], read)
    return {reference: result for (_, reference), result in answer.items()}


def _get_parameters(region: str, batch: list[str]) -> dict[str, Parameter | Failure | SourceError]:
    try:
        page = aws.call("ssm", region, "GetParameters", Names=batch, WithDecryption=True)
    except (ClientError, BotoCoreError) as e:
        error = SourceError(f"SSM parameters {some(batch)} ({region}): {aws.reason(e)}")
        return dict.fromkeys(batch, error)
    by_name = {p["Name"]: p for p in page.get("Parameters", [])}
    invalid = set(page.get("InvalidParameters", []))
    found: dict[str, Parameter | Failure | SourceError] = {}
    for reference in batch:
        p = by_name.get(reference.split(":", 1)[0])
        if reference in invalid or p is None:
            reason = "not found (no such parameter, version or label)"
            found[reference] = Failure(f"SSM parameter {reference}", reason)
        else:
            found[reference] = Parameter.from_answer(p)
    return found


class SsmParameters(Source):
    kind = "ssm_parameters"
    settings = SETTINGS
    hint = "ssm_parameters"
    row = Row(
        "SSM by name",
        "`ssm_parameters`",
        "`GetParameters`, 10 names per request; unknown names come back as `InvalidParameters`",
        "one variable per parameter; `name:3` pins version 3, `name:live` the label `live`",
    )

    def spec(self, values: Mapping[str, Any]) -> tuple[ParametersSpec | None, list[str]]:
        specs, problems = [], []
        for variable, reference in values["ssm_parameters"]:
            try:
                specs.append(ParameterSpec.parse(reference, variable))
            except ValueError as e:
                # Named as given, but on one line: a newline in it would split the message.
                shown = reference if reference.isprintable() else repr(reference)
                problems.append(f"ssm_parameters: {shown}: {e}")
        return (ParametersSpec(values["aws_region"], tuple(specs)) if specs else None), problems

    def fetch(self, spec: ParametersSpec) -> dict[str, Parameter | Failure]:
        return parameters_by_name(spec.region, [p.reference for p in spec.parameters])

    def variables(
        self, spec: ParametersSpec, answer: dict[str, Parameter | Failure], pinned: frozenset[Pin]
    ) -> tuple[list[Variable], list[str]]:
        found, problems = [], []
        for parameter in spec.parameters:
            result = answer.get(parameter.reference)
            if isinstance(result, Parameter):
                found.append(
                    Variable(parameter.variable, result.value, parameter.reference, result.version,
                             result.secure)
                )
            elif isinstance(result, Failure):
                problems.append(f"{parameter.variable}: {result}")
        return found, problems

    def expected(self, spec: ParametersSpec, name: str, pinned: frozenset[Pin]) -> list[str]:
        return [f"SSM parameter {p.reference}" for p in spec.parameters if p.variable == name]

    def summary(self, spec: ParametersSpec) -> str:
        return plural(len(spec.parameters), "SSM parameter")

    def pins(self, spec: ParametersSpec) -> frozenset[Pin]:
        return frozenset(pin(p.name, p.variable) for p in spec.parameters)

    def permissions(self, spec: ParametersSpec, account: str) -> list[Statement]:
        # Checked on each name, its pin (":3", ":live") no part of the ARN.
        arns = [policy.parameter_arn(spec.region, account, p.name) for p in spec.parameters]
        return [
            Statement("ReadParameters", ("ssm:GetParameters",), tuple(arns)),
            policy.decrypt("DecryptParameters", "ssm", spec.region, account, "PARAMETER_ARN",
                           arns),
        ]  # fmt: skip


SOURCE = SsmParameters()
