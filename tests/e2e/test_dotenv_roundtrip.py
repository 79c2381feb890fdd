"""Leave dotenv behind without changing a byte: import a ``.env`` full of hard values with the real
``python -m ssmenv import``, deploy with the real ``pyinfra`` CLI, and the app's environment on each
host equals what python-dotenv's ``dotenv_values`` gives the same app locally.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from dotenv import dotenv_values

from tests.e2e.conftest import REPO, aws_env, sha256

FILE = REPO / "tests" / "fixtures" / "roundtrip.dotenv"
PATH = "/roundtrip/example-app"  # this module's own SSM path
UNIT = "example-app-web.service"  # the web process of the example app's Procfile
# The fixture has one ${VAR} that dotenv takes from the shell: the same shell for both sides.
SHELL = {"SSMENV_ROUNDTRIP_FROM_SHELL": "FAKE-from-the-shell"}


def local_values() -> dict[str, str]:
    """What python-dotenv gives the app locally (``load_dotenv`` sets no value-less name)."""
    with pytest.MonkeyPatch.context() as mp:
        for key, value in SHELL.items():
            mp.setenv(key, value)
        return {k: v for k, v in dotenv_values(FILE).items() if v is not None}


@pytest.fixture(scope="module")
def imported(stand_in) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ssmenv", "import", str(FILE), "--ssm-path", PATH],
        cwd=REPO,
        env={**aws_env(stand_in), **SHELL},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def deployed(imported, deployer):
    assert imported.returncode == 0, imported.stdout + imported.stderr
    return deployer.run(data={"ssm_path": PATH})


def test_import_names_every_variable_and_prints_no_value(imported):
    assert imported.returncode == 0, imported.stdout + imported.stderr
    output = imported.stdout + imported.stderr
    for name, value in local_values().items():
        assert f"  {name} " in output
        if len(value) > 8:  # long enough not to occur by chance in names and counts
            assert value not in output, f"the value of {name} was printed"


def test_deploy_of_the_imported_path_succeeds(deployed):
    assert deployed.returncode == 0, deployed.output


def test_app_environment_on_each_host_equals_python_dotenv_values(deployed, lab_hosts):
    expected = local_values()
    assert len(expected) > 25
    for host in lab_hosts:
        environ = host.process_environ(UNIT)
        differ = [n for n, v in expected.items() if environ.get(n) != v.encode()]
        assert differ == [], f"{host.name}: differ from dotenv_values: {differ}"
        assert "BARE_NAME" not in environ  # dotenv sets nothing for a name without '='


def test_the_app_itself_sees_the_same_values(deployed, lab_hosts):
    for host in lab_hosts:
        served = host.fingerprints()
        for name, value in local_values().items():
            assert served[name] == sha256(value), f"{host.name}: {name}"
