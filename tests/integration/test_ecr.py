"""Amazon ECR's authorization token against the local stand-in (moto server), through the same
botocore client as the sources: asked for once per run whatever the number of hosts, turned into
the login of the registry the image names, and a refusal that names the call and the permission.

moto 5.2's answer: ``authorizationToken`` is base64 of ``AWS:<registry id>-auth-token`` (the
caller's account, 123456789012, when no registry is named), ``expiresAt`` 2015-01-01 (already
past: nothing here relies on the clock), ``proxyEndpoint``
``https://123456789012.dkr.ecr.<region>.amazonaws.com``.
"""

from __future__ import annotations

import base64
import json

import pytest

from lab import faults
from ssmenv import aws, ecr, sources
from ssmenv.config import AppConfig
from ssmenv.errors import SourceError
from ssmenv.facts import AppHostState
from ssmenv.plan import image

DIGEST = "sha256:" + "cd" * 32
LAB_IMAGE = f"127.0.0.1:5951/shop@{DIGEST}"
MOTO_PASSWORD = "123456789012-auth-token"


@pytest.fixture
def proxy(stand_in, monkeypatch):
    """The call-counting proxy between botocore and the stand-in, and a fresh run."""
    with faults.FaultProxy(stand_in.env["AWS_ENDPOINT_URL"]) as running:
        for key, value in {**stand_in.env, "AWS_ENDPOINT_URL": running.url}.items():
            monkeypatch.setenv(key, value)
        sources.clear_cache()
        yield running
        sources.clear_cache()


def test_the_token_is_the_stand_ins_login_for_user_aws(proxy):
    login = ecr.login("eu-west-1")
    assert (login.username, login.password) == ("AWS", MOTO_PASSWORD)
    assert login.endpoint == "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    assert login.expires_at is not None
    assert proxy.forwarded == {"GetAuthorizationToken": 1}


def test_the_run_asks_once_per_region_for_every_host(proxy):
    for _ in range(5):
        assert ecr.run_login("us-east-1").password == MOTO_PASSWORD
    ecr.run_login("eu-west-1")
    assert proxy.forwarded == {"GetAuthorizationToken": 2}
    assert aws.api_calls["GetAuthorizationToken"] == 2


def test_a_refused_token_names_the_call_and_the_permission_once_for_the_run(proxy):
    proxy.set_faults(faults.Fault(
        "GetAuthorizationToken", "AccessDeniedException",
        "User: arn:aws:sts::123456789012:assumed-role/deploy/ci is not authorized to perform: "
        "ecr:GetAuthorizationToken on resource: * because no identity-based policy allows the "
        "ecr:GetAuthorizationToken action",
    ))  # fmt: skip
    for _ in range(3):
        with pytest.raises(SourceError) as error:
            ecr.run_login("us-east-1")
    message = str(error.value)
    assert message.startswith("Amazon ECR login (us-east-1): GetAuthorizationToken: "
                              "AccessDeniedException: User: ")  # fmt: skip
    assert message.endswith("(the deploy needs ecr:GetAuthorizationToken)")
    # botocore retries nothing it is refused, and the run asks no more after a failure.
    assert proxy.injected == {"GetAuthorizationToken": 1}


def test_a_host_that_needs_the_image_pulls_with_the_token_for_the_registry_the_image_names(
    proxy,
):
    config = AppConfig.from_data({
        "ssm_path": "/a", "app_runtime": "container", "app_image": LAB_IMAGE,
        "container_registry_login": "ecr",
    })  # fmt: skip
    missing = AppHostState().process(["--engine--", "podman", "--image--"])
    present = AppHostState().process(["--engine--", "podman", "--image--", "present"])

    # The push driver's login: asked for once per run (the plan asks for it only to pull).
    assert image.app_image(config, present, {}, ecr.run_login) is None
    assert proxy.forwarded == {}  # nothing to pull: no token asked for
    pulls = [image.app_image(config, missing, {}, ecr.run_login) for _ in range(3)]

    token = base64.b64encode(f"AWS:{MOTO_PASSWORD}".encode()).decode()
    assert json.loads(pulls[0].auth) == {"auths": {"127.0.0.1:5951": {"auth": token}}}
    assert proxy.forwarded == {"GetAuthorizationToken": 1}
    assert MOTO_PASSWORD not in repr(pulls[0])
    # Masked in what the host says back, as any registry login is.
    assert {MOTO_PASSWORD, token, f"AWS:{MOTO_PASSWORD}"} <= set(pulls[0].secrets)
