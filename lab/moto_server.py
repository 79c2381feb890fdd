"""moto's server, with the IAM checks the toolkit's least-privilege policies need: what
``python -m lab.aws up`` and the tests' stand-ins run instead of plain ``moto_server``.

moto 5.2.5 enforces identity policies once ``INITIAL_NO_AUTH_ACTION_COUNT`` requests have passed
(``moto.iam.access_control``), but checks SSM and Secrets Manager requests against the resource
``*`` only: a policy naming a parameter's or a secret's ARN allows nothing at all, and a ``?`` in a
policy's ARN (``secret:NAME-??????``, AWS's pattern for a secret's random suffix) is read as a
regular expression and fails the request. So that ``python -m ssmenv iam``'s policies can be
proven, this module adds what AWS does (docs/tests.md: "The AWS stand-in and IAM"):

- SSM is checked against each parameter a request names: ``GetParameters`` each name (a
  ``:version`` or ``:label`` is no part of the ARN), ``GetParametersByPath`` the path, not the
  parameters it returns (as AWS documents), ``GetParameter``, ``PutParameter``... the name.
- Secrets Manager against the secret's ARN, random suffix included (a missing secret: the ARN the
  request gives, or its name's ARN without a suffix). ``BatchGetSecretValue`` is checked on ``*``,
  then ``secretsmanager:GetSecretValue`` on each secret: one the caller may not read is listed in
  the answer's ``Errors`` (``AccessDeniedException``) and the others are answered, as AWS does.
- Policy ARNs match as IAM matches them: ``*`` any run of characters, ``?`` any one, anything
  else literally.
- Moving ``AWSCURRENT`` (``UpdateSecretVersionStage``, a rotation's finishSecret) makes the
  version it moves to the one every read of the current value answers, ``GetSecretValue``
  without a stage and ``BatchGetSecretValue`` included, as AWS does (moto 5.2.5 kept answering
  the version it was removed from).
- A refusal of a JSON-protocol service (SSM, Secrets Manager, ECR, KMS...) is answered as AWS
  answers it, ``AccessDeniedException`` in JSON with the resource named ("User: ARN is not
  authorized to perform: ssm:GetParameters on resource: ARN because no identity-based policy
  allows the ssm:GetParameters action"), and an unknown key as ``UnrecognizedClientException``,
  instead of moto's XML, which botocore cannot read for those services ("403: <?xml ...").
  Query services (EC2, IAM, STS) keep moto's own answers.

Without ``INITIAL_NO_AUTH_ACTION_COUNT`` nothing is checked and this is plain moto. Enforcement can
be switched on later, after the stand-in is seeded, with ``POST /moto-api/reset-auth`` (the
number of requests still let through: ``lab.aws.enforce``).

    python -m lab.moto_server -H 127.0.0.1 -p 5055     # moto_server's own arguments
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from moto import settings
from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.exceptions import JsonRESTError
from moto.iam import access_control
from moto.secretsmanager.models import SecretsManagerBackend, secretsmanager_backends
from moto.secretsmanager.responses import SecretsManagerResponse
from moto.ssm.responses import SimpleSystemManagerResponse
from moto.utilities.utils import get_partition

# Signing names of the services botocore speaks JSON to (their models' protocol "json"): a
# refusal in moto's XML reaches the caller as "403: <?xml ..." for them.
JSON_SERVICES = frozenset({"ssm", "secretsmanager", "ecr", "kms", "logs", "events", "dynamodb"})


def iam_pattern(pattern: str) -> re.Pattern[str]:
    """An IAM policy's ARN (or action) pattern as a regular expression: ``*`` any run of
    characters, ``?`` any one, everything else literally."""
    parts = ("." if c == "?" else ".*" if c == "*" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.DOTALL)


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern[str]:
    return iam_pattern(pattern)


def _match(pattern: str, string: str) -> re.Match[str] | None:
    return _compiled(pattern).fullmatch(string)


def _enforcing() -> bool:
    """Whether this request is checked: the first INITIAL_NO_AUTH_ACTION_COUNT are not."""
    return ActionAuthenticatorMixin.request_count >= settings.INITIAL_NO_AUTH_ACTION_COUNT


def _check_action_permitted(self: access_control.IAMRequestBase, resource: str) -> None:
    """moto's check, the refusal saying which resource, and why, as AWS says it."""
    if self._action == "sts:GetCallerIdentity":  # always allowed, as moto and AWS do
        return
    permitted, denied = False, False
    for policy in self._access_key.collect_policies():
        result = access_control.IAMPolicy(policy).is_action_permitted(self._action, resource)
        denied = denied or result == access_control.PermissionResult.DENIED
        permitted = permitted or result == access_control.PermissionResult.PERMITTED
    if not denied and self._is_assuming_role_operation(resource):
        permitted = permitted and self._check_role_trust_relationship(resource)
    if denied or not permitted:
        self._lab_refusal = (resource, "with an explicit deny in an identity-based policy"
                             if denied else "because no identity-based policy allows the "
                             f"{self._action} action")  # fmt: skip
        self._raise_access_denied()


