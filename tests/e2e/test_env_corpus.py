"""Every hard value in SSM reaches the running process byte for byte, through the real systemd.

One deploy carries the whole corpus; each value is then compared with the app's
``/proc/<MainPID>/environ`` on every host.
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import WEB, Base
from tests.fixtures.env_corpus import CORPUS

PATH = "/e2e/corpus"


def test_corpus_has_at_least_sixty_values():
    assert len(CORPUS) >= 60


# SSM refuses empty values: an empty variable can only come from host data.
FROM_HOST_DATA = {"EMPTY"}


@pytest.fixture(scope="module")
def base() -> Base:
    return Base(
        {f"{PATH}/{name}": value for name, value in CORPUS.items() if name not in FROM_HOST_DATA},
        {"ssm_path": PATH, "env": {name: CORPUS[name] for name in FROM_HOST_DATA}},
    )


@pytest.fixture(scope="module")
def environs(deployed, lab_hosts):
    return {host.name: host.process_environ(WEB) for host in lab_hosts}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_value_reaches_the_process_byte_for_byte(environs, name):
    for host, environ in environs.items():
        assert name in environ, f"{host}: {name} missing"
        assert environ[name] == CORPUS[name].encode(), f"{host}: {name} differs"


def test_redeploying_the_corpus_changes_nothing(deployed, deployer, base):
    result = deployer.run(data=base.data)
    assert result.returncode == 0, result.output
    assert {name: n for name, n in result.changed.items() if n} == {}
