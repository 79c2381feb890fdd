"""Secrets as files: variables named in ``credentials`` reach every process of the app as systemd
credentials, encrypted on the host, byte for byte, never in its environment; redeployed,
rotated, rolled back and moved between the env file and the credstore like env-file values."""

from __future__ import annotations

import pytest

from ssmenv import envfile
from ssmenv.credentials import largest
from tests.e2e.conftest import APP, WEB, WORKER, Base, sha256
from tests.fixtures.env_corpus import CORPUS

STORE = f"/etc/credstore.encrypted/{APP}"


def credentials_dir(unit: str) -> str:
    return f"/run/credentials/{unit}"


def file_digests(host, directory: str) -> dict[str, str]:
    """Each file's sha256 in ``directory`` on the host, by name: the contents never leave it."""
    out = host.run(f"sudo sh -c 'cd {directory} && sha256sum -- *'")
    return {line.split("  ", 1)[1]: line.split(" ", 1)[0] for line in out.splitlines()}


def env_file(host) -> dict[str, str]:
    return envfile.parse(host.run(f"sudo cat /etc/{APP}.env"))


# --- the corpus: every hard value, each a credential -----------------------------------------

CORPUS_PATH = "/e2e/credentials-corpus"
# SSM refuses empty values: an empty variable can only come from host data.
FROM_HOST_DATA = {"EMPTY"}
VALUES = dict(CORPUS)
# The largest value systemd takes in one encrypted credential beside the others (its limits,
# ssmenv.credentials.largest).
VALUES["LARGEST"] = "P" * largest(
    "LARGEST", encrypted=True, used=sum(len(n) + len(v.encode()) for n, v in CORPUS.items())
)
CORPUS_DATA = {
    "ssm_path": CORPUS_PATH,
    "env": {name: VALUES[name] for name in FROM_HOST_DATA},
    "credentials": ["*"],
}


@pytest.fixture(scope="module")
def corpus(deployer, stand_in):
    stand_in.put({f"{CORPUS_PATH}/{n}": v for n, v in VALUES.items() if n not in FROM_HOST_DATA})
    result = deployer.run(data=CORPUS_DATA)
    assert result.returncode == 0, result.output[-3000:]
    return result


def test_each_credential_reaches_every_process_byte_for_byte_as_a_file(corpus, lab_hosts):
    expected = {name: sha256(value) for name, value in VALUES.items()}
    for host in lab_hosts:
        for unit in (WEB, WORKER):
            assert file_digests(host, credentials_dir(unit)) == expected, (host.name, unit)
        # The app reads them from the files NAME_FILE names.
        served = host.fingerprints()
        assert {name: served.get(name) for name in VALUES} == expected, host.name


def test_the_environment_holds_each_credentials_path_and_never_its_value(corpus, lab_hosts):
    for host in lab_hosts:
        for unit in (WEB, WORKER):
            environ = host.process_environ(unit)
            for name in VALUES:
                assert name not in environ, (host.name, unit, name)
                assert environ[f"{name}_FILE"] == f"{credentials_dir(unit)}/{name}".encode()
        assert set(env_file(host)) == set(), "the env file still holds a credential"


def test_credentials_rest_encrypted_root_only_and_the_service_reads_them_alone(corpus, lab_hosts):
    for host in lab_hosts:
        listing = host.run(
            f"sudo stat -c '%U:%G %a %n' /etc/credstore.encrypted {STORE} {STORE}/LARGEST"
        )
        assert listing.splitlines() == [
            "root:root 700 /etc/credstore.encrypted", f"root:root 700 {STORE}",
            f"root:root 600 {STORE}/LARGEST",
        ]  # fmt: skip
        # Encrypted: the stored file does not hold the value (almost a MiB of one letter).
        assert host.run(f"sudo grep -caF PPPPPPPP {STORE}/LARGEST || true").strip() == "0"
        runtime = host.run(f"sudo stat -c '%U %a' {credentials_dir(WEB)}/LARGEST").strip()
        assert runtime == f"{APP} 400"


def test_redeploying_credentials_changes_and_restarts_nothing(corpus, deployer, lab_hosts):
    before = {h.name: h.invocations(WEB, WORKER) for h in lab_hosts}
    result = deployer.run(data=CORPUS_DATA)
    assert result.returncode == 0, result.output[-3000:]
    assert {name: n for name, n in result.changed.items() if n} == {}
    assert {h.name: h.invocations(WEB, WORKER) for h in lab_hosts} == before


