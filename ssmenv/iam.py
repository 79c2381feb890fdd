"""Least-privilege IAM policies, generated from the settings: ``python -m ssmenv iam INVENTORY``.

    python -m ssmenv iam inventories/prod.py
    python -m ssmenv iam inventories/prod.py --json --account 123456789012

The inventory's hosts and their data are read as a deploy reads them (the real pyinfra CLI's
``debug-inventory``, in the checkout, so its ``group_data/`` and ``--data`` apply; no host is
contacted), each app's settings checked as a deploy checks them. Three kinds of documents:

- **control**: what the push deploy needs on the control machine (``deploy.py``, and ``plan``,
  ``drift``, the rotation, which read the same): every source of every app of every host
  (``Source.permissions``: SSM by path and by name, Secrets Manager, ``kms:Decrypt`` through
  those services only), the ECR login and pulls of an app's image in ECR, and
  ``ec2:DescribeInstances`` when the inventory's hosts come from EC2 discovery (it names no
  resource: no narrower grant exists).
- **host role**, one per distinct set of reads: what a host in pull mode reads with its instance
  role: the same sources as a push of its apps, each app's description parameter and its
  releases in S3 (``ssmenv.publication``). Hosts that need the same are listed together.
- **publish**: what publishing from the control machine writes: exactly each app's description
  parameter and its releases' prefix.

Resources are exact ARNs (a parameter or path, a secret's name and its six-character suffix, a
repository, a bucket's prefix); actions are those the toolkit calls, nothing else. Each document
is stable (sorted), so a change of settings shows as a diff.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ssmenv import apps, aws, ecr, publication, sources
from ssmenv.config import AppConfig
from ssmenv.errors import SsmEnvError
from ssmenv.policy import Statement, document

#: EC2 discovery (``ssmenv.ec2``): DescribeInstances names no resource.
DISCOVERY = Statement("DiscoverInstances", ("ec2:DescribeInstances",), ("*",))
#: What discovery gives every host it finds (``ec2._data``).
DISCOVERED = "ec2_instance_id"
#: A managed policy holds 6,144 characters, whitespace aside; an inline role policy 10,240.
MANAGED_POLICY_LIMIT = 6144

_ACCOUNT = re.compile(r"[0-9]{12}")


@dataclass(frozen=True)
class HostRole:
    """The pull policy of hosts that read the same: their apps and names."""

    apps: tuple[str, ...]
    hosts: tuple[str, ...]
    policy: dict[str, Any]


@dataclass(frozen=True)
class Policies:
    """Every document ``iam`` prints, and notes on what they leave out."""

    account: str
    control: dict[str, Any]
    hosts: tuple[HostRole, ...]
    publish: dict[str, Any]
    notes: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "control": self.control,
            "hosts": [{"apps": list(r.apps), "hosts": list(r.hosts), "policy": r.policy}
                      for r in self.hosts],
            "publish": self.publish,
            "notes": list(self.notes),
        }


def reads(config: AppConfig, account: str) -> list[Statement]:
    """What fetching ``config``'s configuration needs, push or pull: its sources, and the ECR
    login and pull of its image when it is in ECR."""
    found = [s for source, spec in sources.used(config.sources)
             for s in source.permissions(spec, account)]  # fmt: skip
    container = config.container
    if container is not None and container.login == "ecr" and container.region is not None:
        found += ecr.permissions(container.image.registry, container.image.repository,
                                 container.region, account)  # fmt: skip
    return found


def _published(config: AppConfig, account: str, publish: bool) -> list[Statement]:
    if config.publication is None:
        return []
    return publication.permissions(config.publication, account, publish=publish,
                                   releases=not config.runtime.image)  # fmt: skip


def pull(config: AppConfig, account: str) -> list[Statement]:
    """What a host in pull mode reads for ``config``: its configuration as a push reads it, its
    description and its releases."""
    return [*reads(config, account), *_published(config, account, publish=False)]


def notes(config: AppConfig) -> list[str]:
    """What ``config``'s pull and publish documents leave out for want of a setting."""
    found = []
    p = config.publication
    if p is None or p.description is None:
        found.append(f"{config.name}: no pull_description (and no ssm_path to derive it from): "
                     "no description parameter in its host role and publish documents")
    if not config.runtime.image and (p is None or p.bucket is None):
        found.append(f"{config.name}: no release_bucket: no releases in its host role and "
                     "publish documents")  # fmt: skip
    return found


