"""EC2 discovery against the stand-in's EC2 (moto server), through boto3's standard
configuration, and the repository's inventory files loading it under the real ``pyinfra`` CLI.

The stand-in lives for the whole session, so each test tags its instances with a ``Suite`` tag
of its own and filters on it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from lab import aws
from lab.ports import free_port
from ssmenv import ec2
from ssmenv.errors import SourceError

REPO = Path(__file__).resolve().parents[2]
PYINFRA = Path(sys.executable).with_name("pyinfra")
AMI = "ami-12c6146b"  # one of moto's default images
REGION = "us-east-1"


class Fleet:
    """Instances launched in the stand-in, tagged with one ``Suite`` value."""

    def __init__(self, endpoint: str, region: str = REGION):
        self.client = aws.client("ec2", endpoint, region)
        self.suite = uuid.uuid4().hex
        self.tags = {"Suite": self.suite}

    def launch(
        self,
        count: int = 1,
        public: bool = True,
        subnet: str | None = None,
        profile: str | None = None,
        **tags: str,
    ) -> list[dict]:
        """``count`` instances in one reservation, with ``tags`` (``Name=...`` included), in
        ``subnet`` (default: the default VPC's) with the instance profile ``profile`` (an ARN)."""
        interface: dict = {"DeviceIndex": 0, "AssociatePublicIpAddress": public}
        if subnet:
            interface["SubnetId"] = subnet
        answer = self.client.run_instances(
            ImageId=AMI,
            MinCount=count,
            MaxCount=count,
            NetworkInterfaces=[interface],
            **({"IamInstanceProfile": {"Arn": profile}} if profile else {}),
            TagSpecifications=[
                {
                    "ResourceType": "instance",
                    "Tags": [{"Key": k, "Value": v} for k, v in {**self.tags, **tags}.items()],
                }
            ],
        )
        return answer["Instances"]

    def vpc(self, subnets: int = 1) -> tuple[str, list[str]]:
        """A new VPC and ``subnets`` subnets in it: (VPC id, subnet ids)."""
        vpc = self.client.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
        return vpc, [
            self.client.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{n}.0/24")["Subnet"]["SubnetId"]
            for n in range(subnets)
        ]

    def instance_profile(self, name: str | None = None) -> str:
        """The ARN of an instance profile (created unless it exists) with a role in it."""
        iam = aws.client("iam", self.client.meta.endpoint_url, self.client.meta.region_name)
        name = name or f"profile-{uuid.uuid4().hex[:8]}"
        try:
            return iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Arn"]
        except iam.exceptions.NoSuchEntityException:
            pass
        iam.create_role(RoleName=name, AssumeRolePolicyDocument="{}")
        arn = iam.create_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Arn"]
        iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
        return arn

    def address(self, instance_id: str, kind: str = "PrivateIpAddress") -> str:
        found = self.client.describe_instances(InstanceIds=[instance_id])
        return found["Reservations"][0]["Instances"][0][kind]


@pytest.fixture
def fleet(aws_env) -> Fleet:
    return Fleet(aws_env.env["AWS_ENDPOINT_URL"])


def names(entries: list[ec2.Entry]) -> list[str]:
    return [name for name, _ in entries]


def test_discovery_follows_every_page(fleet):
    launched = [i for n in range(10) for i in fleet.launch(Name=f"web-{n:02d}")]
    launched += fleet.launch(count=3)  # one reservation holding several instances
    # At 5 per request the 11 reservations come back in 3 pages: the first one says there is more.
    first = fleet.client.describe_instances(
        Filters=[{"Name": "tag:Suite", "Values": [fleet.suite]}], MaxResults=5
    )
    assert first.get("NextToken")
    found = ec2.discover(fleet.tags, REGION, page_size=5)
    assert sorted(data["ec2_instance_id"] for _, data in found) == sorted(
        i["InstanceId"] for i in launched
    )


def test_stopped_and_terminated_instances_are_left_out(fleet):
    running, stopped, terminated = (fleet.launch(Name=n)[0]["InstanceId"] for n in "abc")
    fleet.client.stop_instances(InstanceIds=[stopped])
    fleet.client.terminate_instances(InstanceIds=[terminated])
    found = ec2.discover(fleet.tags, REGION)
    assert [(name, data["ec2_instance_id"]) for name, data in found] == [("a", running)]


def test_an_instance_must_carry_every_tag_asked_for(fleet):
    fleet.launch(Name="web-1", Role="web", Environment="prod")
    fleet.launch(Name="web-2", Role="web", Environment="staging")
    fleet.launch(Name="worker-1", Role="worker", Environment="prod")
    fleet.launch(Name="untagged")
    assert names(ec2.discover({**fleet.tags, "Role": "web", "Environment": "prod"}, REGION)) == [
        "web-1"
    ]
    assert names(ec2.discover({**fleet.tags, "Role": "web"}, REGION)) == ["web-1", "web-2"]
    assert names(ec2.discover({**fleet.tags, "Role": ["web", "worker"]}, REGION)) == [
        "web-1",
        "web-2",
        "worker-1",
    ]


def test_hosts_are_named_by_their_name_tag_unique_and_never_a_connector(fleet):
    named = fleet.launch(Name="web-1")[0]["InstanceId"]
    unnamed = fleet.launch()[0]["InstanceId"]
    twins = [i["InstanceId"] for i in fleet.launch(count=2, Name="web-twin")]
    connector = fleet.launch(Name="@local")[0]["InstanceId"]
    found = dict(ec2.discover(fleet.tags, REGION))
    assert sorted(found) == sorted(["web-1", unnamed, *(f"web-twin-{i}" for i in twins), connector])
    assert found["web-1"]["ec2_instance_id"] == named
    assert found["web-1"]["ec2_tags"] == {**fleet.tags, "Name": "web-1"}
    assert found["web-1"]["ec2_az"].startswith(REGION)


# --- tags are not proof: what else an inventory can require ------------------------------------
# Anyone allowed to tag an instance can tag one of theirs Environment=prod: it would receive
# production's secrets. An inventory also requires what only its own instances have.


def test_an_instance_tagged_alike_in_another_vpc_is_not_discovered(fleet):
    (ours, [subnet]), (_, [elsewhere]) = fleet.vpc(), fleet.vpc()
    fleet.launch(Name="web-1", subnet=subnet)
    fleet.launch(Name="web-intruder", subnet=elsewhere)
    fleet.launch(Name="web-default-vpc")
    assert names(ec2.discover(fleet.tags, REGION)) == ["web-1", "web-default-vpc", "web-intruder"]
    assert names(ec2.discover(fleet.tags, REGION, vpc=ours)) == ["web-1"]


def test_an_instance_tagged_alike_in_another_subnet_is_not_discovered(fleet):
    _, [private, public] = fleet.vpc(subnets=2)
    fleet.launch(Name="web-1", subnet=private)
    fleet.launch(Name="web-intruder", subnet=public)
    assert names(ec2.discover(fleet.tags, REGION, subnet=private)) == ["web-1"]
    assert names(ec2.discover(fleet.tags, REGION, subnet=[private, public])) == [
        "web-1",
        "web-intruder",
    ]


def test_an_instance_tagged_alike_without_the_instance_profile_is_not_discovered(fleet):
    profile, other = fleet.instance_profile(), fleet.instance_profile()
    fleet.launch(Name="web-1", profile=profile)
    fleet.launch(Name="web-intruder")
    fleet.launch(Name="web-other-role", profile=other)
    assert names(ec2.discover(fleet.tags, REGION, instance_profile=profile)) == ["web-1"]


def test_only_the_required_accounts_instances_are_discovered(fleet):
    fleet.launch(Name="web-1")
    assert names(ec2.discover(fleet.tags, REGION, account="123456789012")) == ["web-1"]
    with pytest.raises(SourceError) as error:
        ec2.discover(fleet.tags, REGION, account="111122223333")
    assert str(error.value) == (
        f"EC2 ({REGION}): no running instance is tagged Suite={fleet.suite} in account 111122223333"
    )


# --- a Name tag is not a host name until checked -------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "web-1\n--> pyinfra error: forged line",  # a newline forges output lines
        "web-1;reboot",
        "web 1",
        "web-1\tweb-2",
        "web-\u202e1-bew",  # right-to-left override: shows as another name
        "@local",  # pyinfra reads it as a connector: the deploy would run on this machine
        "w" * 129,
        "web-i-0123456789abcdef0",  # imitates the names discovery makes for twins
        "i-0123456789abcdef0",  # imitates an instance id
        "",
    ],
)
def test_a_name_tag_that_is_not_a_host_name_gives_way_to_the_instance_id(fleet, name):
    instance = fleet.launch(Name=name)[0]["InstanceId"]
    fleet.launch(Name="web-2")
    assert names(ec2.discover(fleet.tags, REGION)) == sorted([instance, "web-2"])


