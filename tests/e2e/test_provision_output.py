"""What the provisioning command says back is masked before it is printed, as the activation's
is: a registry that repeats the login it was sent in its error (the canary, the image pull's
password, kept in SSM) fails the deploy, and the output says why without the password in any
form, at any verbosity.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import StandIn
from tests.e2e.conftest import BLOCKS, Deployer, Host, aws_env, booted, write_inventory

PATH = "/e2e/provision-output"
USER = "ci"
CANARY = f"FAKE-CANARY-registry-{secrets.token_hex(6)}"
TOKEN = base64.b64encode(f"{USER}:{CANARY}".encode()).decode()
IMAGE = "shop@sha256:" + "5e" * 32


class Echoing(BaseHTTPRequestHandler):
    """A registry that wants a login, then refuses every manifest, repeating the login it got
    in its error message: the host says the secret back."""

    def do_GET(self) -> None:
        login = self.headers.get("Authorization", "")
        if not login.startswith("Basic "):
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="echo"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path == "/v2/":
            self.answer(200, {})
            return
        said = base64.b64decode(login.removeprefix("Basic ")).decode()
        self.answer(403, {"errors": [{"code": "DENIED", "message": f"login {said} refused"}]})

    def answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Docker-Distribution-API-Version", "registry/2.0")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def registry() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echoing)  # bound at once
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def host() -> Iterator[Host]:
    with booted(BLOCKS["provision-output"], 1, kind="container") as up:
        yield up[0]


@pytest.fixture(scope="module")
def deployer(host, stand_in: StandIn, tmp_path_factory) -> Deployer:
    stand_in.put({
        f"{PATH}/DATABASE_URL": "postgres://app:FAKE-output@db.internal:5432/app",
        f"{PATH}/API_KEY": "FAKE-output-key",
        f"{PATH}/SESSION_SECRET": "FAKE-output-session",
        f"{PATH}/REGISTRY_PASSWORD": CANARY,
    })  # fmt: skip
    path = write_inventory(tmp_path_factory.mktemp("output") / "o.py", "containers", [host])
    return Deployer(path, aws_env(stand_in))


@pytest.mark.parametrize("mode", [[], ["-v"], ["-vvv"]], ids=lambda m: " ".join(m) or "default")
def test_a_failed_pull_whose_registry_repeats_the_login_prints_no_part_of_it(
    host, deployer, registry, mode
):
    data = {"app_runtime": "container", "app_image": f"{registry}/{IMAGE}", "ssm_path": PATH,
            "container_registry_username": USER,
            "container_registry_password": "REGISTRY_PASSWORD"}  # fmt: skip

    result = deployer.run(*mode, data=data)

    assert result.returncode != 0
    for form in (CANARY, TOKEN, CANARY.removeprefix("FAKE-CANARY-")):
        assert form not in result.output
    assert "could not pull" in result.output and "login *** refused" in result.output, (
        result.output[-3000:])  # fmt: skip
