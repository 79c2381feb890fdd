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
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ssmenv import policy
from ssmenv.policy import Statement
from ssmenv.settings import Matching, Setting, Settings
from ssmenv.sources.ssm import NAME_CHARACTERS

#: What the default description parameter's name starts with (SSM refuses a name starting with
#: "aws" or "ssm", so not the toolkit's own name).
ROOT = "/deploy"

SETTINGS = Settings("Publishing (pull mode)", (
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
