"""The generated policies are enough and no more, against the AWS stand-in enforcing IAM on the
resources each request names (lab.moto_server): the control machine's reads (a user with exactly
the control document), a host's pull with its instance role (the metadata stand-in, the host
document as the role's policy: ssmenv.sources' fetch as the agent will call it, its description,
its release) and the publish; each read outside them refused with one line naming the resource
and the permission. And ``python -m ssmenv iam`` itself, through the real pyinfra CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from ssmenv import aws, iam, sources
from ssmenv.apps import read as read_apps
from ssmenv.variables import compose
from tests.conftest import aws_only

REPO = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
P = f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter"

SHOP = {
    "ssm_path": "/shop/prod",
    "ssm_parameters": {"DB_PASSWORD": "/shared/prod/DB_PASSWORD:1"},
    "secrets": ["shop/prod/stripe"],
    "release_bucket": "shop-releases",
}
#: Another app's, in the same account: what the shop's policies must not reach.
OTHER = {"ssm_path": "/other/prod", "ssm_parameters": ["/shared/prod/OTHER_TOKEN"],
         "secrets": ["other/prod/stripe"]}  # fmt: skip


@pytest.fixture(scope="module")
def seeded(enforcing_aws):
    enforcing_aws.put({"/shop/prod/API_KEY": "FAKE-shop-api", "/shop/prod/db/HOST": "FAKE-host",
                       "/shared/prod/DB_PASSWORD": "FAKE-db", "/other/prod/API_KEY": "FAKE-other",
                       "/shared/prod/OTHER_TOKEN": "FAKE-token"})  # fmt: skip
    enforcing_aws.ssm().put_parameter(Name="/deploy/shop/prod", Value='{"app": "shop"}',
                                      Type="String")  # fmt: skip
    secrets = enforcing_aws.client("secretsmanager")
    for name in ("shop/prod/stripe", "other/prod/stripe"):
        secrets.create_secret(Name=name, SecretString='{"STRIPE_KEY": "FAKE-stripe"}')
    s3 = enforcing_aws.client("s3")
    s3.create_bucket(Bucket="shop-releases")
    for key in ("ssmenv/example-app/sha256-1.tar.gz", "ssmenv/other/sha256-2.tar.gz"):
        s3.put_object(Bucket="shop-releases", Key=key, Body=b"FAKE release")
    return enforcing_aws


@pytest.fixture
def fresh_run():
    """Each read in a test is a new run: nothing cached from an earlier one, its clients made
    anew from the environment of the moment."""
    sources.clear_cache()
    yield
    sources.clear_cache()


def fetched(data: dict) -> tuple[dict[str, str], list[str]]:
    """What a deploy (or a sync) of ``data``'s app reads: its variables, and every problem."""
    config = read_apps(data).configs[0]
    composition = compose(config, sources.fetch(config.sources))
    return {n: v.value for n, v in composition.variables.items()}, list(composition.problems)


SHOP_VALUES = {"API_KEY": "FAKE-shop-api", "HOST": "FAKE-host", "DB_PASSWORD": "FAKE-db",
               "STRIPE_KEY": "FAKE-stripe", "PORT": "3000"}  # fmt: skip


