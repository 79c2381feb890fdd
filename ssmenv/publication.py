"""Where an app is published for hosts that fetch their own configuration and releases (pull mode,
issue 26): its description, a plain SSM parameter (never a secret in it), and its source releases,
objects in an S3 bucket under a prefix. The publish step writes them from the control machine; a
host's agent reads them with its instance role; ``python -m ssmenv iam`` grants each exactly
these (``permissions``).

Releases are content-addressed: a release is the object ``<release_prefix>/<name>`` of
``release_bucket`` (``release_key``), its name made from its sha256 by the publish step, so
staging and production share a release they both run, and an object is never rewritten with other
content. Everything of an app is under its prefix, and nothing else: that is what the host may
read and the publish step may write.

The description's parameter is outside ``ssm_path`` (it would be read as one of the app's
variables there): by default ``/deploy`` followed by ``ssm_path``, one per environment. Without
``ssm_path`` there is no default, so two environments can never share one by accident.

How an app's hosts get it (``delivery``) and how its agent goes about it (``Pull``: its timer's
period and jitter, how old a last known good configuration may be to start from at boot, which
platforms' agent bundles the publish step uploads) are settings of this group too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ssmenv import policy
from ssmenv.policy import Statement
from ssmenv.settings import AtLeast, Json, Line, Matching, Setting, Settings
from ssmenv.sources.ssm import NAME_CHARACTERS

#: What the default description parameter's name starts with (SSM refuses a name starting with
#: "aws" or "ssm", so not the toolkit's own name).
ROOT = "/deploy"

#: systemd's time units (systemd.time(7)) in seconds, as a time span setting may use them.
_UNITS = {"s": 1, "sec": 1, "second": 1, "seconds": 1, "m": 60, "min": 60, "minute": 60,
          "minutes": 60, "h": 3600, "hr": 3600, "hour": 3600, "hours": 3600, "d": 86400,
          "day": 86400, "days": 86400, "w": 604800, "week": 604800, "weeks": 604800}  # fmt: skip
_SPAN = re.compile(r"([0-9]{1,9})(" + "|".join(sorted(_UNITS, key=len, reverse=True)) + ")")


def seconds(text: str) -> int:
    """A time span as systemd writes one (``15min``, ``1h 30min``, ``7d``) in seconds; raises
    ``ValueError`` saying what it must be."""
    joined = "".join(text.split())
    matches = list(_SPAN.finditer(joined))
    if not joined or "".join(m.group(0) for m in matches) != joined:
        raise ValueError("must be a time span such as 30s, 15min, 12h or 7d (systemd.time)")
    return sum(int(m.group(1)) * _UNITS[m.group(2)] for m in matches)


def _span(least: int) -> Any:
    def check(text: str) -> int:
        value = seconds(text)
        if value < least:
            raise ValueError(f"must be at least {least} s")
        return value

    return check


#: A platform an agent bundle is built for: the hosts' Python (its compiled part, pydantic_core,
#: is built for one version) and machine.
PLATFORM = Matching(r"3\.[0-9]{1,2}-(x86_64|aarch64)", "a Python version and a machine: "
                    "3.11-x86_64, 3.12-aarch64")  # fmt: skip

SETTINGS = Settings("Pull mode", (
    Setting("delivery", Literal["push", "pull"], "push", "How the app's hosts get their "
            "configuration and releases. `push`: a deploy from the control machine switches "
            "them (over SSH). `pull`: each host's agent (`ssmenv-agent`) fetches and switches "
            "them itself with its instance role, at boot, on a timer and on command; a deploy "
            "installs the agent and the app's description and runs its sync, and `python -m "
            "ssmenv publish` publishes for hosts that no deploy reaches. A host moves from one "
            "to the other at its next deploy. See Pull mode."),
    Setting("pull_period", Line, "15min", "How often a host's agent syncs the app (its timer, "
            "from the end of the last sync): a time span (`30s`, `15min`, `1h`).",
            parse=_span(10)),
    Setting("pull_jitter", Line, "5min", "Each timed sync starts at a random moment within this "
            "span after its time, so a fleet does not call AWS at once (`0s`: on time).",
            parse=_span(0)),
    Setting("pull_max_age", Line, "7d", "How old the last known good configuration (kept on the "
            "host, encrypted with its credential key) may be for the app to start from it at "
            "boot when AWS cannot be reached; older, or none, the app does not start.",
            parse=_span(1)),
    Setting("pull_platforms", Json(list[PLATFORM]), ["3.11-x86_64"], "The platforms the "
            "publish step uploads the agent for, for hosts that fetch it themselves: Python "
            "version and machine (`3.11-x86_64`: Debian 12; `3.12-x86_64`: Ubuntu 24.04; "
            "`-aarch64` on Graviton). A deploy ships the one its host needs.", parse=tuple),
    Setting("pull_budget", AtLeast(1), 10, "SSM requests a second one sync of the app may send "
            "from one host: its agent spaces them, and botocore's adaptive retries slow it "
            "further when SSM throttles. Parameter Store's default throughput, 40 a second, is "
            "shared by every Get call of the account and region: hosts syncing at once (a fleet "
            "rollout's `rollout_batch`, a boot of many) share it."),
    Setting("pull_start_jitter", Line, "0s", "A sync started on command or at boot waits a "
            "random moment within this span before its first request, so hosts told to sync at "
            "once (a fleet rollout, an Auto Scaling group's launch) do not call SSM at once "
            "(`0s`: at once; the timer has `pull_jitter`).", parse=_span(0)),

    Setting("pull_description", Matching(f"/{NAME_CHARACTERS}{{1,1010}}", "an SSM parameter "
                                         "name starting with / (for example "
                                         "/deploy/my-app/prod)"), None,
            "SSM parameter (a `String`, never a secret) holding the app's non-secret description, "
            "written by the publish step and read by the app's hosts in pull mode. Outside "
            f"`ssm_path`. Default: `{ROOT}` then `ssm_path` (`{ROOT}/example-app/prod`); "
            "without `ssm_path`, none.", parse=lambda name: name.rstrip("/")),
    Setting("release_bucket", Matching(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", "an S3 bucket name "
                                       "(lowercase letters, digits, '.' and '-')"), None,
            "S3 bucket of the app's source releases for hosts in pull mode (a container image "
            "needs none: it is named by digest)."),
    Setting("release_prefix", Matching(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*",
                                       "a key prefix of letters, digits, '.', '_' and '-' "
                                       "between single '/', not starting or ending with one"),
            None, "Where the app's releases are in `release_bucket`: every object under "
            "`<release_prefix>/`, named by its sha256. Default: `ssmenv/<app_name>`."),
))  # fmt: skip


@dataclass(frozen=True)
class Publication:
    """Where one app is published.

    + description: the SSM parameter of its description; ``None``: not known (no
      ``pull_description`` and no ``ssm_path``)
    + region: where the parameter is (``aws_region``)
    + bucket: the releases' bucket; ``None``: not set
    + prefix: the releases' key prefix, without a trailing ``/``
    """

    description: str | None
    region: str
    bucket: str | None
    prefix: str

    def release_key(self, name: str) -> str:
        """The key of the release ``name`` (made from its sha256 by the publish step)."""
        return f"{self.prefix}/{name}"

    def releases(self) -> str | None:
        """The ARN pattern of every release object: the bucket's objects under the prefix."""
        if self.bucket is None:
            return None
        return f"arn:{policy.partition(self.region)}:s3:::{self.bucket}/{self.prefix}/*"


