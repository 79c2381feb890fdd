"""The app's documents in SSM (the command document, and the runbook of change-driven
rollouts), kept from the settings: created when missing, updated (a new version, made the
default) only when its content changed, compared with what ``GetDocument`` returns, so a
rollout with nothing new writes nothing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ssmenv import aws
from ssmenv.errors import SsmEnvError
from ssmenv.plan.fleet import document_sha256, document_text, same_document


class FleetError(SsmEnvError):
    """What a fleet command could not do: one line naming the document, the command or the
    instance, never a value."""


@dataclass(frozen=True)
class Published:
    """The document as SSM has it: its name, the version a command runs, and what was done
    (``created``, ``updated``, ``unchanged``)."""

    name: str
    version: str
    done: str

    def line(self, content: Mapping[str, Any]) -> str:
        return (f"document {self.name}: {self.done}, version {self.version} (sha256 "
                f"{document_sha256(content)[:12]})")  # fmt: skip


def _get(region: str, name: str, version: str | None = None) -> str | None:
    """The document's content at ``version`` (``None``: its default version); ``None`` when
    there is no such document."""
    request = {"DocumentVersion": version} if version else {}
    try:
        answer = aws.call("ssm", region, "GetDocument", Name=name, DocumentFormat="JSON",
                          **request)  # fmt: skip
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") == "InvalidDocument":
            return None
        raise FleetError(f"document {name}: {aws.reason(e)}") from None
    except BotoCoreError as e:
        raise FleetError(f"document {name}: {aws.reason(e)}") from None
    return answer.get("Content")


def ensure(region: str, name: str, content: Mapping[str, Any], kind: str = "Command"
           ) -> Published:  # fmt: skip
    """The document ``name`` in ``region`` holding ``content``, as its default version.

    + kind: its ``DocumentType``: ``Command`` (the sync), ``Automation`` (the runbook)
    """
    text = document_text(content)
    current = _get(region, name)
    try:
        if current is None:
            made = aws.call("ssm", region, "CreateDocument", Name=name, Content=text,
                            DocumentType=kind, DocumentFormat="JSON")  # fmt: skip
            return Published(name, made["DocumentDescription"]["DocumentVersion"], "created")
        if same_document(current, content):
            described = aws.call("ssm", region, "DescribeDocument", Name=name)
            return Published(name, described["Document"]["DefaultVersion"], "unchanged")
        version = _earlier(region, name, content)
        if version is None:
            updated = aws.call("ssm", region, "UpdateDocument", Name=name, Content=text,
                               DocumentVersion="$LATEST", DocumentFormat="JSON")  # fmt: skip
            version = updated["DocumentDescription"]["DocumentVersion"]
        aws.call("ssm", region, "UpdateDocumentDefaultVersion", Name=name,
                 DocumentVersion=version)  # fmt: skip
        return Published(name, version, "updated")
    except (ClientError, BotoCoreError) as e:
        raise FleetError(f"document {name}: {aws.reason(e)}") from None


def _earlier(region: str, name: str, content: Mapping[str, Any]) -> str | None:
    """The version of the document that holds ``content`` already, newest first (settings put
    back, or a run stopped before making its version the default: SSM refuses the same content
    twice, ``DuplicateDocumentContent``); ``None``: none does."""
    latest = int(aws.call("ssm", region, "DescribeDocument", Name=name)["Document"]
                 ["LatestVersion"])  # fmt: skip
    for version in range(latest, 0, -1):
        if same_document(_get(region, name, str(version)), content):
            return str(version)
    return None