def test_the_control_policy_reads_every_source_of_the_deploy_and_nothing_of_another_app(
    seeded, fresh_run, monkeypatch
):
    control = iam.policies([("web-1", SHOP)], ACCOUNT).control
    aws_only(monkeypatch, seeded, **seeded.user("deployer", control))
    values, problems = fetched(SHOP)
    assert (values, problems) == (SHOP_VALUES, [])
    sources.clear_cache()
    _, problems = fetched(OTHER)
    user = f"arn:aws:iam::{ACCOUNT}:user/deployer"
    problems = sorted(problems)  # the order the sources are read in is not the point
    assert problems[:2] == [
        f"SSM parameters /shared/prod/OTHER_TOKEN (us-east-1): AccessDeniedException: User: "
        f"{user} is not authorized to perform: ssm:GetParameters on resource: "
        f"{P}/shared/prod/OTHER_TOKEN because no identity-based policy allows the "
        "ssm:GetParameters action",
        f"SSM path /other/prod (us-east-1): AccessDeniedException: User: {user} is not "
        "authorized to perform: ssm:GetParametersByPath on resource: "
        f"{P}/other/prod because no identity-based policy allows the ssm:GetParametersByPath "
        "action",
    ]
    # The secret's ARN ends in the suffix the stand-in gave it.
    assert problems[2].startswith(
        f"secret other/prod/stripe: AccessDeniedException: User: {user} is not authorized to "
        "perform: secretsmanager:GetSecretValue on resource: "
        f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:other/prod/stripe-")
    assert len(problems) == 3


def test_a_host_role_with_its_generated_policy_reads_what_the_agent_reads_and_nothing_else(
    seeded, fresh_run, instance_metadata, monkeypatch
):
    role = iam.policies([("web-1", SHOP)], ACCOUNT).hosts[0].policy
    metadata = instance_metadata(seeded, "shop-prod-host", role)
    aws_only(monkeypatch, seeded, **metadata.env)
    values, problems = fetched(SHOP)
    assert (values, problems) == (SHOP_VALUES, [])
    session_arn = f"arn:aws:sts::{ACCOUNT}:assumed-role/shop-prod-host/"
    ssm, s3 = aws.client("ssm", "us-east-1"), aws.client("s3", "us-east-1")
    described = ssm.get_parameters(Names=["/deploy/shop/prod"])["Parameters"]
    assert [p["Value"] for p in described] == ['{"app": "shop"}']
    release = s3.get_object(Bucket="shop-releases", Key="ssmenv/example-app/sha256-1.tar.gz")
    assert release["Body"].read() == b"FAKE release"

    sources.clear_cache()
    _, problems = fetched(OTHER)
    assert len(problems) == 3 and all(session_arn in p for p in problems)
    assert any(p.startswith("SSM path /other/prod (us-east-1): AccessDeniedException: ")
               and f"ssm:GetParametersByPath on resource: {P}/other/prod because" in p
               for p in problems)  # fmt: skip
    for refused in (
        lambda: s3.get_object(Bucket="shop-releases", Key="ssmenv/other/sha256-2.tar.gz"),
        lambda: ssm.put_parameter(Name="/deploy/shop/prod", Value="{}", Type="String",
                                  Overwrite=True),  # a host does not publish
        lambda: ssm.get_parameters(Names=["/shop/prod/API_KEY"]),  # the path is, its names not
    ):
        with pytest.raises(ClientError) as error:
            refused()
        assert error.value.response["Error"]["Code"] in ("AccessDenied", "AccessDeniedException")


def test_the_publish_policy_writes_the_description_and_releases_and_reads_no_value(
    seeded, fresh_run, monkeypatch
):
    publish = iam.policies([("web-1", SHOP)], ACCOUNT).publish
    aws_only(monkeypatch, seeded, **seeded.user("publisher", publish))
    ssm, s3 = aws.client("ssm", "us-east-1"), aws.client("s3", "us-east-1")
    ssm.put_parameter(Name="/deploy/shop/prod", Value='{"app": "shop", "v": 2}', Type="String",
                      Overwrite=True)  # fmt: skip
    assert ssm.get_parameters(Names=["/deploy/shop/prod"])["Parameters"][0]["Version"] == 2
    s3.put_object(Bucket="shop-releases", Key="ssmenv/example-app/sha256-3.tar.gz", Body=b"x")
    for refused in (
        lambda: ssm.put_parameter(Name="/deploy/other/prod", Value="{}", Type="String"),
        lambda: s3.put_object(Bucket="shop-releases", Key="ssmenv/other/sha256-4.tar.gz",
                              Body=b"x"),
        lambda: ssm.get_parameters_by_path(Path="/shop/prod", WithDecryption=True),
    ):
        with pytest.raises(ClientError):
            refused()
    _, problems = fetched(SHOP)
    assert len(problems) == 3  # no value of the app is the publisher's to read


# --- the command ------------------------------------------------------------------------------


def ssmenv_iam(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SSMENV_"))}
    return subprocess.run([sys.executable, "-m", "ssmenv", "iam", *args], cwd=REPO,
                          env={**base, **env}, capture_output=True, text=True,
                          timeout=120)  # fmt: skip


def test_the_command_reads_the_inventory_as_a_deploy_and_asks_the_account_of_the_caller(
    stand_in, tmp_path
):
    inventory = tmp_path / "shop.py"
    inventory.write_text(f"_hosts = [('web-1', {SHOP!r}), ('web-2', {SHOP!r})]\n"
                         "example = _hosts\nshop = _hosts\n")  # fmt: skip
    printed = ssmenv_iam(str(inventory), "--json", "--data", "release_prefix=releases/shop",
                         env=stand_in.env)  # fmt: skip
    assert printed.returncode == 0, printed.stderr
    found = json.loads(printed.stdout)
    hosts = [("web-1", {**SHOP, "release_prefix": "releases/shop"})] * 2
    expected = iam.policies(hosts, ACCOUNT).as_json()
    expected["hosts"][0]["hosts"] = ["web-1", "web-2"]
    assert found == expected
    text = ssmenv_iam(str(inventory), "--account", "210987654321", env=stand_in.env)
    headers = [line for line in text.stdout.splitlines() if line.startswith("#")]
    assert headers == [
        f"# control machine: the push deploy of {inventory} (pyinfra INVENTORY deploy.py; plan, "
        "drift and the rotation read the same)",
        "# host role: pull of example-app on web-1, web-2",
        "# publish: the description and releases of example-app"]
    assert "arn:aws:ssm:us-east-1:210987654321:parameter/shop/prod" in text.stdout


def test_the_command_says_what_it_cannot_do_in_one_line(stand_in, tmp_path):
    missing = ssmenv_iam("inventories/nope.py", "--account", ACCOUNT, env=stand_in.env)
    assert (missing.returncode, missing.stderr) == (
        1, "ssmenv iam: error: no host: no inventory file inventories/nope.py\n")
    nowhere = ssmenv_iam("inventories/prod.py", env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9",
                                                      "AWS_ACCESS_KEY_ID": "FAKE",
                                                      "AWS_SECRET_ACCESS_KEY": "FAKE",
                                                      "AWS_MAX_ATTEMPTS": "1"})  # fmt: skip
    assert nowhere.returncode == 1
    assert nowhere.stderr.startswith("ssmenv iam: error: the account of the resources: STS "
                                     "GetCallerIdentity: ")  # fmt: skip
    assert nowhere.stderr.endswith("; give it with --account\n")