# --- a live app's credentials: rotated, rejected, moved ----------------------------------------

PATH = "/e2e/credentials"
BASE = Base.example(PATH, "credentials", credentials=["DATABASE_URL", "SESSION_SECRET"])
DATA = BASE.data


@pytest.fixture(scope="module")
def base() -> Base:
    return BASE


def test_a_rotated_credential_is_served_after_one_restart(
    redeployed, deployer, stand_in, lab_hosts
):
    before = {h.name: h.invocations(WEB, WORKER) for h in lab_hosts}
    stand_in.put({f"{PATH}/SESSION_SECRET": "FAKE-credentials-session-2"})

    rotated = deployer.run(deploy="rotate.py", data=DATA)

    assert rotated.returncode == 0, rotated.output[-3000:]
    for host in lab_hosts:
        after = host.invocations(WEB, WORKER)
        for unit in (WEB, WORKER):
            assert after[unit] != before[host.name][unit], (host.name, unit)
            assert host.service(unit)["NRestarts"] == "0"
            assert file_digests(host, credentials_dir(unit))["SESSION_SECRET"] == sha256(
                "FAKE-credentials-session-2"
            )
        assert host.fingerprints()["SESSION_SECRET"] == sha256("FAKE-credentials-session-2")
    again = deployer.run(data=DATA)
    assert again.returncode == 0
    assert {name: n for name, n in again.changed.items() if n} == {}


def test_a_credential_the_app_rejects_rolls_back_to_the_previous_ciphertext(
    redeployed, deployer, stand_in, lab_hosts
):
    first, second = lab_hosts
    stored = {h.name: h.file_state(f"{STORE}/DATABASE_URL") for h in lab_hosts}
    served = second.invocations(WEB)
    # The app exits at start on a DATABASE_URL that is not a URL.
    stand_in.put({f"{PATH}/DATABASE_URL": "FAKE-not-a-url"})

    result = deployer.run(data={**DATA, "health_timeout": 30})

    assert result.returncode != 0
    assert f"[{first.name}] ssmenv: rolled back: {APP} is healthy on the previous version" in (
        result.output
    )
    assert "FAKE-not-a-url" not in result.output
    for host in lab_hosts:
        assert host.file_state(f"{STORE}/DATABASE_URL") == stored[host.name], host.name
        assert host.service(WEB)["ActiveState"] == "active"
        assert host.fingerprints()["DATABASE_URL"] == sha256(BASE.value("DATABASE_URL"))
    assert second.invocations(WEB) == served  # the rollout stopped at the first host


def test_a_variable_moved_to_the_credstore_and_back_is_in_exactly_one_place(
    redeployed, deployer, lab_hosts
):
    key = BASE.value("API_KEY").encode()
    moved = {**DATA, "credentials": [*DATA["credentials"], "API_KEY"], "env_keep_previous": False}

    to_file = deployer.run(data=moved)

    assert to_file.returncode == 0, to_file.output[-3000:]
    for host in lab_hosts:
        assert "API_KEY" not in env_file(host)
        assert host.file_state(f"/etc/{APP}.env.previous") == "absent"
        assert host.file_state(f"{STORE}/API_KEY").startswith("root:root 600\n")
        environ = host.process_environ(WEB)
        assert "API_KEY" not in environ
        assert environ["API_KEY_FILE"] == f"{credentials_dir(WEB)}/API_KEY".encode()
        assert file_digests(host, credentials_dir(WEB))["API_KEY"] == sha256(key)

    back = deployer.run(data={**DATA, "env_keep_previous": False})

    assert back.returncode == 0, back.output[-3000:]
    for host in lab_hosts:
        assert env_file(host)["API_KEY"] == key.decode()
        assert host.file_state(f"{STORE}/API_KEY") == "absent"
        assert host.file_state(f"{STORE}/API_KEY.previous") == "absent"
        environ = host.process_environ(WEB)
        assert environ["API_KEY"] == key and "API_KEY_FILE" not in environ
        assert "API_KEY" not in file_digests(host, credentials_dir(WEB))
