"""Choosing between an inventory's static list and EC2 discovery (no AWS call involved)."""

import pytest

from ssmenv import ec2
from ssmenv.errors import SourceError

STATIC = ["app-1.example.internal", ("app-2.example.internal", {"app_port": 3001})]


@pytest.mark.parametrize("environ", [{}, {"SSMENV_INVENTORY": ""}, {"SSMENV_INVENTORY": "static"}])
def test_the_static_list_is_the_default(environ):
    assert ec2.hosts(STATIC, {"Role": "web"}, environ) == STATIC


def test_an_unknown_inventory_source_is_refused():
    with pytest.raises(SourceError, match="SSMENV_INVENTORY must be static or ec2, not 'EC2'"):
        ec2.hosts(STATIC, {"Role": "web"}, {"SSMENV_INVENTORY": "EC2"})


def test_an_unknown_address_kind_is_refused_before_asking_aws():
    environ = {"SSMENV_INVENTORY": "ec2", "SSMENV_EC2_ADDRESS": "ipv6"}
    with pytest.raises(SourceError, match="EC2 address must be one of private, public, not 'ipv6'"):
        ec2.hosts(STATIC, {"Role": "web"}, environ)


def test_discovery_without_tags_is_refused_rather_than_listing_every_instance():
    with pytest.raises(SourceError, match="at least one tag"):
        ec2.discover({}, "us-east-1")


INSTANCE_ID = "i-0123456789abcdef0"


def instance(name: str | None) -> dict:
    tags = [] if name is None else [{"Key": "Name", "Value": name}]
    return {"InstanceId": INSTANCE_ID, "Tags": [{"Key": "Role", "Value": "web"}, *tags]}


@pytest.mark.parametrize("name", ["web-1", "app-1.prod.example.internal", "W_2", "1web"])
def test_a_name_tag_that_is_a_host_name_names_the_host(name):
    assert ec2.host_name(instance(name)) == name


@pytest.mark.parametrize("name", [None, ""])
def test_an_instance_without_a_name_is_named_by_its_id(name, caplog):
    assert ec2.host_name(instance(name)) == INSTANCE_ID
    assert caplog.records == []


@pytest.mark.parametrize(
    "name",
    [
        "web-1\n--> forged",
        "web-1;reboot",
        "web 1",
        "@local",
        "-web",
        ".web",
        "web/1",
        "wéb",
        "w" * 129,
        "i-0fedcba9876543210",
        "web-i-0fedcba9876543210",
    ],
)
def test_a_name_tag_that_is_not_a_host_name_is_said_escaped_and_the_id_named(name, caplog):
    assert ec2.host_name(instance(name)) == INSTANCE_ID
    [record] = caplog.records
    message = record.getMessage()
    assert message.startswith(f"EC2 {INSTANCE_ID}: its Name tag '")
    assert message.isprintable() and message.isascii()


@pytest.mark.parametrize(
    ("keyword", "value"),
    [
        ("vpc", "vpc-*"),
        ("vpc", "prod-vpc"),
        ("subnet", ["subnet-0123456789abcdef0", "subnet-?"]),
        ("instance_profile", "example-app-prod"),  # a name: the ARN pins the account too
        ("account", "12345"),
        ("account", []),
    ],
)
def test_a_requirement_must_be_exact_ids_refused_before_asking_aws(keyword, value):
    environ = {"SSMENV_INVENTORY": "ec2", "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
    with pytest.raises(SourceError, match=f"EC2 discovery: {keyword} must be one or more exact"):
        ec2.hosts(STATIC, {"Role": "web"}, environ, **{keyword: value})