@dataclass(frozen=True)
class Pull:
    """How the app's hosts get it (``delivery``: ``push`` or ``pull``), and in pull mode how its
    agent goes about it: its timer's ``period`` and ``jitter`` (seconds), how old its last known
    good configuration may be to start from at boot (``max_age``, seconds), and the
    ``platforms`` the publish step uploads the agent for."""

    delivery: str = "push"
    period: int = 900
    jitter: int = 300
    max_age: int = 604800
    platforms: tuple[str, ...] = ("3.11-x86_64",)
    budget: int = 10
    start_jitter: int = 0

    @property
    def pulled(self) -> bool:
        """The app's hosts fetch it themselves."""
        return self.delivery == "pull"


def pull(values: Mapping[str, Any]) -> Pull:
    """The app's ``Pull`` from its checked settings."""
    return Pull(values["delivery"], values["pull_period"], values["pull_jitter"],
                values["pull_max_age"], values["pull_platforms"], values["pull_budget"],
                values["pull_start_jitter"])  # fmt: skip


def read(values: Mapping[str, Any], name: str, region: str, ssm_path: str | None
         ) -> tuple[Publication, list[str]]:  # fmt: skip
    """The app's publication from its checked settings (``values``), and every problem."""
    description = values["pull_description"]
    if description is None and ssm_path is not None and ssm_path != "/":
        description = f"{ROOT}{ssm_path}"
    problems = []
    if description is not None and description.lstrip("/").lower().startswith(("aws", "ssm")):
        problems.append("pull_description: SSM refuses a parameter name that starts with aws or "
                        "ssm")  # fmt: skip
    if description is not None and ssm_path is not None and (
            ssm_path == "/" or description == ssm_path or description.startswith(f"{ssm_path}/")):
        problems.append("pull_description: must be outside ssm_path, or the description would "
                        "be read as one of the app's variables")  # fmt: skip
    prefix = values["release_prefix"] or f"ssmenv/{name}"
    return Publication(description, region, values["release_bucket"], prefix), problems


def permissions(publication: Publication, account: str, *, publish: bool, releases: bool = True
                ) -> list[Statement]:  # fmt: skip
    """What a host in pull mode reads (``publish=False``) or the publish step writes: the
    description's parameter (``GetParameters``, as the sources read, so it can share their
    request; the publish step reads it too, to write only what changed), and, for an app that
    ships ``releases`` (a source tree, not an image), the objects under the prefix. Nothing for
    what is not known (see ``Publication``)."""
    found = []
    if publication.description is not None:
        arn = policy.parameter_arn(publication.region, account, publication.description)
        actions = ("ssm:GetParameters", "ssm:PutParameter") if publish else ("ssm:GetParameters",)
        found.append(Statement("PublishDescription" if publish else "ReadDescription", actions,
                               (arn,)))  # fmt: skip
    objects = publication.releases()
    if releases and objects is not None:
        actions = ("s3:GetObject", "s3:PutObject") if publish else ("s3:GetObject",)
        found.append(Statement("PublishReleases" if publish else "ReadReleases", actions,
                               (objects,)))  # fmt: skip
    return found
