"""Amazon ECR: the registry login for an image in ECR, from an authorization token.

ECR takes no static password: ``ecr:GetAuthorizationToken`` answers a token valid for 12 hours
(``authorizationToken``: base64 of ``AWS:<password>``; ``expiresAt``; ``proxyEndpoint``:
``https://<account>.dkr.ecr.<region>.amazonaws.com``), good for every registry of that region the
caller may pull from. It becomes the registry login as a password does
(``ssmenv.runtimes.container.auth_json``, keyed by the registry the image reference names), for the
pull only: on stdin into a root-only file the pull removes, never printed.

Who asks: the deploy (push mode) on the control machine, once per run and region for every host
(``run_login``, cached like the configuration sources); a host pulling for itself (pull mode)
calls ``login`` with its own instance role. Both go through ``ssmenv.aws``, which finds
credentials, region and endpoint the standard way, so the stand-in answers in tests as AWS does.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ssmenv import aws, policy
from ssmenv.errors import SourceError
from ssmenv.policy import Statement
from ssmenv.sources.base import read_once, run_cache

#: The user every ECR token logs in as.
USERNAME = "AWS"
#: The permission a token needs (on ``*``: it names no resource).
PERMISSION = "ecr:GetAuthorizationToken"
#: What a pull with the token needs on the image's repository.
PULL = ("ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")

# <account>.dkr.ecr.<region>.amazonaws.com, its FIPS and China forms, and the dual-stack one.
_HOST = re.compile(
    r"[0-9]{12}\.(?:dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?"
    r"|dkr-ecr(?:-fips)?\.(?P<dual>[a-z0-9-]+)\.on\.aws)"
)


def region_of(registry: str) -> str | None:
    """The region of an ECR registry host (``123456789012.dkr.ecr.eu-west-1.amazonaws.com``),
    ``None`` for any other registry."""
    found = _HOST.fullmatch(registry)
    return (found.group("region") or found.group("dual")) if found else None


@dataclass(frozen=True)
class Login:
    """A registry login from an ECR token; ``repr`` never shows the password.

    + username: ``AWS``
    + password: the token's secret part
    + expires_at: when ECR says it stops working (12 hours after it was asked for)
    + endpoint: the registry ECR issued it for (``https://<account>.dkr.ecr.<region>...``)
    """

    username: str
    password: str = field(repr=False)
    expires_at: datetime | None
    endpoint: str


def login(region: str) -> Login:
    """One ``GetAuthorizationToken`` in ``region`` with the caller's credentials, as a login;
    :class:`SourceError` naming the call (never the token) when it fails or answers nothing
    usable."""
    where = f"Amazon ECR login ({region}): GetAuthorizationToken"
    try:
        answer = aws.call("ecr", region, "GetAuthorizationToken")
    except (ClientError, BotoCoreError) as e:
        raise SourceError(f"{where}: {aws.reason(e)} (the deploy needs {PERMISSION})") from None
    return _login(answer, where)


def _login(answer: dict[str, Any], where: str) -> Login:
    data = answer.get("authorizationData") or [{}]
    token = data[0].get("authorizationToken")
    try:
        username, colon, password = base64.b64decode(token or "", validate=True).decode().partition(
            ":")  # fmt: skip
    except (binascii.Error, UnicodeDecodeError, TypeError):
        colon = password = ""
    if not colon or not username or not password:
        raise SourceError(f"{where}: the answer holds no token of the form user:password")
    return Login(username, password, data[0].get("expiresAt"), data[0].get("proxyEndpoint", ""))


_logins = run_cache()  # region -> Login, or the SourceError its call raised


def run_login(region: str) -> Login:
    """The run's login for ``region``: asked for once, whichever host needs it first, and shared
    by every host of the run (a failure too: it costs its retries once, not once per host)."""

    def read(missing: list[str]) -> dict[str, Login | SourceError]:
        found: dict[str, Login | SourceError] = {}
        for key in missing:
            try:
                found[key] = login(key)
            except SourceError as e:
                found[key] = e
        return found

    return read_once(_logins, [region], read)[region]


def permissions(registry: str, repository: str, region: str, account: str) -> list[Statement]:
    """What a pull of ``repository`` at ``registry`` with an ECR token needs, from whoever asks
    for the token (``python -m ssmenv iam``): the token itself, and the pull of that repository
    alone, since the token carries the permissions of the identity that asked for it. The
    repository's account is the registry's (``<account>.dkr.ecr...``), else ``account``; its
    region ``region`` (the token's)."""
    owner = registry.split(".", 1)[0] if region_of(registry) else account
    arn = f"arn:{policy.partition(region)}:ecr:{region}:{owner}:repository/{repository}"
    return [Statement("EcrLogin", (PERMISSION,), ("*",)), Statement("EcrPull", PULL, (arn,))]
