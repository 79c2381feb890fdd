"""Secrets Manager: the secrets listed in ``secrets``, JSON objects whose keys become variables or
plain strings that become one, read with ``BatchGetSecretValue`` (and ``GetSecretValue`` for a
stage other than ``AWSCURRENT``)."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import AfterValidator, BeforeValidator

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

#: BatchGetSecretValue's SecretIdList maximum (neither botocore nor moto enforce it).
SECRETS_PER_CALL = 20
CURRENT = "AWSCURRENT"

_STAGE = re.compile(r"[A-Za-z0-9_.\-]{1,256}")
# A secret's name (AWS allows these characters) or its ARN, which adds colons.
_ID = re.compile(r"[A-Za-z0-9/_+=.@:\-]{1,2048}")


@dataclass(frozen=True)
class SecretSpec:
    """One Secrets Manager secret and how it becomes variables.

    + id: the secret's name or ARN
    + variable: a plain-string secret becomes this one variable; without it the secret must be a
      JSON object, and each key becomes a variable
    + prefix: put before each JSON key (``DB_`` makes ``password`` into ``DB_password``)
    + stage: the ``VersionStage`` to read (``AWSCURRENT``, ``AWSPENDING``, ``AWSPREVIOUS``...)
    + as_json: keys of a JSON secret whose values are given as their JSON text, as the secret
      writes it (a nested object or array is refused otherwise)
    """

    id: str
    variable: str | None = None
    prefix: str = ""
    stage: str = CURRENT
    as_json: tuple[str, ...] = ()

    @property
    def is_json(self) -> bool:
        return self.variable is None

    @property
    def label(self) -> str:
        """``secret ID``, with its stage when it is not ``AWSCURRENT``."""
        return f"secret {self.id}" + ("" if self.stage == CURRENT else f" (stage {self.stage})")

    @classmethod
    def parse(cls, entry: Any) -> SecretSpec:
        """From host data: a secret id (a JSON secret), or a dict with ``id`` and the fields above;
        raises ``ValueError`` saying what is wrong."""
        if isinstance(entry, str):
            entry = {"id": entry}
        if not isinstance(entry, dict):
            raise ValueError("must be a secret id or a dict with an id")
        unknown = set(entry) - {"id", "variable", "prefix", "stage", "as_json"}
        if unknown:
            raise ValueError(f"unknown keys {', '.join(map(shown, sorted(map(str, unknown))))}")
        secret_id, variable = entry.get("id"), entry.get("variable")
        prefix, stage = entry.get("prefix", ""), entry.get("stage", CURRENT)
        as_json = entry.get("as_json", [])
        if not isinstance(secret_id, str) or not _ID.fullmatch(secret_id):
            raise ValueError("needs an id: the secret's name or ARN (letters, digits and "
                             "/_+=.@-, an ARN's colons)")  # fmt: skip
        if variable is not None and (not is_variable(variable) or prefix or as_json):
            raise ValueError(f"variable (for a plain-string secret) is a variable name ({RULE}), "
                             "without a prefix or as_json")  # fmt: skip
        if not isinstance(prefix, str) or (prefix and not is_variable(prefix)):
            raise ValueError(f"prefix must be the start of a variable name ({RULE})")
        if not isinstance(stage, str) or not _STAGE.fullmatch(stage):
            raise ValueError("stage must be a version stage such as AWSCURRENT or AWSPENDING")
        if not isinstance(as_json, list) or not all(isinstance(k, str) for k in as_json):
            raise ValueError("as_json must be a list of the secret's keys")
        return cls(secret_id, variable, prefix, stage, tuple(as_json))


def _listed(value: Any) -> Any:
    # One secret (an id or a dict) is a list of one.
    return value if isinstance(value, list) else [value]


SETTINGS = (
    aws.REGION,
    Setting("secrets", Json(Annotated[list[Annotated[Any, AfterValidator(SecretSpec.parse)]],
                                      BeforeValidator(_listed)]), [],
            "Secrets Manager secrets (20 per request): ids of JSON secrets, each key becoming a "
            'variable; or dicts `{"id": ..., "prefix": "DB_", "stage": "AWSPENDING", "as_json": '
            '["FLAGS"]}` (`as_json`: keys whose value, a nested object or array, is given as '
            'its JSON text as the secret writes it), or `{"id": ..., "variable": "API_KEY"}` '
            "for a plain-text secret.", parse=tuple,
            shown_type="list of string or map"),
)  # fmt: skip


@dataclass(frozen=True)
class SecretsSpec:
    """The secrets to read, in the region ``region``."""

    region: str
    secrets: tuple[SecretSpec, ...]


@dataclass(frozen=True)
class Secret:
    """One secret's value at a stage; ``repr`` never shows the value."""

    id: str
    name: str
    value: str = field(repr=False)
    version_id: str
    stage: str


_secrets = run_cache()  # (region, id, stage) -> Secret, Failure or the call's SourceError