def policies(hosts: Sequence[tuple[str, Mapping[str, Any]]], account: str) -> Policies:
    """Every document, from each host's name and data (as ``debug-inventory`` gives them).
    Raises ``ConfigError`` naming each host whose settings are not valid, all at once."""
    control: list[Statement] = []
    publish: list[Statement] = []
    roles: dict[str, tuple[dict[str, Any], list[str], list[str]]] = {}
    found_notes: list[str] = []
    for name, _, configs in apps.of_hosts(hosts):
        pulled: list[Statement] = []
        for config in configs:
            control += reads(config, account)
            publish += _published(config, account, publish=True)
            pulled += pull(config, account)
            found_notes += notes(config)
        role = document(pulled)
        key = json.dumps(role, sort_keys=True)
        entry = roles.setdefault(key, (role, [], []))
        entry[1].extend(c.name for c in configs)
        entry[2].append(name)
    if any(DISCOVERED in data for _, data in hosts):
        control.append(DISCOVERY)
    host_roles = tuple(HostRole(tuple(dict.fromkeys(names)), tuple(members), role)
                       for role, names, members in roles.values())  # fmt: skip
    return Policies(account, document(control), host_roles, document(publish),
                    tuple(dict.fromkeys(found_notes)))  # fmt: skip


def render(found: Policies, inventory: str) -> str:
    """The text output: a header line before each document."""
    apps_published = sorted({a for role in found.hosts for a in role.apps})
    parts = [(f"# control machine: the push deploy of {inventory} (pyinfra INVENTORY deploy.py; "
              "plan, drift and the rotation read the same)", found.control)]  # fmt: skip
    for role in found.hosts:
        parts.append((f"# host role: pull of {', '.join(role.apps)} on {', '.join(role.hosts)}",
                      role.policy))  # fmt: skip
    parts.append((f"# publish: the description and releases of {', '.join(apps_published)}",
                   found.publish))  # fmt: skip
    return "\n".join(f"{header}\n{json.dumps(doc, indent=2)}" for header, doc in parts)


def too_large(found: Policies) -> list[str]:
    """Documents longer than a managed policy may be (whitespace aside), named."""
    named = [("control", found.control), ("publish", found.publish),
             *((f"host role {', '.join(r.hosts)}", r.policy) for r in found.hosts)]  # fmt: skip
    return [f"{name}: {size} characters, more than a managed policy's {MANAGED_POLICY_LIMIT} "
            "(an inline policy holds 10,240; or split it)"
            for name, doc in named
            if (size := len(json.dumps(doc, separators=(",", ":")))) > MANAGED_POLICY_LIMIT]


# --- reading the inventory and the account --------------------------------------------------------


def inventory_hosts(command: Sequence[str], cwd: Path) -> list[tuple[str, dict[str, Any]]]:
    """Each host's name and data from ``pyinfra INVENTORY debug-inventory --json`` (``command``),
    run in ``cwd``; an error naming pyinfra's status when it fails."""
    result = subprocess.run(list(command), cwd=cwd, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise SsmEnvError(f"pyinfra exited with status {result.returncode}: "
                          f"{_last_line(result.stderr or result.stdout)}")  # fmt: skip
    try:
        found = json.loads(result.stdout)
    except ValueError:
        raise SsmEnvError("pyinfra's debug-inventory did not answer JSON") from None
    return [(host["name"], host.get("data") or {}) for host in found]


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def account_of(given: str | None, regions: Iterable[str]) -> str:
    """The AWS account of the resources named by name: ``given`` (``--account``), else the
    caller's (STS ``GetCallerIdentity``, which any credentials may call)."""
    if given is not None:
        if not _ACCOUNT.fullmatch(given):
            raise SsmEnvError("--account: must be an AWS account id, 12 digits")
        return given
    region = next(iter(regions), aws.REGION.default)
    try:
        return aws.client("sts", region).get_caller_identity()["Account"]
    except (ClientError, BotoCoreError) as e:
        raise SsmEnvError(f"the account of the resources: STS GetCallerIdentity: "
                          f"{aws.reason(e)}; give it with --account") from None  # fmt: skip
