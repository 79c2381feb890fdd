"""The instance metadata stand-in (lab.imds): IMDSv2 as an EC2 instance serves it, with a role's
credentials minted by the AWS stand-in, which botocore's own instance-role provider takes through
AWS_EC2_METADATA_SERVICE_ENDPOINT; with IAM enforced, the role's policy is what the host may do."""

from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import botocore.session
import pytest
from botocore.exceptions import ClientError

from lab import aws, imds
from lab.ports import free_port
from tests.conftest import imds_request

REPO = Path(__file__).resolve().parents[2]

ACCOUNT = "123456789012"
PARAMETER = f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter"
ROLES = itertools.count()
READ_SHOP = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": "ssm:GetParametersByPath",
    "Resource": f"{PARAMETER}/shop/prod"}]}  # fmt: skip


@pytest.fixture
def only_the_instance_role(monkeypatch, tmp_path):
    """No credentials but the instance role's: no key, profile or file botocore would take first."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_DEFAULT_PROFILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                 "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE",
                 "AWS_EC2_METADATA_DISABLED", "AWS_EC2_METADATA_SERVICE_ENDPOINT"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))


@pytest.fixture(scope="module")
def shop(enforcing_aws):
    enforcing_aws.put({"/shop/prod/API_KEY": "FAKE-shop-key", "/other/prod/API_KEY": "FAKE-other"})
    return enforcing_aws


def test_botocore_takes_the_instance_role_and_reads_only_what_its_policy_allows(
    shop, instance_metadata, only_the_instance_role, monkeypatch
):
    metadata = instance_metadata(shop, "shop-prod", READ_SHOP)
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.endpoint(metadata.port))
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{shop.port}")
    session = botocore.session.Session()
    credentials = session.get_credentials()
    assert credentials.method == "iam-role"
    served = json.loads(metadata.get("meta-data/iam/security-credentials/shop-prod")[1])
    assert credentials.access_key == served["AccessKeyId"]
    assert credentials.token == served["Token"]

    ssm = session.create_client("ssm", region_name="us-east-1")
    found = ssm.get_parameters_by_path(Path="/shop/prod", Recursive=True, WithDecryption=True)
    assert [(p["Name"], p["Value"]) for p in found["Parameters"]] == [
        ("/shop/prod/API_KEY", "FAKE-shop-key")]
    with pytest.raises(ClientError) as error:
        ssm.get_parameters_by_path(Path="/other/prod", Recursive=True, WithDecryption=True)
    assert error.value.response["Error"]["Message"] == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/shop-prod/{metadata.instance.instance_id} is "
        f"not authorized to perform: ssm:GetParametersByPath on resource: {PARAMETER}/other/prod "
        "because no identity-based policy allows the ssm:GetParametersByPath action")


def test_every_get_needs_a_live_token(shop, instance_metadata):
    metadata = instance_metadata(shop, "token-rules", None)
    path = "/latest/meta-data/instance-id"
    assert imds_request(metadata.port, "GET", path, {})[0] == 401
    assert imds_request(metadata.port, "GET", path,
                        {"X-aws-ec2-metadata-token": "not-a-token"})[0] == 401  # fmt: skip
    assert metadata.get("meta-data/instance-id") == (200, metadata.instance.instance_id)
    brief = metadata.token(ttl=1)
    deadline = time.monotonic() + 10
    while metadata.get("meta-data/instance-id", brief)[0] == 200:
        assert time.monotonic() < deadline, "a token of 1 s still worked after 10 s"
        time.sleep(0.1)
    assert metadata.get("meta-data/instance-id", brief)[0] == 401


@pytest.mark.parametrize(("headers", "status"), [
    ({}, 400),
    ({"X-aws-ec2-metadata-token-ttl-seconds": "0"}, 400),
    ({"X-aws-ec2-metadata-token-ttl-seconds": "21601"}, 400),
    ({"X-aws-ec2-metadata-token-ttl-seconds": "60", "X-Forwarded-For": "10.0.0.1"}, 403),
    ({"X-aws-ec2-metadata-token-ttl-seconds": "21600"}, 200),
])  # fmt: skip
def test_a_token_is_given_as_imds_gives_it(shop, instance_metadata, headers, status):
    metadata = instance_metadata(shop, f"ttl-{next(ROLES)}", None)
    assert imds_request(metadata.port, "PUT", "/latest/api/token", headers)[0] == status


def test_the_instance_is_the_one_ec2_knows_with_its_profile_and_tags(shop, instance_metadata):
    metadata = instance_metadata(shop, "shop-web", None, tags={"Role": "web", "Env": "prod"},
                                 metadata_tags=True)  # fmt: skip
    document = json.loads(metadata.get("dynamic/instance-identity/document")[1])
    reservations = shop.client("ec2").describe_instances(
        InstanceIds=[document["instanceId"]])["Reservations"]  # fmt: skip
    described = reservations[0]["Instances"][0]
    assert described["IamInstanceProfile"]["Arn"] == (
        f"arn:aws:iam::{ACCOUNT}:instance-profile/shop-web")
    assert (document["accountId"], document["region"]) == (ACCOUNT, "us-east-1")
    assert document["availabilityZone"] == described["Placement"]["AvailabilityZone"]
    assert metadata.get("meta-data/placement/region") == (200, "us-east-1")
    assert metadata.get("meta-data/iam/security-credentials/") == (200, "shop-web")
    assert metadata.get("meta-data/tags/instance/") == (200, "Env\nRole")
    assert metadata.get("meta-data/tags/instance/Role") == (200, "web")
    without = instance_metadata(shop, "untagged", None, tags={"Role": "web"})
    assert without.get("meta-data/tags/instance/Role")[0] == 404


def test_credentials_are_renewed_before_they_expire(shop):
    instance = imds.launch(shop.port, "renewed", None, credentials=shop.admin)
    role = imds.RoleCredentials(instance)
    first = role.get()
    assert role.get() == first  # the same until near their expiry, as EC2 serves them
    assert datetime.strptime(first["Expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=UTC) > datetime.now(UTC)  # fmt: skip
    role.expires = datetime.now(UTC) + imds.REFRESH_BEFORE / 2
    assert role.get()["AccessKeyId"] != first["AccessKeyId"]


def lab_imds(*args: str, state: Path) -> subprocess.CompletedProcess[str]:
    """``python -m lab.imds ARGS`` in a process of its own, its state in ``state``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SSMENV_LAB_"))}
    return subprocess.run(
        [sys.executable, "-m", "lab.imds", *args], cwd=REPO,
        env={**env, "SSMENV_LAB_STATE": str(state)}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_the_command_line_starts_one_beside_the_aws_stand_in_and_stops_it(tmp_path):
    aws_port, port = free_port(), free_port()
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(READ_SHOP))
    proc = aws.start(aws_port, tmp_path / "moto.log")
    try:
        started = lab_imds("up", "--aws-port", str(aws_port), "--port", str(port), "--role",
                           "cli-role", "--policy", str(policy), "--tag", "Role=web",
                           "--metadata-tags", state=tmp_path)  # fmt: skip
        assert started.returncode == 0, started.stderr
        assert f"(role cli-role) on 127.0.0.1:{port}" in started.stdout
        assert oct((tmp_path / f"imds-{port}.instance.json").stat().st_mode & 0o777) == "0o600"
        assert lab_imds("env", state=tmp_path).stdout == (
            f"export AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:{port}/\n")
        assert f"127.0.0.1:{port}" in lab_imds("status", state=tmp_path).stdout
        token = imds_request(port, "PUT", "/latest/api/token",
                             {"X-aws-ec2-metadata-token-ttl-seconds": "60"})[1]  # fmt: skip
        assert imds_request(port, "GET", "/latest/meta-data/tags/instance/Role",
                            {"X-aws-ec2-metadata-token": token}) == (200, "web")  # fmt: skip
        role = aws.client("iam", aws_port).get_role_policy(RoleName="cli-role",
                                                            PolicyName="cli-role")  # fmt: skip
        assert role["PolicyDocument"] == READ_SHOP
        stopped = lab_imds("down", state=tmp_path)
        assert stopped.stdout == f"metadata stand-in 127.0.0.1:{port}: stopped\n"
        assert list(tmp_path.glob("imds-*.json")) == []
    finally:
        lab_imds("down", "--port", str(port), state=tmp_path)
        proc.terminate()
        proc.wait(timeout=10)


def test_a_port_something_holds_fails_the_start_at_once_instead_of_being_answered_by_it(tmp_path):
    with socket.socket() as held:  # one a killed run left, say: it would answer in its place
        held.bind(("127.0.0.1", free_port()))
        held.listen()
        port = held.getsockname()[1]
        with pytest.raises(SystemExit, match=f"port {port} is already in use"):
            imds.start(port, tmp_path / "instance.json", tmp_path / "imds.log")
    assert not (tmp_path / "imds.log").exists()  # nothing was started