def test_hosts_are_reached_at_their_private_or_public_address(fleet):
    instance = fleet.launch(Name="web-1", public=True)[0]["InstanceId"]
    private = fleet.address(instance, "PrivateIpAddress")
    public = fleet.address(instance, "PublicIpAddress")
    assert private != public
    [(_, data)] = ec2.discover(fleet.tags, REGION)
    assert (data["ssh_hostname"], data["ec2_public_ip"]) == (private, public)
    [(_, data)] = ec2.discover(fleet.tags, REGION, address="public")
    assert (data["ssh_hostname"], data["ec2_private_ip"]) == (public, private)


def test_asking_for_public_addresses_of_private_instances_names_them(fleet):
    fleet.launch(Name="web-1", public=True)
    hidden = fleet.launch(Name="web-2", public=False)[0]["InstanceId"]
    with pytest.raises(SourceError) as error:
        ec2.discover(fleet.tags, REGION, address="public")
    assert str(error.value) == f"EC2 ({REGION}): instances without a public address: {hidden}"


def test_no_matching_instance_is_an_error_naming_the_tags(fleet):
    with pytest.raises(SourceError) as error:
        ec2.discover({**fleet.tags, "Role": "web"}, REGION)
    assert str(error.value) == (
        f"EC2 ({REGION}): no running instance is tagged Suite={fleet.suite}, Role=web"
    )


