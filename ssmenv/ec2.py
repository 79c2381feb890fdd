"""EC2 discovery: running instances found by tags, as pyinfra inventory entries.

An inventory file is executed before any group data is read, so it calls :func:`hosts` with its
static list and its tags, and the run's environment chooses between them:

    SSMENV_INVENTORY=ec2            # discover by the inventory's tags (default: static)
    SSMENV_EC2_REGION=eu-west-1     # default: boto3's region (AWS_REGION, the profile...)
    SSMENV_EC2_ADDRESS=public       # connect to public addresses (default: private)

boto3 finds credentials and endpoint the standard way (``AWS_PROFILE``, instance roles,
``AWS_ENDPOINT_URL``...). A failure raises :class:`SourceError`, one line saying what was asked
and AWS's answer.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, NoRegionError

from ssmenv import aws
from ssmenv.errors import SourceError

SOURCE_VARIABLE = "SSMENV_INVENTORY"
REGION_VARIABLE = "SSMENV_EC2_REGION"
ADDRESS_VARIABLE = "SSMENV_EC2_ADDRESS"
ADDRESSES = {"private": "PrivateIpAddress", "public": "PublicIpAddress"}

Entry = tuple[str, dict[str, Any]]


def discover(
    tags: Mapping[str, str | list[str]],
    region: str | None = None,
    address: str = "private",
    page_size: int | None = None,
) -> list[Entry]:
    """Running instances carrying every one of ``tags``, sorted by host name.

    + tags: tag key to value (or list of values, any of which matches); EC2 wildcards ``*``/``?``
    + region: the region to search; default: boto3's (``AWS_REGION``, ``AWS_DEFAULT_REGION``...)
    + address: ``private`` or ``public``: the address pyinfra connects to (``ssh_hostname``)
    + page_size: instances per ``DescribeInstances`` request (5 to 1000); default: EC2's

    Each host is named after its ``Name`` tag, or its instance id when it has none (or one that
    pyinfra would read as a connector, starting with ``@``); instances sharing a name are told
    apart by their id (``web-i-0abc...``) so that ``--limit`` always means one host.

    Raises :class:`SourceError` when AWS cannot be asked, when nothing matches, or when an
    instance has no address of the kind asked for.
    """
    if not tags:
        raise SourceError("EC2 discovery needs at least one tag to filter on")
    if address not in ADDRESSES:
        raise SourceError(f"EC2 address must be one of {', '.join(ADDRESSES)}, not {address!r}")
    asked = ", ".join(f"{key}={value}" for key, value in tags.items())
    filters = [{"Name": "instance-state-name", "Values": ["running"]}]
    filters += [
        {"Name": f"tag:{key}", "Values": [value] if isinstance(value, str) else list(value)}
        for key, value in tags.items()
    ]
    pagination = {"PageSize": page_size} if page_size else {}
    instances: list[dict[str, Any]] = []
    where = region or "default region"
    try:
        # Standard retries back off on throttling; bounded attempts and timeouts make a wrong
        # endpoint fail in seconds while the inventory loads, not minutes.
        client = aws.client("ec2", region, retry_mode="standard")
        where = client.meta.region_name
        pages = client.get_paginator("describe_instances").paginate(
            Filters=filters, PaginationConfig=pagination
        )
        for page in pages:
            for reservation in page.get("Reservations", []):
                instances.extend(reservation.get("Instances", []))
    except NoRegionError:
        raise SourceError(f"EC2 discovery needs a region: set {REGION_VARIABLE}") from None
    except (ClientError, BotoCoreError) as e:
        raise SourceError(f"EC2 instances tagged {asked} ({where}): {aws.reason(e)}") from None

    if not instances:
        raise SourceError(f"EC2 ({where}): no running instance is tagged {asked}")
    unreachable = [i["InstanceId"] for i in instances if not i.get(ADDRESSES[address])]
    if unreachable:
        raise SourceError(
            f"EC2 ({where}): instances without a {address} address: {', '.join(unreachable)}"
        )
    names = [_name(i) for i in instances]
    shared = {name for name, count in Counter(names).items() if count > 1}
    entries = [
        (f"{name}-{i['InstanceId']}" if name in shared else name, _data(i, address))
        for name, i in zip(names, instances, strict=True)
    ]
    return sorted(entries, key=lambda entry: entry[0])


def hosts(
    static: list[str | Entry],
    tags: Mapping[str, str | list[str]],
    environ: Mapping[str, str] = os.environ,
) -> list[str | Entry]:
    """An inventory's hosts: ``static``, or with ``SSMENV_INVENTORY=ec2`` the running instances
    carrying ``tags``, in ``SSMENV_EC2_REGION`` (default: boto3's region), reached at their
    ``SSMENV_EC2_ADDRESS`` (``private``, the default, or ``public``). See :func:`discover`.

    The tags live in the inventory file, not in a variable: an environment variable left set in a
    shell cannot turn staging's inventory into production's.
    """
    source = environ.get(SOURCE_VARIABLE) or "static"
    if source == "static":
        return list(static)
    if source != "ec2":
        raise SourceError(f"{SOURCE_VARIABLE} must be static or ec2, not {source!r}")
    region = environ.get(REGION_VARIABLE) or None
    return list(discover(tags, region, environ.get(ADDRESS_VARIABLE) or "private"))


def _name(instance: Mapping[str, Any]) -> str:
    name = (_tag(instance, "Name") or "").strip()
    # pyinfra reads a host name starting with "@" as a connector ("@local" runs on this machine):
    # whoever may tag an instance must not be able to choose where the deploy runs.
    return name if name and not name.startswith("@") else instance["InstanceId"]


def _tag(instance: Mapping[str, Any], key: str) -> str | None:
    return next((t["Value"] for t in instance.get("Tags", []) if t["Key"] == key), None)


def _data(instance: Mapping[str, Any], address: str) -> dict[str, Any]:
    """Host data: where to connect, and what the instance is (for group data and ``--limit``)."""
    return {
        "ssh_hostname": instance[ADDRESSES[address]],
        "ec2_instance_id": instance["InstanceId"],
        "ec2_az": instance.get("Placement", {}).get("AvailabilityZone"),
        "ec2_instance_type": instance.get("InstanceType"),
        "ec2_private_ip": instance.get("PrivateIpAddress"),
        "ec2_public_ip": instance.get("PublicIpAddress"),
        "ec2_tags": {t["Key"]: t["Value"] for t in instance.get("Tags", [])},
    }
