"""Amazon ECR logins: which images use one, where the token is asked for, and how its answer
becomes a registry login that never shows the password."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from ssmenv import ecr
from ssmenv.config import AppConfig
from ssmenv.errors import ConfigError, SourceError

DIGEST = "sha256:" + "ab" * 32
IN_ECR = f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop:v1@{DIGEST}"
ELSEWHERE = f"127.0.0.1:5951/shop@{DIGEST}"


@pytest.mark.parametrize(("host", "region"), [
    ("123456789012.dkr.ecr.eu-west-1.amazonaws.com", "eu-west-1"),
    ("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com", "us-gov-west-1"),
    ("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", "cn-north-1"),
    ("123456789012.dkr-ecr.ap-south-2.on.aws", "ap-south-2"),
    ("public.ecr.aws", None),
    ("12345.dkr.ecr.eu-west-1.amazonaws.com", None),
    ("123456789012.dkr.ecr.eu-west-1.amazonaws.com.evil.example", None),
    ("registry.example.com", None),
])  # fmt: skip
def test_an_ecr_registry_is_known_by_its_host_which_names_its_region(host, region):
    assert ecr.region_of(host) == region


def container(**data):
    return AppConfig.from_data({"ssm_path": "/a", "app_runtime": "container", **data}).container


def test_an_image_in_ecr_logs_in_with_a_token_from_its_own_region_with_nothing_to_set():
    found = container(app_image=IN_ECR, aws_region="us-east-1")
    assert (found.login, found.region) == ("ecr", "eu-west-1")


def test_any_registry_can_be_told_to_take_ecrs_token_asked_for_in_aws_region():
    found = container(app_image=ELSEWHERE, container_registry_login="ecr", aws_region="eu-north-1")
    assert (found.login, found.region, found.username) == ("ecr", "eu-north-1", None)
    assert container(app_image=ELSEWHERE, container_registry_login="ecr").region == "us-east-1"


def test_a_user_and_password_log_in_with_them_even_in_ecr_and_nothing_logs_in_elsewhere():
    found = container(app_image=IN_ECR, container_registry_username="ci",
                      container_registry_password="PW")  # fmt: skip
    assert (found.login, found.region) == ("password", None)
    assert container(app_image=ELSEWHERE).login is None


@pytest.mark.parametrize(("data", "line"), [
    ({"container_registry_login": "ecr", "container_registry_username": "ci",
      "container_registry_password": "PW"}, "container_registry_login: ecr logs in as AWS"),
    ({"container_registry_login": "password"},
     "container_registry_login: password needs container_registry_username"),
    ({"container_registry_login": "token"},
     "container_registry_login: Input should be 'password' or 'ecr'"),
    ({"container_user": "root"}, "container_user: Input should be 'app' or 'image'"),
])  # fmt: skip
def test_a_login_that_cannot_work_is_refused_before_any_host_is_touched(data, line):
    with pytest.raises(ConfigError, match=line):
        container(app_image=ELSEWHERE, **data)


def test_the_image_settings_are_refused_for_an_app_without_an_image():
    with pytest.raises(ConfigError) as error:
        AppConfig.from_data({"ssm_path": "/a", "container_registry_login": "ecr",
                             "container_user": "image"})  # fmt: skip
    assert 'container_registry_login: only with app_runtime "container"' in str(error.value)
    assert 'container_user: only with app_runtime "container"' in str(error.value)


def answer(token: str | None) -> dict:
    return {"authorizationData": [{
        "authorizationToken": token, "expiresAt": datetime(2030, 1, 1, tzinfo=UTC),
        "proxyEndpoint": "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com",
    }]}  # fmt: skip


def test_the_token_is_base64_of_aws_and_the_password_which_its_repr_never_shows():
    token = base64.b64encode(b"AWS:FAKE-ecr-password:with-colon").decode()
    login = ecr._login(answer(token), "here")
    assert (login.username, login.password) == ("AWS", "FAKE-ecr-password:with-colon")
    assert login.endpoint == "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    assert "FAKE-ecr" not in repr(login)


@pytest.mark.parametrize("token", [None, "", "not base64!", base64.b64encode(b"AWS").decode(),
                                   base64.b64encode(b"AWS:").decode()])  # fmt: skip
def test_an_answer_without_a_usable_token_is_an_error_that_quotes_none_of_it(token):
    with pytest.raises(SourceError) as error:
        ecr._login(answer(token), "here")
    assert str(error.value) == "here: the answer holds no token of the form user:password"
    with pytest.raises(SourceError, match="holds no token"):
        ecr._login({"authorizationData": []}, "here")
