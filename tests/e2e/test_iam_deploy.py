"""The control machine's generated policy is enough for a push deploy and no more: ``python -m
ssmenv iam`` on the test inventory, an IAM user of the AWS stand-in with exactly its control
document, the real pyinfra CLI deploying a real host with that user's key. A read the policy does
not cover (another app's parameter) stops the run with one line naming the parameter and the
permission, before the host changes; the policy generated for the new settings covers it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from lab import aws
from tests.e2e.conftest import APP, BLOCKS, REPO, WEB, Deployer, booted, write_inventory

UNIT = WEB
ACCOUNT = "123456789012"
#: The app's parameters of the demo's seed: those under its path (the database administrator's
#: URL beside them is the rotation's, outside the app's path and its policy).
STAGING = {k: v for k, v in json.loads((REPO / "examples/ssm/staging.json").read_text()).items()
           if k.startswith("/example-app/staging/")}  # fmt: skip
OTHER = "/other-app/staging/TOKEN"


@pytest.fixture(scope="module")
def iam_host():
    with booted(BLOCKS["iam"], 1) as hosts:
        yield hosts[0]


@pytest.fixture(scope="module")
def inventory(iam_host, tmp_path_factory):
    return write_inventory(tmp_path_factory.mktemp("iam") / "iam.py", "staging", [iam_host])


def generated(inventory, stand_in, *data: str) -> dict:
    """``python -m ssmenv iam INVENTORY --json`` as the stand-in's admin."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SSMENV_"))}
    printed = subprocess.run(
        [sys.executable, "-m", "ssmenv", "iam", str(inventory), "--json",
         *(f"--data={d}" for d in data)],
        cwd=REPO, env={**env, **stand_in.env}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert printed.returncode == 0, printed.stderr
    return json.loads(printed.stdout)


@pytest.fixture(scope="module")
def deployer(inventory, enforcing_aws):
    enforcing_aws.put({**STAGING, OTHER: "FAKE-other-app-token"})
    found = generated(inventory, enforcing_aws)
    assert found["account"] == ACCOUNT
    key = enforcing_aws.user("deployer", found["control"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return Deployer(inventory, {**env, **aws.environment(enforcing_aws.port), **key})


def test_a_deploy_with_exactly_the_generated_control_policy_works(deployer, iam_host):
    result = deployer.run()
    assert result.returncode == 0, result.output
    environ = iam_host.process_environ(UNIT)
    for name, value in STAGING.items():
        assert environ[name.rsplit("/", 1)[-1]] == value.encode()


def test_a_read_outside_it_stops_the_run_naming_the_parameter_and_the_permission(
    deployer, iam_host, inventory, enforcing_aws
):
    assert deployer.run().returncode == 0
    watched = [f"/etc/{APP}.env", f"/etc/{APP}.env.previous", f"/etc/systemd/system/{UNIT}"]
    before = ([iam_host.file_state(p) for p in watched], iam_host.service(UNIT))
    data = {"ssm_parameters": [OTHER]}
    result = deployer.run(data=data)
    assert result.returncode != 0
    line = (f"SSM parameters {OTHER} (us-east-1): AccessDeniedException: User: "
            f"arn:aws:iam::{ACCOUNT}:user/deployer is not authorized to perform: "
            f"ssm:GetParameters on resource: arn:aws:ssm:us-east-1:{ACCOUNT}:parameter{OTHER} "
            "because no identity-based policy allows the ssm:GetParameters action")  # fmt: skip
    assert result.output.count(line) == 1, result.output
    assert "Starting operation" not in result.output
    assert "FAKE" not in result.output
    assert ([iam_host.file_state(p) for p in watched], iam_host.service(UNIT)) == before

    # The policy generated for those settings covers the new read.
    found = generated(inventory, enforcing_aws, f"ssm_parameters={json.dumps([OTHER])}")
    enforcing_aws.client("iam").put_user_policy(UserName="deployer", PolicyName="deployer",
                                                PolicyDocument=json.dumps(found["control"]))
    result = deployer.run(data=data)
    assert result.returncode == 0, result.output
    assert iam_host.process_environ(UNIT)["TOKEN"] == b"FAKE-other-app-token"