_moto_raise_access_denied = access_control.IAMRequest._raise_access_denied
_moto_raise_invalid_access_key = access_control.IAMRequest._raise_invalid_access_key
_moto_raise_signature_does_not_match = access_control.IAMRequest._raise_signature_does_not_match


def _json_error(code: str, message: str) -> JsonRESTError:
    error = JsonRESTError(code, message)
    error.code = 400  # AWS's status for these in its JSON protocol
    return error


def _raise_access_denied(self: access_control.IAMRequest) -> None:
    if self._service not in JSON_SERVICES:
        _moto_raise_access_denied(self)
    resource, why = getattr(self, "_lab_refusal", ("*", ""))
    on = "" if resource == "*" else f" on resource: {resource}"
    raise _json_error("AccessDeniedException", f"User: {self._access_key.arn} is not authorized "
                      f"to perform: {self._action}{on} {why}".rstrip())  # fmt: skip


def _raise_invalid_access_key(self: access_control.IAMRequest, reason: str) -> None:
    if self._service not in JSON_SERVICES:
        _moto_raise_invalid_access_key(self, reason)
    raise _json_error("UnrecognizedClientException",
                      "The security token included in the request is invalid.")


def _raise_signature_does_not_match(self: access_control.IAMRequest) -> None:
    if self._service not in JSON_SERVICES:
        _moto_raise_signature_does_not_match(self)
    raise _json_error("InvalidSignatureException", "The request signature we calculated does "
                      "not match the signature you provided.")  # fmt: skip


# --- which resources a request names --------------------------------------------------------------


def _parameter_arn(response: Any, name: str) -> str:
    """An SSM parameter's ARN: ``/a/b`` is ``parameter/a/b``, ``a`` is ``parameter/a``."""
    name = name.split(":", 1)[0]
    return (f"arn:{get_partition(response.region)}:ssm:{response.region}:"
            f"{response.current_account}:parameter/{name.lstrip('/')}")  # fmt: skip


def ssm_resources(response: Any) -> list[str]:
    """The parameters (or the path) an SSM request is authorized against; ``*`` for the rest."""
    action = response._get_action()
    if action == "GetParametersByPath":
        return [_parameter_arn(response, response._get_param("Path") or "/")]
    names = response._get_param("Names")
    if action in ("GetParameters", "DeleteParameters") and names:
        return [_parameter_arn(response, name) for name in dict.fromkeys(names)]
    name = response._get_param("Name")
    if name and action.endswith(("Parameter", "ParameterHistory", "ParameterVersion",
                                 "ParameterVersionLabels")):  # fmt: skip
        return [_parameter_arn(response, name)]
    return ["*"]


def secret_arn(response: Any, secret_id: str) -> str:
    """A secret's ARN, random suffix included; for a missing secret, the ARN given, or the name's
    ARN without a suffix."""
    backend = secretsmanager_backends[response.current_account][response.region]
    secret = backend.secrets.get(secret_id)
    if secret is not None:
        return secret.arn
    if secret_id.startswith("arn:"):
        return secret_id
    return (f"arn:{get_partition(response.region)}:secretsmanager:{response.region}:"
            f"{response.current_account}:secret:{secret_id}")  # fmt: skip


def secrets_resources(response: Any) -> list[str]:
    """The secret a Secrets Manager request is authorized against; ``*`` for the rest
    (``BatchGetSecretValue`` included: each secret is checked when answered)."""
    secret_id = response._get_param("SecretId") or (
        response._get_param("Name") if response._get_action() == "CreateSecret" else None)
    return [secret_arn(response, secret_id)] if secret_id else ["*"]


