"""A lab host takes its instance role as an EC2 instance does: Debian's own botocore on the host
(python3-botocore, the ``agent`` image), with no key anywhere, finds the role's credentials
through IMDSv2 at the metadata stand-in (lab.imds) and reads SSM from the AWS stand-in over
127.0.0.1, checked against the role's policy."""

from __future__ import annotations

import json

import pytest

from lab import imds
from tests.e2e.conftest import BLOCKS, booted

ACCOUNT = "123456789012"
PARAMETER = f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter"
ROLE_POLICY = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": "ssm:GetParametersByPath",
    "Resource": f"{PARAMETER}/shop/prod"}]}  # fmt: skip

# Run on the host with nothing but the metadata endpoint in its environment. Debian 12's botocore
# (1.29) predates AWS_ENDPOINT_URL: the stand-in's address is given to the client.
ON_THE_HOST = """
import json, os, sys
import botocore, botocore.session
from botocore.exceptions import ClientError
session = botocore.session.get_session()
credentials = session.get_credentials()
ssm = session.create_client("ssm", region_name=sys.argv[1], endpoint_url=sys.argv[2])
found = ssm.get_parameters_by_path(Path="/shop/prod", Recursive=True, WithDecryption=True)
try:
    ssm.get_parameters_by_path(Path="/other/prod", Recursive=True, WithDecryption=True)
    refused = None
except ClientError as e:
    refused = [e.response["Error"]["Code"], e.response["Error"]["Message"]]
print(json.dumps({
    "botocore": botocore.__version__,
    "method": credentials.method,
    "access_key": credentials.access_key,
    "parameters": {p["Name"]: p["Value"] for p in found["Parameters"]},
    "refused": refused,
    "aws_files": [p for p in ("/root/.aws", os.path.expanduser("~/.aws")) if os.path.exists(p)],
}))
"""


@pytest.fixture(scope="module")
def agent_host():
    with booted(BLOCKS["imds"], 1, kind="agent") as up:
        yield up[0]


def test_the_host_reads_with_its_instance_role_through_imdsv2_and_only_what_it_allows(
    agent_host, enforcing_aws, instance_metadata
):
    enforcing_aws.put({"/shop/prod/API_KEY": "FAKE-shop-key", "/other/prod/API_KEY": "FAKE-x"})
    metadata = instance_metadata(enforcing_aws, "shop-host", ROLE_POLICY)
    command = (f"sudo env -i PATH=/usr/bin:/bin HOME=/root "
               f"AWS_EC2_METADATA_SERVICE_ENDPOINT={imds.endpoint(metadata.port)} "
               f"python3 - us-east-1 http://127.0.0.1:{enforcing_aws.port}")  # fmt: skip
    said = json.loads(agent_host.run(command, stdin=ON_THE_HOST))
    assert said["botocore"].startswith("1.29.")
    assert said["method"] == "iam-role"
    served = json.loads(metadata.get("meta-data/iam/security-credentials/shop-host")[1])
    assert said["access_key"] == served["AccessKeyId"]
    assert said["parameters"] == {"/shop/prod/API_KEY": "FAKE-shop-key"}
    assert said["refused"] == ["AccessDeniedException", (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/shop-host/{metadata.instance.instance_id} is "
        f"not authorized to perform: ssm:GetParametersByPath on resource: {PARAMETER}/other/prod "
        "because no identity-based policy allows the ssm:GetParametersByPath action")]
    assert said["aws_files"] == []
