"""What a deploy decides about an app's credentials on one host: how the host gets them (by its
systemd version), which files change (by the manifest's keyed fingerprints, as the ciphertext
differs on every encryption), which go."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ssmenv import manifest
from ssmenv.config import AppConfig
from ssmenv.errors import ConfigError
from ssmenv.facts import AppHostState, FileInfo
from ssmenv.plan.environment import credential_writes, delivered, unencrypted
from ssmenv.sources.base import Variable

CONFIG = AppConfig.from_data({"ssm_path": "/shop/prod", "app_name": "shop",
                              "credentials": ["DB_PASSWORD", "TLS_*"]})  # fmt: skip
STORE = "/etc/credstore.encrypted/shop"
KEY = manifest.new_key()
VARIABLES = {
    "DB_PASSWORD": Variable("DB_PASSWORD", "FAKE-db-1", "/shop/prod/DB_PASSWORD", 1),
    "TLS_KEY": Variable("TLS_KEY", "FAKE-KEY\nLINE 2\n", "/shop/prod/TLS_KEY", 3),
    "DATABASE_HOST": Variable("DATABASE_HOST", "db.internal", "/shop/prod/DATABASE_HOST", 1),
}
ROOT_ONLY = FileInfo("root", "root", "600", "c" * 64)


def host(systemd: int | None = 252, **changes):
    lines = ["--packages--", f"systemd installed {systemd}.1-1" if systemd else ""]
    return replace(AppHostState().process(lines), **changes)


def deployed(variables=VARIABLES, names=("DB_PASSWORD", "TLS_KEY")):
    """A host where ``variables`` were deployed, ``names`` as credentials."""
    text = manifest.dumps(manifest.build("shop", KEY, variables, names))
    files = {f"{STORE}/{n}": ROOT_ONLY for n in names}
    return host(manifest=text, key=KEY, credential_files=files)


def test_a_host_on_systemd_252_gets_them_encrypted():
    creds = delivered(CONFIG, VARIABLES, host(252), "web-1")
    assert creds.names == ("DB_PASSWORD", "TLS_KEY")
    assert creds.paths["TLS_KEY"] == f"{STORE}/TLS_KEY"
    assert creds.delivery.encrypted


def test_a_host_on_systemd_249_gets_root_only_plain_files_with_a_warning():
    creds = delivered(CONFIG, VARIABLES, host(249), "old-1")
    warning = unencrypted(creds, host(249), "old-1")
    assert not creds.delivery.encrypted
    assert creds.paths["DB_PASSWORD"] == "/etc/credstore/shop/DB_PASSWORD"
    assert "old-1 runs systemd 249" in warning.text and "not encrypted at rest" in warning.text
    assert warning.warning  # said once per run, as a warning
    assert unencrypted(delivered(CONFIG, VARIABLES, host(252), "web-1"), host(252), "web-1") is None


@pytest.mark.parametrize("version", [246, 219, None])
def test_a_host_below_systemd_247_stops_the_deploy_naming_it_and_its_version(version):
    with pytest.raises(ConfigError) as e:
        delivered(CONFIG, VARIABLES, host(version), "ancient-1")
    assert str(e.value).startswith(f"ancient-1 runs systemd {version or '(unknown version)'}")
    assert "DB_PASSWORD" in str(e.value) and "FAKE" not in str(e.value)


def test_an_old_host_is_fine_when_the_app_names_no_credentials():
    config = replace(CONFIG, credentials=type(CONFIG.credentials)())
    assert not delivered(config, VARIABLES, host(219), "ancient-1")


def test_a_named_credential_that_is_no_variable_stops_the_deploy():
    config = AppConfig.from_data({"ssm_path": "/shop/prod", "credentials": ["DB_PASSWRD"]})
    with pytest.raises(ConfigError, match="DB_PASSWRD is not a variable of the app"):
        delivered(config, VARIABLES, host(), "web-1")


def test_a_redeploy_of_the_same_values_writes_no_credential():
    creds = delivered(CONFIG, VARIABLES, host(), "web-1")
    assert credential_writes(CONFIG, creds, VARIABLES, deployed()).changes == ()


def test_a_rotated_value_rewrites_that_credential_only():
    creds = delivered(CONFIG, VARIABLES, host(), "web-1")
    rotated = {**VARIABLES, "TLS_KEY": replace(VARIABLES["TLS_KEY"], value="FAKE-KEY-2\n")}
    [write] = credential_writes(CONFIG, creds, rotated, deployed()).changes
    assert write.path == f"{STORE}/TLS_KEY" and write.content == "FAKE-KEY-2\n"
    assert write.credential and write.encrypt and write.mode == "0600"
    assert write.expect == ROOT_ONLY.sha256  # compared before anything changes


def test_a_missing_or_loosened_credential_file_is_written_again():
    creds = delivered(CONFIG, VARIABLES, host(), "web-1")
    state = deployed()
    gone = replace(state, credential_files={f"{STORE}/TLS_KEY": ROOT_ONLY})
    assert [w.path for w in credential_writes(CONFIG, creds, VARIABLES, gone).changes] == [
        f"{STORE}/DB_PASSWORD"
    ]
    loose = replace(state, credential_files={**state.credential_files,
                                             f"{STORE}/TLS_KEY": replace(ROOT_ONLY, mode="644")})
    assert [w.path for w in credential_writes(CONFIG, creds, VARIABLES, loose).changes] == [
        f"{STORE}/TLS_KEY"
    ]


def test_a_host_without_a_fingerprint_key_gets_every_credential_written():
    creds = delivered(CONFIG, VARIABLES, host(), "web-1")
    unkeyed = replace(deployed(), key=None)
    assert len(credential_writes(CONFIG, creds, VARIABLES, unkeyed).changes) == 2


def test_a_value_deployed_in_the_env_file_is_written_as_a_credential_when_it_moves():
    creds = delivered(CONFIG, VARIABLES, host(), "web-1")
    state = deployed(names=("DB_PASSWORD",))  # TLS_KEY was an env-file line
    state = replace(state, credential_files={f"{STORE}/DB_PASSWORD": ROOT_ONLY,
                                             f"{STORE}/TLS_KEY": ROOT_ONLY})  # fmt: skip
    [write] = credential_writes(CONFIG, creds, VARIABLES, state).changes
    assert write.path == f"{STORE}/TLS_KEY"


def test_a_credential_no_longer_named_goes_and_leaves_no_copy_once_healthy():
    config = replace(CONFIG, credentials=type(CONFIG.credentials)(("DB_PASSWORD",)))
    creds = delivered(config, VARIABLES, host(), "web-1")
    [gone] = credential_writes(config, creds, VARIABLES, deployed()).changes
    assert gone.path == f"{STORE}/TLS_KEY" and gone.remove and gone.transient
    assert gone.content is None and gone.expect == ROOT_ONLY.sha256


def test_credentials_kept_where_another_systemd_keeps_them_move():
    creds = delivered(CONFIG, VARIABLES, host(), "web-1")
    plain = {f"/etc/credstore/shop/{n}": ROOT_ONLY for n in ("DB_PASSWORD", "TLS_KEY")}
    state = replace(deployed(), credential_files=plain)  # the host was upgraded from 249
    found = credential_writes(CONFIG, creds, VARIABLES, state)
    assert found.moved
    assert sorted((w.path, w.remove) for w in found.changes) == [
        (f"{STORE}/DB_PASSWORD", False), (f"{STORE}/TLS_KEY", False),
        ("/etc/credstore/shop/DB_PASSWORD", True), ("/etc/credstore/shop/TLS_KEY", True),
    ]  # fmt: skip
