"""An image pulled with an Amazon ECR token fetched in the run, end to end: the lab's registry
stands in for ECR's endpoint, asking for user ``AWS`` and the password the AWS stand-in's
``GetAuthorizationToken`` hands out (moto: base64 of ``AWS:123456789012-auth-token``), so a
pull works only with the token the deploy fetched. The deploy reaches the stand-in through the
call-counting proxy: one token for every host of the run, none when nothing is pulled, and a
refusal stops the deploy before any host changes.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

from lab import faults, images, registry
from tests.e2e.conftest import (
    BLOCKS,
    Deployer,
    Host,
    aws_env,
    booted,
    registry_login,
    write_inventory,
)

pytestmark = pytest.mark.usefixtures("container_tools")

APP = "example-app"
UNIT = f"{APP}.service"
PATH = "/e2e/containers-ecr"
VALUES = {
    f"{PATH}/DATABASE_URL": "postgres://FAKE-ecr@db/app",
    f"{PATH}/API_KEY": "FAKE-ecr-api-key",
    f"{PATH}/SESSION_SECRET": "FAKE-ecr-session",
}
DENIED = faults.Fault(
    "GetAuthorizationToken", "AccessDeniedException",
    "User: arn:aws:sts::123456789012:assumed-role/deploy/ci is not authorized to perform: "
    "ecr:GetAuthorizationToken on resource: * because no identity-based policy allows the "
    "ecr:GetAuthorizationToken action",
)  # fmt: skip


@pytest.fixture(scope="module")
def token(stand_in) -> tuple[str, str]:
    """What the stand-in's ECR hands out, as the registry must be set up to accept it: the user
    and the password of its ``authorizationToken``."""
    answer = stand_in.client("ecr").get_authorization_token()["authorizationData"][0]
    user, _, password = base64.b64decode(answer["authorizationToken"]).decode().partition(":")
    assert user == "AWS" and password
    return user, password


@pytest.fixture(scope="module")
def lab_registry(token) -> Iterator[registry.Registry]:
    port = BLOCKS["ecr"].server_port
    running = registry.up(port, *token)
    try:
        yield running
    finally:
        registry.down(port)


@pytest.fixture(scope="module")
def pushed(lab_registry, token, tmp_path_factory) -> dict[str, str]:
    authfile = registry_login(tmp_path_factory.mktemp("registry"), lab_registry.address, *token)
    return {tag: images.build(lab_registry.address, f"shop:{tag}", authfile=authfile)
            for tag in ("v1", "v2")}  # fmt: skip


@pytest.fixture(scope="module")
def hosts() -> Iterator[list[Host]]:
    with booted(BLOCKS["ecr"], 2, kind="container") as up:
        yield up


@pytest.fixture(scope="module")
def proxy(stand_in) -> Iterator[faults.FaultProxy]:
    with faults.FaultProxy(stand_in.env["AWS_ENDPOINT_URL"]) as running:
        yield running


@pytest.fixture(scope="module")
def deployer(hosts, stand_in, proxy, tmp_path_factory) -> Deployer:
    """The deploy of these hosts, talking to AWS through the counting proxy."""
    stand_in.put(VALUES)
    path = write_inventory(tmp_path_factory.mktemp("inventory") / "e.py", "containers", hosts)
    return Deployer(path, {**aws_env(stand_in), "AWS_ENDPOINT_URL": proxy.url})


def settings(image: str, **more) -> dict:
    # The image names the lab's registry; the setting says its password is ECR's token.
    return {"app_runtime": "container", "app_image": image, "ssm_path": PATH,
            "container_registry_login": "ecr", **more}  # fmt: skip


def running_digest(host: Host) -> str:
    out = host.run(f"sudo podman container inspect --format '{{{{.ImageDigest}}}}' {APP} 2>&1",
                   check=False)  # fmt: skip
    return out.strip()


def has_image(host: Host, reference: str) -> bool:
    return host.run(f"sudo podman image exists {reference} && echo yes", check=False) == "yes\n"


@pytest.fixture(scope="module")
def deployed(deployer, proxy, pushed, hosts):
    proxy.reset_counts()
    result = deployer.run("--debug", "-vvv", data=settings(pushed["v1"]))
    assert result.returncode == 0, result.output[-4000:]
    return result, proxy.forwarded.copy()


def test_the_registry_refuses_a_pull_without_the_token(deployer, pushed, hosts, proxy):
    # The stand-in for ECR's endpoint really asks for a login: without one, no host pulls.
    proxy.reset_counts()
    result = deployer.run(data={**settings(pushed["v1"]), "container_registry_login": None})
    assert result.returncode != 0
    assert "could not pull" in result.output and "authentication required" in result.output
    assert proxy.forwarded["GetAuthorizationToken"] == 0
    for host in hosts:
        assert not has_image(host, pushed["v1"])


def test_a_refused_token_stops_the_deploy_before_any_host_changes(
    deployer, pushed, hosts, proxy
):
    look = f"sudo ls -a /run/ssmenv /etc/systemd/system /etc/{APP}.env 2>&1; getent passwd {APP}"
    before = {h.name: h.run(look, check=False) for h in hosts}
    proxy.set_faults(DENIED)
    try:
        result = deployer.run(data=settings(pushed["v1"]))
        injected = proxy.injected.copy()
    finally:
        proxy.set_faults()
    assert result.returncode != 0
    assert ("Amazon ECR login (us-east-1): GetAuthorizationToken: AccessDeniedException"
            in result.output)  # fmt: skip
    assert "(the deploy needs ecr:GetAuthorizationToken)" in result.output
    # Asked once for the run, not once per host.
    assert injected == {"GetAuthorizationToken": 1}
    for host in hosts:
        assert host.run(look, check=False) == before[host.name]
        assert not has_image(host, pushed["v1"])


def test_every_host_pulls_with_one_token_fetched_in_the_run(deployed, hosts, pushed, token):
    result, calls = deployed
    assert calls["GetAuthorizationToken"] == 1
    password = token[1]
    wire = base64.b64encode(f"AWS:{password}".encode()).decode()
    assert password not in result.output and wire not in result.output
    for host in hosts:
        assert running_digest(host) == pushed["v1"].rsplit("@", 1)[1]
        assert host.get("/healthz") == b"ok\n"
        # The patterns go over stdin: on grep's command line, sudo would log them to the journal
        # this searches.
        left = host.run("sudo grep -rlF -D skip -f /dev/stdin /etc /run /root /var/lib/containers "
                        "/home 2>/dev/null || true", stdin=f"{password}\n{wire}\n")  # fmt: skip
        assert left.strip() == "", f"{host.name}: the token is left in {left}"
        assert not [n for n in host.run("sudo ls /run/ssmenv").split() if n.startswith("pull.")]


def test_a_redeploy_with_the_image_on_every_host_asks_for_no_token(
    deployed, deployer, proxy, pushed
):
    proxy.reset_counts()
    result = deployer.run(data=settings(pushed["v1"]))
    assert result.returncode == 0, result.output[-3000:]
    assert "pull image" not in result.output
    assert proxy.forwarded["GetAuthorizationToken"] == 0


def test_a_new_image_is_pulled_with_a_fresh_token_of_the_new_run(
    deployed, deployer, proxy, pushed, hosts
):
    proxy.reset_counts()
    result = deployer.run(data=settings(pushed["v2"]))
    assert result.returncode == 0, result.output[-3000:]
    assert proxy.forwarded["GetAuthorizationToken"] == 1
    for host in hosts:
        assert running_digest(host) == pushed["v2"].rsplit("@", 1)[1]