def secret_values(
    region: str, wanted: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Secret | Failure]:
    """Each ``(secret id, version stage)`` to its secret or why not; read once per run.

    ``AWSCURRENT`` values come from ``BatchGetSecretValue``, at most 20 ids per call, which
    reports a secret it cannot read in ``Errors`` instead of raising; other stages, which that
    call cannot select, from one ``GetSecretValue`` each. Raises :class:`SourceError` when a call
    fails as a whole.
    """

    def read(missing: list[tuple[str, str, str]]) -> dict[tuple[str, str, str], Any]:
        found: dict[tuple[str, str, str], Any] = {}
        current = [secret_id for _, secret_id, stage in missing if stage == CURRENT]
        for batch in batches(current, SECRETS_PER_CALL):
            answers = _batch_get(region, batch)
            found.update({(region, i, CURRENT): got for i, got in answers.items()})
        for _, secret_id, stage in missing:
            if stage != CURRENT:
                found[(region, secret_id, stage)] = _get_one(region, secret_id, stage)
        return found

    answer = read_once(_secrets, [(region, *w) for w in wanted], read)
    return {key[1:]: result for key, result in answer.items()}


def _batch_get(region: str, ids: Sequence[str]) -> dict[str, Secret | Failure | SourceError]:
    try:
        page = aws.call("secretsmanager", region, "BatchGetSecretValue", SecretIdList=list(ids))
    except (ClientError, BotoCoreError) as e:
        return dict.fromkeys(ids, SourceError(f"secrets {some(ids)} ({region}): {aws.reason(e)}"))
    found: dict[str, Secret | Failure | SourceError] = {}
    for error in page.get("Errors", []):
        secret_id = error.get("SecretId", "")
        reason = aws.code_and_message(error.get("ErrorCode", "error"), error.get("Message", ""))
        found[secret_id] = Failure(f"secret {secret_id}", reason)
    for item in page.get("SecretValues", []):
        # The answer names each secret by name and ARN; the request may have used either.
        for secret_id in ids:
            if secret_id in (item.get("Name"), item.get("ARN")):
                found[secret_id] = _secret(secret_id, CURRENT, item)
    for secret_id in ids:
        found.setdefault(secret_id, Failure(f"secret {secret_id}", "missing from the answer"))
    return found


def _get_one(region: str, secret_id: str, stage: str) -> Secret | Failure | SourceError:
    try:
        item = aws.call(
            "secretsmanager", region, "GetSecretValue", SecretId=secret_id, VersionStage=stage
        )
    except ClientError as e:
        # A missing secret or stage, a key it cannot decrypt with: about this secret only.
        return Failure(f"secret {secret_id} (stage {stage})", aws.reason(e))
    except BotoCoreError as e:
        return SourceError(f"secret {secret_id} ({region}): {aws.reason(e)}")
    return _secret(secret_id, stage, item)


def _secret(secret_id: str, stage: str, item: dict[str, Any]) -> Secret | Failure:
    if "SecretString" not in item:
        where = secret_id if stage == CURRENT else f"{secret_id} (stage {stage})"
        return Failure(f"secret {where}", "holds binary data; only text secrets are supported")
    return Secret(secret_id, item["Name"], item["SecretString"], item["VersionId"], stage)


# JSON's whitespace (RFC 8259): no other character may stand between its tokens.
_SPACE = re.compile(r"[ \t\n\r]*")


class _Written(str):
    """A number (or NaN, Infinity) as the secret writes it: never made a float or an int."""


# Strict: a control character inside a string is not JSON.
_decoder = json.JSONDecoder(parse_float=_Written, parse_int=_Written, parse_constant=_Written)


def _kind(value: Any) -> str:
    """What a JSON value is, in JSON's words."""
    if isinstance(value, dict | list):
        return "an object" if isinstance(value, dict) else "an array"
    if isinstance(value, str):
        return "a number" if isinstance(value, _Written) else "a string"
    return "null" if value is None else "true or false"


def _members(text: str) -> list[tuple[str, str, Any]]:
    """The members of ``text``, which ``json.loads`` read as an object: each key, its value's
    text as the secret writes it, and the value as read."""
    members = []
    i = _SPACE.match(text).end() + 1  # past "{"
    while True:
        i = _SPACE.match(text, i).end()
        if text[i] == "}":  # an empty object
            return members
        key, i = json.decoder.scanstring(text, i + 1)
        i = _SPACE.match(text, _SPACE.match(text, i).end() + 1).end()  # past ":"
        value, end = _decoder.raw_decode(text, i)
        members.append((key, text[i:end], value))
        i = _SPACE.match(text, end).end()
        if text[i] == "}":
            return members
        i += 1  # past ","


