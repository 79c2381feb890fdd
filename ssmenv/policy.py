"""IAM policy statements, and the ARNs they name: what each component that calls AWS declares it
needs (a configuration source, ``ecr``, the pull's description and releases), and how statements
become one policy document (``document``) for ``python -m ssmenv iam``.

A statement names exact resources: an SSM parameter or path by its ARN, a secret by its name and
the six characters AWS appends to it (``secret:NAME-??????``), a release by its prefix in its
bucket. The names they are built from cannot widen them: SSM names and secret names cannot hold
``*`` or ``?`` (their settings refuse any other character), nor can a bucket or a prefix
(``ssmenv.publication``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

VERSION = "2012-10-17"

# A secret ARN AWS made: the name, "-", six letters or digits.
_FULL_SECRET_ARN = re.compile(
    r"arn:[a-z-]+:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+-[A-Za-z0-9]{6}")


@dataclass(frozen=True)
class Condition:
    """One condition of a statement: ``operator`` (``StringEquals``...), the context ``key`` and
    the values, any of which matches."""

    operator: str
    key: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Statement:
    """``Allow`` of ``actions`` on ``resources`` (under ``conditions``), named by ``sid``, which
    also says what it is for. Statements with the same ``sid`` are one statement in a document
    (``document``): their actions, resources and condition values together."""

    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    conditions: tuple[Condition, ...] = ()


def document(statements: Iterable[Statement]) -> dict[str, Any]:
    """A policy document of ``statements``, stable: one statement per ``sid``, sorted by it,
    every list sorted and without repeats (so two runs on the same settings print the same
    document, and a diff shows a real change)."""
    merged: dict[str, dict[str, Any]] = {}
    for s in statements:
        into = merged.setdefault(s.sid, {"actions": set(), "resources": set(), "conditions": {}})
        into["actions"].update(s.actions)
        into["resources"].update(s.resources)
        for c in s.conditions:
            into["conditions"].setdefault((c.operator, c.key), set()).update(c.values)
    found = []
    for sid in sorted(merged):
        into = merged[sid]
        statement: dict[str, Any] = {"Sid": sid, "Effect": "Allow",
                                     "Action": sorted(into["actions"]),
                                     "Resource": sorted(into["resources"])}  # fmt: skip
        conditions: dict[str, dict[str, list[str]]] = {}
        for (operator, key), values in sorted(into["conditions"].items()):
            conditions.setdefault(operator, {})[key] = sorted(values)
        if conditions:
            statement["Condition"] = conditions
        found.append(statement)
    return {"Version": VERSION, "Statement": found}


# --- ARNs ----------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def partition(region: str) -> str:
    """The partition of ``region``: ``aws``, ``aws-cn``, ``aws-us-gov``... (botocore's data)."""
    import botocore.session

    return botocore.session.get_session().get_partition_for_region(region)


@functools.lru_cache(maxsize=64)
def _dns_suffix(region: str) -> str:
    import botocore.loaders
    import botocore.regions

    endpoints = botocore.loaders.create_loader().load_data("endpoints")
    return botocore.regions.EndpointResolver(endpoints).get_partition_dns_suffix(partition(region))


def via(service: str, region: str) -> str:
    """``kms:ViaService`` for ``service`` in ``region``: ``ssm.us-east-1.amazonaws.com``."""
    return f"{service}.{region}.{_dns_suffix(region)}"


def parameter_arn(region: str, account: str, name: str) -> str:
    """An SSM parameter's (or path's) ARN: ``/app/prod`` is ``...:parameter/app/prod``."""
    return f"arn:{partition(region)}:ssm:{region}:{account}:parameter/{name.lstrip('/')}"


def secret_arn(region: str, account: str, secret_id: str) -> str:
    """The ARN pattern of a secret given by name or ARN: AWS appends ``-`` and six characters to
    a secret's name in its ARN, so a name (or an ARN without them) is matched with ``-??????``; a
    full ARN is taken as it is. (As AWS warns, a partial ARN whose name ends in a dash and six
    characters reads as a full one: name such a secret by its name.)"""
    if secret_id.startswith("arn:"):
        return secret_id if _FULL_SECRET_ARN.fullmatch(secret_id) else f"{secret_id}-??????"
    return f"arn:{partition(region)}:secretsmanager:{region}:{account}:secret:{secret_id}-??????"


def kms_keys(region: str, account: str) -> str:
    """Every KMS key of ``account`` in ``region``: which key encrypts a parameter or a secret is
    the parameter's or the secret's, not the settings'. ``decrypt`` narrows it with conditions."""
    return f"arn:{partition(region)}:kms:{region}:{account}:key/*"


def decrypt(sid: str, service: str, region: str, account: str, context_key: str,
            arns: Iterable[str], action: str = "kms:Decrypt") -> Statement:  # fmt: skip
    """``kms:Decrypt`` (or ``action``: ``kms:Encrypt``, ``kms:GenerateDataKey`` for a write) of
    the account's keys only when ``service`` asks for it in ``region`` (``kms:ViaService``), for
    the resources ``arns`` only (the encryption context ``service`` puts on them:
    ``PARAMETER_ARN`` for SSM, ``SecretARN`` for Secrets Manager). An AWS-managed key
    (``aws/ssm``, ``aws/secretsmanager``) needs no identity policy; a customer-managed key needs
    this, and its key policy must let the account's policies grant it."""
    return Statement(sid, (action,), (kms_keys(region, account),), (
        Condition("StringEquals", "kms:ViaService", (via(service, region),)),
        Condition("StringLike", f"kms:EncryptionContext:{context_key}", tuple(arns)),
    ))  # fmt: skip
