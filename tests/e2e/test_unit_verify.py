"""A unit systemd finds fault with is never installed: the old one stays and keeps running."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import WEB, Base, example_app

PATH = "/e2e/unit"
UNIT = WEB
UNIT_FILE = f"/etc/systemd/system/{UNIT}"
DATA = {"ssm_path": PATH}


@pytest.fixture(scope="module")
def base() -> Base:
    return Base.example(PATH, "unit")


def test_a_unit_systemd_refuses_is_not_installed_and_the_old_one_keeps_running(
    deployed, deployer, lab_hosts, tmp_path
):
    before = {h.name: (h.file_state(UNIT_FILE), h.service(UNIT)) for h in lab_hosts}

    broken = example_app(tmp_path, web="/nonexistent/node server.js")
    result = deployer.run(data={**DATA, "app_source": str(broken)})

    assert result.returncode != 0
    assert f"refused {UNIT}" in result.output
    assert "/nonexistent/node" in result.output  # systemd's own reason is shown
    for host in lab_hosts:
        assert (host.file_state(UNIT_FILE), host.service(UNIT)) == before[host.name]
        assert host.get("/healthz") == b"ok\n"
        leftovers = host.run(
            "sudo find /etc/systemd/system /run /run/ssmenv -maxdepth 1 -name '.*ssmenv*' -o "
            "-maxdepth 1 -name '*verify.*'"
        )
        assert leftovers.strip() == ""