def test_an_unreachable_endpoint_is_one_clear_error(unreachable_aws):
    with pytest.raises(SourceError) as error:
        ec2.discover({"Role": "web"}, REGION)
    assert str(error.value) == (
        f'EC2 instances tagged Role=web ({REGION}): Could not connect to the endpoint URL: "'
        'http://127.0.0.1:9/"'
    )


def test_no_credentials_is_one_clear_error(aws_env, monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(SourceError) as error:
        ec2.discover({"Role": "web"}, REGION)
    assert str(error.value) == (
        f"EC2 instances tagged Role=web ({REGION}): Unable to locate credentials"
    )


@pytest.fixture
def enforcing_stand_in(tmp_path, monkeypatch):
    """A second moto server that checks IAM permissions after its first two requests."""
    monkeypatch.setenv("INITIAL_NO_AUTH_ACTION_COUNT", "2")
    port = free_port()
    proc = aws.start(port, tmp_path / "moto.log")
    monkeypatch.delenv("INITIAL_NO_AUTH_ACTION_COUNT")
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)


def test_access_denied_is_one_clear_error(enforcing_stand_in, monkeypatch):
    iam = aws.client("iam", enforcing_stand_in)
    iam.create_user(UserName="no-permissions")
    key = iam.create_access_key(UserName="no-permissions")["AccessKey"]
    monkeypatch.setenv("AWS_ENDPOINT_URL", enforcing_stand_in)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    with pytest.raises(SourceError) as error:
        ec2.discover({"Role": "web"}, REGION)
    assert str(error.value) == (
        f"EC2 instances tagged Role=web ({REGION}): AccessDenied: User: "
        "arn:aws:iam::123456789012:user/no-permissions is not authorized to perform: "
        "ec2:DescribeInstances"
    )
    assert key["SecretAccessKey"] not in str(error.value)


# --- the repository's inventory files under the real CLI ----------------------------------------


