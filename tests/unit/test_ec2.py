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