def _json_object(text: str, as_json: Sequence[str] = ()) -> tuple[dict[str, str], list[str]]:
    """A JSON secret's keys and each one's value as the exact text the secret holds: a string's
    text, a number, ``true`` or ``false`` as written (``1.10`` stays ``1.10``, never ``1.1``); a
    key of ``as_json`` gets its value's JSON text as written. Refused, by key: ``null``, a nested
    object or array (unless in ``as_json``), a key given twice. Reasons name keys (escaped) and
    positions, never values."""
    try:
        data = _decoder.decode(text)
        members = _members(text) if isinstance(data, dict) else []
    except json.JSONDecodeError as e:
        # Its msg is "Expecting value"-like and never quotes the document; str(e) is not used.
        where = f"{e.msg} at line {e.lineno} column {e.colno}"
        return {}, [f"is not valid JSON ({where}); give a variable for a plain-text secret"]
    except RecursionError:
        return {}, ["is JSON nested too deeply to read"]
    if not isinstance(data, dict):
        return {}, [f"is JSON but not an object ({_kind(data)}); keys become variables"]
    values: dict[str, str] = {}
    why: list[str] = []
    given = Counter(key for key, _, _ in members)
    for key, written, value in members:
        if given[key] > 1:  # json.loads keeps the last: which one the secret meant is unsure
            why.append(f"key {shown(key)} appears twice")
        elif key in as_json:
            values[key] = written
        elif value is None:
            why.append(f"key {shown(key)} is null")
        elif isinstance(value, dict | list):
            why.append(f"key {shown(key)} holds {_kind(value)}: list it in as_json to "
                       "get its JSON text")  # fmt: skip
        else:
            values[key] = str(value) if isinstance(value, str) else written
    why += [f"as_json: no key {shown(key)}" for key in as_json if key not in data]
    return values, list(dict.fromkeys(why))


class SecretsManager(Source):
    kind = "secrets"
    settings = SETTINGS
    hint = "secrets"
    row = Row(
        "Secrets Manager",
        "`secrets`",
        "`BatchGetSecretValue`, 20 ids per request, its per-secret `Errors` read; a `stage` other "
        "than `AWSCURRENT` with one `GetSecretValue`",
        "a JSON object: one variable per key (an optional `prefix` before each), its value the "
        "text the secret holds (a number, `true` or `false` as written; `null` refused; a nested "
        "object or array only for a key listed in `as_json`, as its JSON text); a plain string: "
        "the one variable named by `variable`",
    )

    def spec(self, values: Mapping[str, Any]) -> tuple[SecretsSpec | None, list[str]]:
        secrets = values["secrets"]
        return (SecretsSpec(values["aws_region"], secrets) if secrets else None), []

    def fetch(self, spec: SecretsSpec) -> dict[tuple[str, str], Secret | Failure]:
        return secret_values(spec.region, [(s.id, s.stage) for s in spec.secrets])

    def variables(
        self,
        spec: SecretsSpec,
        answer: dict[tuple[str, str], Secret | Failure],
        pinned: frozenset[Pin],
    ) -> tuple[list[Variable], list[str]]:
        found: list[Variable] = []
        problems: list[str] = []
        for secret in spec.secrets:
            result = answer.get((secret.id, secret.stage))
            if isinstance(result, Failure):
                problems.append(f"{secret.variable}: {result}" if secret.variable else str(result))
            elif isinstance(result, Secret) and secret.variable is not None:
                variable = Variable(secret.variable, result.value, secret.label, result.version_id,
                                    secure=True)
                found.append(variable)
            elif isinstance(result, Secret):
                values, why = _json_object(result.value, secret.as_json)
                problems += [f"{secret.label}: {w}" for w in why]
                found += [
                    Variable(secret.prefix + key, value, f"{secret.label} key {shown(key)}",
                             result.version_id, secure=True)
                    for key, value in values.items()
                ]  # fmt: skip
        return found, problems

    def expected(self, spec: SecretsSpec, name: str, pinned: frozenset[Pin]) -> list[str]:
        where = []
        for secret in spec.secrets:
            if secret.variable == name:
                where.append(secret.label)
            elif secret.is_json and name.startswith(secret.prefix):
                where.append(f"key {name[len(secret.prefix) :]} of {secret.label}")
        return where

    def summary(self, spec: SecretsSpec) -> str:
        return plural(len(spec.secrets), "secret")

    def permissions(self, spec: SecretsSpec, account: str) -> list[Statement]:
        # BatchGetSecretValue names no resource: each secret it answers is checked as a
        # GetSecretValue of that secret (AWS's documentation), which a stage other than
        # AWSCURRENT calls itself.
        arns = tuple(policy.secret_arn(spec.region, account, s.id) for s in spec.secrets)
        found = [Statement("ReadSecrets", ("secretsmanager:GetSecretValue",), arns),
                 policy.decrypt("DecryptSecrets", "secretsmanager", spec.region, account,
                                "SecretARN", arns)]  # fmt: skip
        if any(s.stage == CURRENT for s in spec.secrets):
            found.append(Statement("ReadSecretsInBatches",
                                   ("secretsmanager:BatchGetSecretValue",), ("*",)))  # fmt: skip
        return found


SOURCE = SecretsManager()
