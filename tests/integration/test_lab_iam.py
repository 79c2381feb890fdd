"""The AWS stand-in enforces IAM policies as AWS does for what the toolkit calls (lab.moto_server):
against the parameter, path or secret a request names, with IAM's wildcards, and refusals as AWS
words them. Plain moto 5.2.5 checks SSM and Secrets Manager against ``*`` only, so a policy naming
ARNs allows nothing, and reads ``?`` as a regular expression."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

ACCOUNT = "123456789012"
PARAMETER = f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter"
SECRET = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret"


def policy(*statements: tuple[str, list[str]]) -> dict:
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": action, "Resource": resources}
        for action, resources in statements]}  # fmt: skip


@pytest.fixture(scope="module")
def seeded(enforcing_aws):
    enforcing_aws.put({"/shop/prod/API_KEY": "FAKE-shop", "/shop/prod/db/URL": "FAKE-url",
                       "/other/prod/API_KEY": "FAKE-other"})  # fmt: skip
    secrets = enforcing_aws.client("secretsmanager")
    arns = {name: secrets.create_secret(Name=name, SecretString='{"K": "FAKE"}')["ARN"]
            for name in ("shop/prod/db", "shop/prod/dbx", "other/db")}  # fmt: skip
    return enforcing_aws, arns


def refusal(error: ClientError) -> tuple[str, str]:
    return error.response["Error"]["Code"], error.response["Error"]["Message"]


def test_a_policy_on_a_path_reads_that_path_and_is_refused_another(seeded):
    stand_in, _ = seeded
    reader = stand_in.user("path-reader", policy(("ssm:GetParametersByPath", [
        f"{PARAMETER}/shop/prod"])))  # fmt: skip
    ssm = stand_in.client("ssm", reader)
    found = ssm.get_parameters_by_path(Path="/shop/prod", Recursive=True, WithDecryption=True)
    assert {p["Name"]: p["Value"] for p in found["Parameters"]} == {
        "/shop/prod/API_KEY": "FAKE-shop", "/shop/prod/db/URL": "FAKE-url"}
    with pytest.raises(ClientError) as error:
        ssm.get_parameters_by_path(Path="/other/prod", Recursive=True)
    assert refusal(error.value) == ("AccessDeniedException", (
        f"User: arn:aws:iam::{ACCOUNT}:user/path-reader is not authorized to perform: "
        f"ssm:GetParametersByPath on resource: {PARAMETER}/other/prod because no identity-based "
        "policy allows the ssm:GetParametersByPath action"))
    # A path is not its parameters: GetParameters is checked on each name, and was not granted.
    with pytest.raises(ClientError):
        ssm.get_parameters(Names=["/shop/prod/API_KEY"])


def test_get_parameters_is_checked_on_every_name_pins_left_out(seeded):
    stand_in, _ = seeded
    reader = stand_in.user("name-reader", policy(("ssm:GetParameters", [
        f"{PARAMETER}/shop/prod/API_KEY"])))  # fmt: skip
    ssm = stand_in.client("ssm", reader)
    answer = ssm.get_parameters(Names=["/shop/prod/API_KEY:1"], WithDecryption=True)
    assert [p["Value"] for p in answer["Parameters"]] == ["FAKE-shop"]
    with pytest.raises(ClientError) as error:
        ssm.get_parameters(Names=["/shop/prod/API_KEY", "/other/prod/API_KEY"])
    assert f"on resource: {PARAMETER}/other/prod/API_KEY because" in refusal(error.value)[1]


def test_a_secret_is_matched_by_its_name_and_six_characters_of_suffix(seeded):
    stand_in, arns = seeded
    reader = stand_in.user("secret-reader", policy(
        ("secretsmanager:GetSecretValue", [f"{SECRET}:shop/prod/db-??????"])))
    secrets = stand_in.client("secretsmanager", reader)
    assert secrets.get_secret_value(SecretId="shop/prod/db")["ARN"] == arns["shop/prod/db"]
    # A name one character longer is another secret: "db-" then six characters does not match it.
    with pytest.raises(ClientError) as error:
        secrets.get_secret_value(SecretId="shop/prod/dbx")
    assert refusal(error.value)[1].endswith(
        f"on resource: {arns['shop/prod/dbx']} because no identity-based policy allows the "
        "secretsmanager:GetSecretValue action")


def test_batch_get_secret_value_answers_each_secret_the_caller_may_read_and_lists_the_rest(seeded):
    stand_in, arns = seeded
    reader = stand_in.user("batch-reader", policy(
        ("secretsmanager:BatchGetSecretValue", ["*"]),
        ("secretsmanager:GetSecretValue", [f"{SECRET}:shop/prod/db-??????"])))
    secrets = stand_in.client("secretsmanager", reader)
    answer = secrets.batch_get_secret_value(SecretIdList=["shop/prod/db", "other/db"])
    assert [v["Name"] for v in answer["SecretValues"]] == ["shop/prod/db"]
    assert [(e["SecretId"], e["ErrorCode"]) for e in answer["Errors"]] == [
        ("other/db", "AccessDeniedException")]
    assert arns["other/db"] in answer["Errors"][0]["Message"]
    alone = secrets.batch_get_secret_value(SecretIdList=["other/db"])
    assert alone["SecretValues"] == [] and len(alone["Errors"]) == 1


def test_an_explicit_deny_wins_and_says_so(seeded):
    stand_in, _ = seeded
    denied = stand_in.user("denied", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ssm:GetParameters", "Resource": f"{PARAMETER}/*"},
        {"Effect": "Deny", "Action": "ssm:GetParameters", "Resource": f"{PARAMETER}/other/*"}]})
    ssm = stand_in.client("ssm", denied)
    assert ssm.get_parameters(Names=["/shop/prod/API_KEY"])["Parameters"]
    with pytest.raises(ClientError) as error:
        ssm.get_parameters(Names=["/other/prod/API_KEY"])
    assert refusal(error.value)[1].endswith("with an explicit deny in an identity-based policy")


def test_an_unknown_key_is_refused_as_aws_refuses_it(seeded):
    stand_in, _ = seeded
    ssm = stand_in.client("ssm", {"AWS_ACCESS_KEY_ID": "AKIAFAKEFAKEFAKEFAKE",
                                  "AWS_SECRET_ACCESS_KEY": "FAKE"})  # fmt: skip
    with pytest.raises(ClientError) as error:
        ssm.get_parameters(Names=["/shop/prod/API_KEY"])
    assert refusal(error.value) == ("UnrecognizedClientException",
                                    "The security token included in the request is invalid.")
