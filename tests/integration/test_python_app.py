"""The example app's Python twin behaves as the Node app: both are started here as local
processes with a fake environment and held to the same contract (the Node one where Node is
installed)."""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import npm
from lab.ports import free_port

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NODE = shutil.which("node")
APPS = {
    "python": [sys.executable, str(EXAMPLES / "python-app" / "server.py")],
    "node": [],  # the node_app fixture's copy: its dependencies installed
}
FAKE = {
    "DATABASE_URL": "postgres://app:FAKE-password@db.internal/app",
    "API_KEY": "FAKE-api-key",
    "SESSION_SECRET": "FAKE-session 'secret' with $pecial \"chars\"",
    # Locale set, so Python's locale coercion adds no variable of its own.
    "LC_ALL": "C.UTF-8",
}


@pytest.fixture(scope="module")
def node_app(tmp_path_factory) -> Path:
    """The node app as a checkout runs it after ``npm ci``: its dependencies installed."""
    return npm.installed_copy(EXAMPLES / "app", tmp_path_factory.mktemp("node") / "app")


@pytest.fixture(params=sorted(APPS))
def app(request) -> list[str]:
    if request.param == "node":
        if not NODE:
            pytest.skip("node is not installed: only the Python twin is checked")
        return [NODE, str(request.getfixturevalue("node_app") / "server.js")]
    return APPS[request.param]


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=20)


class Running:
    """The app serving on a free port of 127.0.0.1."""

    def __init__(self, command: list[str], env: dict[str, str]):
        self.env = {**env, "PORT": str(free_port())}
        self.proc = subprocess.Popen(
            command, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        line = self.proc.stdout.readline()  # written once the socket listens
        assert line == f"listening on port {self.env['PORT']}\n", self.proc.stderr.read()

    def get(self, path: str) -> tuple[int, str, str]:
        url = f"http://127.0.0.1:{self.env['PORT']}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                return answer.status, answer.headers["content-type"], answer.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers["content-type"], e.read().decode()

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=10)


@pytest.fixture
def running(app) -> Iterator[Running]:
    server = Running(app, FAKE)
    yield server
    if server.proc.poll() is None:
        server.proc.kill()
        server.proc.wait()


@pytest.mark.parametrize(
    ("unset", "empty", "named"),
    [
        (
            ["PORT", "DATABASE_URL", "API_KEY", "SESSION_SECRET"],
            [],
            "PORT, DATABASE_URL, API_KEY, SESSION_SECRET",
        ),
        (["API_KEY"], ["SESSION_SECRET"], "API_KEY, SESSION_SECRET"),
    ],
)
def test_missing_required_variables_stop_the_app_with_status_78_naming_each(
    app, unset, empty, named
):
    env = {**FAKE, "PORT": "3000"}
    for name in unset:
        env.pop(name, None)
    env.update(dict.fromkeys(empty, ""))
    result = run(app, env)
    assert result.returncode == 78
    assert result.stderr.strip() == f"missing required environment variables: {named}"
    for value in FAKE.values():
        assert value not in result.stderr + result.stdout


@pytest.mark.parametrize("port", ["web", "0", "70000"])
def test_a_port_that_is_no_port_number_stops_the_app_with_status_78(app, port):
    result = run(app, {**FAKE, "PORT": port})
    assert (result.returncode, result.stderr.strip()) == (78, "PORT is not a port number")


def test_a_database_url_that_is_no_url_stops_the_app_with_status_78(app):
    result = run(app, {**FAKE, "PORT": "3000", "DATABASE_URL": "FAKE-not-a-url"})
    assert result.returncode == 78
    assert result.stderr.strip() == "DATABASE_URL is not a URL (scheme://...)"
    assert "FAKE-not-a-url" not in result.stderr


def test_healthz_answers_ok(running):
    assert running.get("/healthz") == (200, "text/plain", "ok\n")


def test_fingerprints_are_the_sha256_of_every_value_and_never_a_value(running):
    status, content_type, body = running.get("/fingerprints")
    assert (status, content_type) == (200, "application/json")
    expected = {
        name: hashlib.sha256(value.encode()).hexdigest() for name, value in running.env.items()
    }
    assert json.loads(body) == expected
    assert body == json.dumps(dict(sorted(expected.items())), indent=2) + "\n"
    for value in FAKE.values():
        assert value not in body


def test_other_paths_are_not_found(running):
    assert running.get("/fingerprints?x=1")[0] == 404
    assert running.get("/")[:2] == (404, "text/plain")


def test_sigterm_stops_the_app_cleanly(running):
    assert running.stop() == 0
