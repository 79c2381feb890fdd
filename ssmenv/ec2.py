"""EC2 discovery: running instances found by tags, as pyinfra inventory entries.

An inventory file is executed before any group data is read, so it calls :func:`hosts` with its
static list and its tags, and the run's environment chooses between them:

    SSMENV_INVENTORY=ec2            # discover by the inventory's tags (default: static)
    SSMENV_EC2_REGION=eu-west-1     # default: boto3's region (AWS_REGION, the profile...)
    SSMENV_EC2_ADDRESS=public       # connect to public addresses (default: private)

Tags are not proof: anyone allowed to tag an instance could tag one of theirs ``Environment=prod``
and receive production's secrets. So an inventory can also require what only its own instances
have (``vpc``, ``subnet``, ``instance_profile``, ``account``), and a ``Name`` tag becomes a host
name only when it is one (:func:`host_name`).

boto3 finds credentials and endpoint the standard way (``AWS_PROFILE``, instance roles,
``AWS_ENDPOINT_URL``...). A failure raises :class:`SourceError`, one line saying what was asked
and AWS's answer.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, NoRegionError
from pyinfra import logger

from ssmenv import aws
from ssmenv.errors import SourceError

SOURCE_VARIABLE = "SSMENV_INVENTORY"
REGION_VARIABLE = "SSMENV_EC2_REGION"
ADDRESS_VARIABLE = "SSMENV_EC2_ADDRESS"
ADDRESSES = {"private": "PrivateIpAddress", "public": "PublicIpAddress"}

Entry = tuple[str, dict[str, Any]]
#: One value, or a list of values any of which is accepted.
Values = str | list[str] | tuple[str, ...]

# What an inventory may require besides tags: the keyword, the DescribeInstances filter that asks
# for it, what its values look like (exact ids: a wildcard would defeat the requirement), and how
# the error names it.
_REQUIREMENTS = {
    "vpc": ("vpc-id", re.compile(r"vpc-[0-9a-f]{8,17}"), "in VPC"),
    "subnet": ("subnet-id", re.compile(r"subnet-[0-9a-f]{8,17}"), "in subnet"),
    "instance_profile": (
        "iam-instance-profile.arn",
        re.compile(r"arn:aws[a-z-]*:iam::[0-9]{12}:instance-profile/[\w+=,.@/-]{1,256}"),
        "with instance profile",
    ),
    "account": ("owner-id", re.compile(r"[0-9]{12}"), "in account"),
}
# Filters the stand-in (moto) cannot answer: checked on the answer alone, as everything is.
_NOT_SENT = {"iam-instance-profile.arn"}

# A Name tag becomes a host name only when it is one word that pyinfra, a shell and a terminal
# show as it is: letters, digits, '.', '_', '-', starting with a letter or digit (never "@",
# which pyinfra reads as a connector such as "@local"), at most 128 characters.
_HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
# Names discovery makes itself (an instance id; a shared name and an id): no tag may imitate them,
# so that a host name always means one instance.
_MADE_NAME = re.compile(r"(.+-)?i-[0-9a-f]{8,17}")


def discover(
    tags: Mapping[str, Values],
    region: str | None = None,
    address: str = "private",
    page_size: int | None = None,
    *,
    vpc: Values | None = None,
    subnet: Values | None = None,
    instance_profile: Values | None = None,
    account: Values | None = None,
) -> list[Entry]:
    """Running instances carrying every one of ``tags`` and meeting every requirement given,
    sorted by host name.

    + tags: tag key to value (or list of values, any of which matches); EC2 wildcards ``*``/``?``
    + region: the region to search; default: boto3's (``AWS_REGION``, ``AWS_DEFAULT_REGION``...)
    + address: ``private`` or ``public``: the address pyinfra connects to (``ssh_hostname``)
    + page_size: instances per ``DescribeInstances`` request (5 to 1000); default: EC2's
    + vpc: VPC id (or ids) the instances must be in
    + subnet: subnet id (or ids) the instances must be in
    + instance_profile: ARN (or ARNs) of the instance profile the instances must have
    + account: AWS account id (or ids) that must own the instances

    The requirements are exact ids (no wildcard), sent as ``DescribeInstances`` filters where the
    API (and the stand-in) takes them, and checked on every instance of the answer.

    Each host is named after its ``Name`` tag when that is a host name (:func:`host_name`), or
    else its instance id; instances sharing a name are told apart by their id
    (``web-i-0abc...``) so that ``--limit`` always means one host.

    Raises :class:`SourceError` when a requirement is not an id, when AWS cannot be asked, when
    nothing matches, or when an instance has no address of the kind asked for.
    """
    if not tags:
        raise SourceError("EC2 discovery needs at least one tag to filter on")
    if address not in ADDRESSES:
        raise SourceError(f"EC2 address must be one of {', '.join(ADDRESSES)}, not {address!r}")
    required = _required(vpc=vpc, subnet=subnet, instance_profile=instance_profile, account=account)
    asked = ", ".join(f"{key}={value}" for key, value in tags.items())
    filters = [{"Name": "instance-state-name", "Values": ["running"]}]
    filters += [
        {"Name": f"tag:{key}", "Values": [value] if isinstance(value, str) else list(value)}
        for key, value in tags.items()
    ]
    filters += [
        {"Name": name, "Values": list(values)}
        for name, values in required.items()
        if name not in _NOT_SENT
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
                instances.extend(
                    i
                    for i in reservation.get("Instances", [])
                    if _meets(i, reservation.get("OwnerId"), required)
                )
    except NoRegionError:
        raise SourceError(f"EC2 discovery needs a region: set {REGION_VARIABLE}") from None
    except (ClientError, BotoCoreError) as e:
        raise SourceError(f"EC2 instances tagged {asked} ({where}): {aws.reason(e)}") from None

    if not instances:
        raise SourceError(
            f"EC2 ({where}): no running instance is tagged {asked}{_described(required)}"
        )
    unreachable = [i["InstanceId"] for i in instances if not i.get(ADDRESSES[address])]
    if unreachable:
        raise SourceError(
            f"EC2 ({where}): instances without a {address} address: {', '.join(unreachable)}"
        )
    names = [host_name(i) for i in instances]
    shared = {name for name, count in Counter(names).items() if count > 1}
    entries = [
        (f"{name}-{i['InstanceId']}" if name in shared else name, _data(i, address))
        for name, i in zip(names, instances, strict=True)
    ]
    return sorted(entries, key=lambda entry: entry[0])


def hosts(
    static: list[str | Entry],
    tags: Mapping[str, Values],
    environ: Mapping[str, str] = os.environ,
    *,
    vpc: Values | None = None,
    subnet: Values | None = None,
    instance_profile: Values | None = None,
    account: Values | None = None,
) -> list[str | Entry]:
    """An inventory's hosts: ``static``, or with ``SSMENV_INVENTORY=ec2`` the running instances
    carrying ``tags`` (and in ``vpc``, ``subnet``, with ``instance_profile``, owned by
    ``account``, those given), in ``SSMENV_EC2_REGION`` (default: boto3's region), reached at
    their ``SSMENV_EC2_ADDRESS`` (``private``, the default, or ``public``). See :func:`discover`.

    The tags and requirements live in the inventory file, not in a variable: an environment
    variable left set in a shell cannot turn staging's inventory into production's.
    """
    source = environ.get(SOURCE_VARIABLE) or "static"
    if source == "static":
        return list(static)
    if source != "ec2":
        raise SourceError(f"{SOURCE_VARIABLE} must be static or ec2, not {source!r}")
    region = environ.get(REGION_VARIABLE) or None
    return list(
        discover(
            tags,
            region,
            environ.get(ADDRESS_VARIABLE) or "private",
            vpc=vpc,
            subnet=subnet,
            instance_profile=instance_profile,
            account=account,
        )
    )


def host_name(instance: Mapping[str, Any]) -> str:
    """The host name of ``instance``: its ``Name`` tag when that is a host name, else its id.

    A tag is anyone's text who may tag the instance: a newline in it would forge output lines,
    ``@local`` would make pyinfra run the deploy on this machine. A tag that is not a host name
    (letters, digits, ``.``, ``_``, ``-``, at most 128, not one that imitates an instance id) is
    said in one warning line, escaped, and the instance id named instead.
    """
    instance_id = instance["InstanceId"]
    name = _tag(instance, "Name")
    if name is None or name == "":
        return instance_id
    if _HOST_NAME.fullmatch(name) and not _MADE_NAME.fullmatch(name):
        return name
    shown = ascii(name[:80]) + ("..." if len(name) > 80 else "")
    logger.warning(
        f"EC2 {instance_id}: its Name tag {shown} is not a host name (letters, digits, '.', "
        f"'_', '-', at most 128, not like an instance id); the host is named {instance_id}"
    )
    return instance_id


def _required(**given: Values | None) -> dict[str, tuple[str, ...]]:
    """Filter name -> the values asked for, for the requirements given; each value checked."""
    required = {}
    for keyword, values in given.items():
        if values is None:
            continue
        name, form, _ = _REQUIREMENTS[keyword]
        listed = (values,) if isinstance(values, str) else tuple(values)
        wrong = [v for v in listed if not isinstance(v, str) or not form.fullmatch(v)]
        if not listed or wrong:
            raise SourceError(
                f"EC2 discovery: {keyword} must be one or more exact {name} values, not {values!r}"
            )
        required[name] = listed
    return required


def _meets(instance: Mapping[str, Any], owner: str | None, required: Mapping[str, Any]) -> bool:
    """Whether ``instance`` (of a reservation owned by ``owner``) meets every requirement."""
    actual = {
        "vpc-id": instance.get("VpcId"),
        "subnet-id": instance.get("SubnetId"),
        "iam-instance-profile.arn": instance.get("IamInstanceProfile", {}).get("Arn"),
        "owner-id": owner,
    }
    return all(actual[name] in values for name, values in required.items())


def _described(required: Mapping[str, tuple[str, ...]]) -> str:
    """`` in VPC vpc-1, with instance profile arn:...``: the requirements, for an error."""
    words = {name: said for name, _, said in _REQUIREMENTS.values()}
    return "".join(f" {words[name]} {' or '.join(values)}" for name, values in required.items())


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