def _authorize_each(resources: Any) -> Any:
    """moto's check, once per resource the request names."""
    moto_check = ActionAuthenticatorMixin._authenticate_and_authorize_normal_action

    def authorize(self: Any, resource: str = "*") -> None:
        if not _enforcing():
            moto_check(self, "*")  # counts the request as one of those let through
            return
        for each in resources(self):
            moto_check(self, each)

    return authorize


def _batch_get_secret_value(self: SecretsManagerResponse) -> str:
    """moto's answer, with each secret the caller may not read in ``Errors`` instead."""
    ids = self._get_param("SecretIdList", if_none=[])
    denied = []
    if _enforcing() and ids:
        for secret_id in ids:
            try:
                _checked_as(self, "GetSecretValue", secret_arn(self, secret_id))
            except JsonRESTError as e:  # the refusal as _raise_access_denied words it
                denied.append({"SecretId": secret_id, "ErrorCode": "AccessDeniedException",
                               "Message": e.message})  # fmt: skip
    refused = {d["SecretId"] for d in denied}
    values, errors, token = self.backend.batch_get_secret_value(
        secret_id_list=[i for i in ids if i not in refused],
        filters=self._get_param("Filters", if_none=[]),
        max_results=self._get_int_param("MaxResults"),
        next_token=self._get_param("NextToken"),
    )
    if ids and len(refused) == len(ids):
        values = []  # moto reads an empty list as "no list": every secret
    return json.dumps({"SecretValues": values, "Errors": [*denied, *errors], "NextToken": token})


def _checked_as(response: Any, action: str, resource: str) -> None:
    """The caller's permission for ``action`` (of the request's service) on ``resource``."""
    request = access_control.IAMRequest(
        account_id=response.current_account, method=response.method, path=response.raw_path,
        data=response.data, body=response.raw_body, headers=response.headers,
        action=action,
    )  # fmt: skip
    request.check_action_permitted(resource)


def _list_command_invocations(self: SimpleSystemManagerResponse) -> Any:
    """``ListCommandInvocations``, which moto 5.2.5 does not implement: each invocation moto
    recorded for the command (or the instance), as ``GetCommandInvocation`` has it, with its
    plugin's output under ``Details``. moto executes nothing: every one is ``Success``, empty."""
    from moto.core.responses import ActionResult

    command_id, instance_id = self._get_param("CommandId"), self._get_param("InstanceId")
    details = self._get_param("Details", False)
    found = []
    for command in self.ssm_backend.list_commands(command_id, instance_id):
        for invocation in command.invocations:
            if instance_id and invocation["InstanceId"] != instance_id:
                continue
            item = {key: invocation[key] for key in (
                "CommandId", "InstanceId", "Comment", "DocumentName", "Status", "StatusDetails",
                "StandardOutputUrl")}  # fmt: skip
            item["RequestedDateTime"] = command.requested_date_time
            if details:
                item["CommandPlugins"] = [{
                    "Name": invocation["PluginName"], "Status": invocation["Status"],
                    "StatusDetails": invocation["StatusDetails"],
                    "ResponseCode": invocation["ResponseCode"],
                    "Output": invocation["StandardOutputContent"]}]  # fmt: skip
            found.append(item)
    return ActionResult({"CommandInvocations": found})


def _cancel_command(self: SimpleSystemManagerResponse) -> Any:
    """``CancelCommand``, which moto 5.2.5 does not implement: what has not started is
    ``Cancelled`` (with moto alone every invocation is done at once: nothing); an unknown
    command is refused as AWS refuses it."""
    from moto.core.responses import ActionResult

    command = self.ssm_backend.get_command_by_id(self._get_param("CommandId"))
    for invocation in command.invocations:
        if invocation["Status"] in ("Pending", "Delayed"):
            invocation.update(Status="Cancelled", StatusDetails="Cancelled")
    return ActionResult({})


#: Documents whose commands the lab's Run Command (``lab.run_command``) carries out: their
#: invocations start ``Pending`` instead of moto's ``Success``, and it reports each.
HELD: set[str] = set()
_send_command = SimpleSystemManagerResponse.send_command


