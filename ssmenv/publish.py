"""Publishing for hosts that pull, from the control machine: ``python -m ssmenv publish INVENTORY``.

A deploy in pull mode with SSH closed: for each app in pull mode (``delivery = "pull"``) of the
inventory's hosts, read as a deploy reads them (pyinfra's ``debug-inventory``; no host is
contacted), its release archive (built as a deploy builds it) and the agent's bundle
(``ssmenv.bundle``, for ``pull_platforms``) go to the release bucket under ``release_prefix``,
each named by its sha256, and then its description (``ssmenv.description``, naming both by
digest) to its SSM parameter (``pull_description``), a plain ``String``. Objects first: a host
never reads a description whose objects are not there yet. Only what changed is written (the
parameter as it is now is read first); a host's next sync takes it.

Hosts that share a description parameter (an Auto Scaling group's) must describe the app alike: a
difference stops the publish, naming the hosts and the settings.

``--user-data APP`` prints instead what a launch template's user data needs for an instance to
pull APP with no control machine: the bootstrap (``ssmenv.agent.bootstrap``) with the app's name,
its description's parameter and region.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ssmenv import apps, aws, bundle
from ssmenv.agent import bootstrap
from ssmenv.archive import build_archive
from ssmenv.config import AppConfig
from ssmenv.description import Blob, Description, DescriptionError, Release, describe, parse
from ssmenv.errors import ConfigError, SsmEnvError


class PublishError(SsmEnvError):
    """What could not be published, naming the parameter or the object, never a value."""


@dataclass(frozen=True)
class Publication:
    """One app's publication: its description's ``parameter`` in ``region``, the description,
    its objects (by key: what each is, ``agent`` or ``release``, and its file) and the hosts it
    is for."""

    app: str
    parameter: str
    region: str
    bucket: str
    description: Description
    objects: Mapping[str, tuple[str, Path]]
    hosts: tuple[str, ...]


def _pulled(hosts: Sequence[tuple[str, Mapping[str, Any]]]) -> list[tuple[str, AppConfig]]:
    return [(name, config) for name, _, configs in apps.of_hosts(hosts)
            for config in configs if config.pull.pulled]  # fmt: skip


def publications(hosts: Sequence[tuple[str, Mapping[str, Any]]]) -> list[Publication]:
    """What publishing the apps in pull mode of ``hosts`` (name and data) writes, built here (the
    release archives and the agent's bundle, once each); nothing is written yet."""
    by_parameter: dict[tuple[str, str], Publication] = {}
    problems: list[str] = []
    for host, config in _pulled(hosts):
        where = config.publication
        if where is None or where.description is None:
            problems.append(f"{host}: {config.name}: pull_description: none (set it, or ssm_path "
                            "to derive it from)")  # fmt: skip
            continue
        if where.bucket is None:
            problems.append(f"{host}: {config.name}: release_bucket: publishing needs it (the "
                            "release and the agent go there)")  # fmt: skip
            continue
        built = bundle.build(config.pull.platforms)
        agent = Blob(built.sha256, where.release_key(f"{built.sha256}.tar.gz"))
        objects = {agent.key: ("agent", built.path)}
        release = None
        if config.container is None:
            assert config.source is not None
            digest, path = build_archive(config.source)
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
            key = where.release_key(f"{sha}.tar.gz")
            release = Release(config.version or digest, Blob(sha, key))
            objects[key] = ("release", path)
        description = describe(config, release, agent)
        key = (where.region, where.description)
        found = by_parameter.get(key)
        if found is None:
            by_parameter[key] = Publication(config.name, where.description, where.region,
                                            where.bucket, description, objects, (host,))
        elif found.description.text() != description.text():
            differ = sorted(k for k in {*found.description.settings, *description.settings}
                            if found.description.settings.get(k) != description.settings.get(k))
            problems.append(f"{where.description}: {found.hosts[0]} and {host} describe "
                            f"{config.name} differently ({', '.join(differ) or 'its release'}): "
                            "hosts that share a description must share the settings")
        else:
            by_parameter[key] = replace(found, hosts=(*found.hosts, host))
    if problems:
        raise ConfigError("\n".join(problems))
    return list(by_parameter.values())


def publish(found: Publication) -> str:
    """``found`` written where it differs from what is published: its objects, then its
    description; one line saying what was written."""
    ssm = aws.client("ssm", found.region)
    where = f"{found.app}: {found.parameter} ({found.region})"
    try:
        answer = ssm.get_parameters(Names=[found.parameter])
    except (ClientError, BotoCoreError) as e:
        raise PublishError(f"{where}: {aws.reason(e)}") from None
    current = None
    for parameter in answer.get("Parameters", []):
        current = parameter.get("Value")
    text = found.description.text()
    if current == text:
        return f"{where}: unchanged"
    try:
        before = parse(current) if current else None
    except DescriptionError:
        before = None
    have = set()
    if before is not None:
        have = {b.key for b in (before.agent, before.release and before.release.archive) if b}
    s3 = aws.client("s3", found.region)
    written = []
    for key, (kind, path) in found.objects.items():
        if key in have:
            continue  # named by its sha256: the object there is this one
        try:
            s3.put_object(Bucket=found.bucket, Key=key, Body=path.read_bytes(),
                          ContentType="application/gzip")  # fmt: skip
        except (ClientError, BotoCoreError) as e:
            raise PublishError(f"{where}: s3://{found.bucket}/{key}: {aws.reason(e)}") from None
        written.append(f"{kind} {key.rsplit('/', 1)[-1][:12]}")
    try:
        # Up to 8 KB: an advanced parameter only when the description needs one.
        version = ssm.put_parameter(Name=found.parameter, Value=text, Type="String",
                                    Overwrite=True, Tier="Intelligent-Tiering")["Version"]
    except (ClientError, BotoCoreError) as e:
        raise PublishError(f"{where}: {aws.reason(e)}") from None
    release = found.description.release
    uploaded = f", uploaded {', '.join(written)}" if written else ""
    named = f"release {release.name}, " if release else ""
    return f"{where}: description version {version} ({named}sha256 " \
           f"{found.description.sha256[:12]}{uploaded})"


def user_data(app: str, parameter: str, region: str) -> str:
    """A launch template's user data that makes an instance pull ``app`` from ``parameter``
    (in ``region``), with its instance role and nothing else: the bootstrap, on python3's
    stdin."""
    script = Path(bootstrap.__file__).read_text()
    return (f"#!/bin/sh\n# ssmenv: this instance pulls {app} from {parameter} ({region}), with "
            f"its instance role.\nstatus=0\npython3 - {app} {parameter} {region} "
            f"<<'SSMENV-BOOTSTRAP' || status=$?\n{script}SSMENV-BOOTSTRAP\n"
            "# The agent's statuses: 0 unchanged and 2 changed leave the app healthy.\n"
            'case $status in 0 | 2) exit 0 ;; *) exit "$status" ;; esac\n')  # fmt: skip


def user_data_of(hosts: Sequence[tuple[str, Mapping[str, Any]]], app: str) -> str:
    """The user data of ``app`` as the inventory's hosts describe it (its first host's)."""
    for _, config in _pulled(hosts):
        where = config.publication
        if config.name == app and where is not None and where.description is not None:
            return user_data(app, where.description, where.region)
    raise ConfigError(f"--user-data: no host of the inventory pulls {app} from a description "
                      "(delivery pull, and pull_description or ssm_path)")  # fmt: skip