def pyinfra_inventory(inventory: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SSMENV_", "AWS_"))}
    return subprocess.run(
        [str(PYINFRA), inventory, "debug-inventory", "--json"],
        cwd=REPO,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


# What inventories/prod.py requires besides its tags: the account and the instance profile that
# production's instances are launched with (the stand-in's account is 123456789012).
PROD_PROFILE = "example-app-prod"


def test_prod_inventory_lists_the_running_web_instances_tagged_prod(stand_in):
    # A region no other test uses: the inventory's own tags are the only filter.
    region = "ap-southeast-2"
    fleet = Fleet(stand_in.env["AWS_ENDPOINT_URL"], region)
    prod = {"Environment": "prod", "Role": "web", "profile": fleet.instance_profile(PROD_PROFILE)}
    web = [fleet.launch(Name=f"web-{n}", **prod)[0] for n in (1, 2, 3)]
    fleet.client.stop_instances(InstanceIds=[web[2]["InstanceId"]])
    fleet.launch(Name="worker-1", Environment="prod", Role="worker")
    fleet.launch(Name="web-staging", Environment="staging", Role="web")

    result = pyinfra_inventory(
        "inventories/prod.py",
        {**stand_in.env, "SSMENV_INVENTORY": "ec2", "SSMENV_EC2_REGION": region},
    )
    assert result.returncode == 0, result.stderr
    hosts = {host["name"]: host for host in json.loads(result.stdout)}
    assert sorted(hosts) == ["web-1", "web-2"]
    for instance in web[:2]:
        host = hosts[_name(instance)]
        assert host["groups"] == ["example", "prod", "web"]
        assert host["data"]["ssh_hostname"] == fleet.address(instance["InstanceId"])
        assert host["data"]["ec2_instance_id"] == instance["InstanceId"]
        assert host["data"]["ssm_path"] == "/example-app/prod"  # group_data/prod.py
        assert host["data"]["ssh_user"] == "admin"


def test_prod_inventory_leaves_out_an_instance_tagged_prod_without_the_instance_profile(
    stand_in,
):
    region = "ap-northeast-3"  # a region of its own: only this test's instances are in it
    fleet = Fleet(stand_in.env["AWS_ENDPOINT_URL"], region)
    profile = fleet.instance_profile(PROD_PROFILE)
    fleet.launch(Name="web-1", Environment="prod", Role="web", profile=profile)
    # Anyone allowed ec2:CreateTags can do this; attaching the profile needs iam:PassRole.
    fleet.launch(Name="web-intruder", Environment="prod", Role="web")
    fleet.launch(
        Name="web-other-role", Environment="prod", Role="web", profile=fleet.instance_profile()
    )
    result = pyinfra_inventory(
        "inventories/prod.py",
        {**stand_in.env, "SSMENV_INVENTORY": "ec2", "SSMENV_EC2_REGION": region},
    )
    assert result.returncode == 0, result.stderr
    assert [host["name"] for host in json.loads(result.stdout)] == ["web-1"]


def test_prod_inventory_names_a_host_whose_name_tag_forges_output_by_its_instance_id(stand_in):
    region = "eu-south-2"  # a region of its own: only this test's instances are in it
    fleet = Fleet(stand_in.env["AWS_ENDPOINT_URL"], region)
    prod = {"Environment": "prod", "Role": "web", "profile": fleet.instance_profile(PROD_PROFILE)}
    forged = "web-2\n--> pyinfra error: FORGED line; rm -rf /"
    instance = fleet.launch(Name=forged, **prod)[0]["InstanceId"]
    fleet.launch(Name="web-1", **prod)
    result = pyinfra_inventory(
        "inventories/prod.py",
        {**stand_in.env, "SSMENV_INVENTORY": "ec2", "SSMENV_EC2_REGION": region},
    )
    assert result.returncode == 0, result.stderr
    assert sorted(host["name"] for host in json.loads(result.stdout)) == [instance, "web-1"]
    # Said in one line, the tag escaped: no line of the output begins with the forged one.
    assert not any(
        line.startswith("--> pyinfra error: FORGED") for line in result.stderr.splitlines()
    )
    assert f"EC2 {instance}: its Name tag 'web-2\\n--> pyinfra error: FORGED" in result.stderr


def _name(instance: dict) -> str:
    return next(t["Value"] for t in instance["Tags"] if t["Key"] == "Name")


def test_prod_inventory_stops_with_one_line_when_aws_cannot_be_asked():
    result = pyinfra_inventory(
        "inventories/prod.py",
        {
            "SSMENV_INVENTORY": "ec2",
            "SSMENV_EC2_REGION": REGION,
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
            "AWS_ACCESS_KEY_ID": "FAKE",
            "AWS_SECRET_ACCESS_KEY": "FAKE-secret-access-key",
            "AWS_MAX_ATTEMPTS": "1",
        },
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .endswith(
            f"EC2 instances tagged Environment=prod, Role=web ({REGION}): "
            'Could not connect to the endpoint URL: "http://127.0.0.1:9/"'
        )
    )
    assert "FAKE-secret-access-key" not in result.stderr


def test_staging_inventory_is_its_static_list_unless_ec2_is_asked_for():
    result = pyinfra_inventory("inventories/staging.py", {})
    assert result.returncode == 0, result.stderr
    hosts = json.loads(result.stdout)
    assert [(h["name"], h["groups"]) for h in hosts] == [
        ("app-1.staging.example.internal", ["example", "staging", "web"])
    ]