def _send_command_held(self: SimpleSystemManagerResponse) -> Any:
    """moto's ``SendCommand``, its command as AWS records it (below); a held document's
    invocations ``Pending`` until the lab's Run Command reports them."""
    answer = _send_command(self)
    name = self._get_param("DocumentName")
    command = self.ssm_backend._commands[-1]
    # The version asked for, which moto does not keep: the command's as AWS lists it.
    command.document_version = self._get_param("DocumentVersion") or "$DEFAULT"
    asked = self._get_param("InstanceIds") or []
    if asked and not self._get_param("Targets"):
        # moto adds every instance of the region to a command without Targets (its empty tag
        # filter matches them all): the command's instances are those it was sent to, in order.
        command.instance_ids = list(dict.fromkeys(asked))
        command.invocations = [i for i in command.invocations if i["InstanceId"] in asked]
        command.target_count = command.completed_count = len(command.instance_ids)
    answer = type(answer)({"Command": command.response_object()})
    if name in HELD:
        command.status = command.status_details = "Pending"
        for invocation in command.invocations:
            invocation.update(Status="Pending", StatusDetails="Pending", ResponseCode=-1)
        answer = type(answer)({"Command": command.response_object()})
    return answer


def _run_command_api(request: Any, full_url: str, headers: Any) -> tuple[int, dict, str]:
    """``POST /moto-api/lab/run-command``: ``{"hold": [document names]}`` (what the lab's Run
    Command carries out from now on), or ``{"command", "instance", "status", "code", "output"}``
    (one invocation as the host's SSM Agent would report it)."""
    from moto.ssm.models import ssm_backends

    body = json.loads(request.data.decode() or "{}")
    if "hold" in body:
        HELD.clear()
        HELD.update(body["hold"])
        return 200, {}, json.dumps({"held": sorted(HELD)})
    for backend in ssm_backends[body.get("account", "123456789012")].values():
        for command in backend._commands:
            if command.command_id != body["command"]:
                continue
            for invocation in command.invocations:
                if invocation["InstanceId"] == body["instance"]:
                    invocation.update(Status=body["status"], StatusDetails=body["status"],
                                      ResponseCode=body.get("code", -1),
                                      StandardOutputContent=body.get("output", ""))
            done = [i["Status"] not in ("Pending", "InProgress") for i in command.invocations]
            command.status = command.status_details = "Success" if all(done) else "InProgress"
            return 200, {}, json.dumps({"ok": True})
    return 404, {}, json.dumps({"error": "no such command"})




_moto_update_secret_version_stage = SecretsManagerBackend.update_secret_version_stage


def _update_secret_version_stage(self: SecretsManagerBackend, secret_id: str, version_stage: str,
                                 remove_from_version_id: str, move_to_version_id: str
                                 ) -> tuple[str, str]:  # fmt: skip
    """moto's move, and the secret's default version (what reads without a stage answer)
    following ``AWSCURRENT``."""
    answer = _moto_update_secret_version_stage(self, secret_id, version_stage,
                                               remove_from_version_id, move_to_version_id)
    if version_stage == "AWSCURRENT" and move_to_version_id:
        self.secrets[secret_id].set_default_version_id(move_to_version_id)
    return answer


def install() -> None:
    """Add the checks above to moto (this process only)."""
    access_control.IAMPolicyStatement._match = staticmethod(_match)
    access_control.IAMRequestBase.check_action_permitted = _check_action_permitted
    access_control.IAMRequest._raise_access_denied = _raise_access_denied
    access_control.IAMRequest._raise_invalid_access_key = _raise_invalid_access_key
    access_control.IAMRequest._raise_signature_does_not_match = _raise_signature_does_not_match
    SimpleSystemManagerResponse._authenticate_and_authorize_normal_action = _authorize_each(
        ssm_resources)
    SecretsManagerResponse._authenticate_and_authorize_normal_action = _authorize_each(
        secrets_resources)
    SecretsManagerResponse.batch_get_secret_value = _batch_get_secret_value
    SimpleSystemManagerResponse.list_command_invocations = _list_command_invocations
    SimpleSystemManagerResponse.cancel_command = _cancel_command
    SimpleSystemManagerResponse.send_command = _send_command_held
    from moto.ssm.models import Command

    respond = Command.response_object
    Command.response_object = lambda self: {
        **respond(self), "DocumentVersion": getattr(self, "document_version", "$DEFAULT")}
    from moto.moto_api._internal import urls

    urls.url_paths["{0}/moto-api/lab/run-command"] = _run_command_api
    SecretsManagerBackend.update_secret_version_stage = _update_secret_version_stage


def main(argv: list[str] | None = None) -> None:
    from moto.server import main as moto_main

    install()
    moto_main(argv)


if __name__ == "__main__":
    main()
