"""Which variables become credentials, how a host of a given systemd gets them, what systemd
can carry."""

from __future__ import annotations

import pytest

from ssmenv import credentials
from ssmenv.config import AppConfig
from ssmenv.credentials import ENCRYPTED, PLAIN, Selection
from ssmenv.errors import ConfigError
from ssmenv.sources.base import Variable

BASE = {"ssm_path": "/app/prod"}


def variables(**values: str) -> dict[str, Variable]:
    return {n: Variable(n, v, f"/app/prod/{n}", 1, secure=n.endswith("SECRET")) for n, v in
            values.items()}  # fmt: skip


def test_no_credentials_by_default():
    assert not AppConfig.from_data(BASE).credentials


def test_names_and_globs_select_by_name():
    selection = AppConfig.from_data({**BASE, "credentials": ["DB_PASSWORD", "TLS_*"]}).credentials
    found = credentials.select(selection, variables(
        DB_PASSWORD="x", TLS_KEY="k", TLS_CERT="c", DATABASE_URL="u", TLS="t"))  # fmt: skip
    assert found == ("DB_PASSWORD", "TLS_CERT", "TLS_KEY")


def test_secure_selects_the_values_stored_as_secrets():
    selection = AppConfig.from_data({**BASE, "credentials": "secure"}).credentials
    assert credentials.select(selection, variables(API_SECRET="s", DATABASE_URL="u")) == (
        "API_SECRET",
    )


def test_secure_and_names_in_one_list_select_both():
    selection = AppConfig.from_data({**BASE, "credentials": ["secure", "TLS_*"]}).credentials
    found = credentials.select(selection, variables(API_SECRET="s", TLS_KEY="k", URL="u"))
    assert found == ("API_SECRET", "TLS_KEY")


def test_credentials_as_json_text_from_the_command_line():
    assert AppConfig.from_data({**BASE, "credentials": '["A"]'}).credentials == Selection(("A",))


@pytest.mark.parametrize("bad", [["A B"], ["A\n"], "all", [1], "secure\n"])
def test_a_bad_credentials_setting_names_the_key(bad):
    with pytest.raises(ConfigError) as e:
        AppConfig.from_data({**BASE, "credentials": bad})
    assert "credentials" in str(e.value)
    assert "Traceback" not in str(e.value)


def test_a_plain_name_that_selects_nothing_is_reported():
    selection = Selection(("DB_PASSWORD", "TLS_*", "API_KEY"))
    assert selection.unmatched({"API_KEY"}) == ["DB_PASSWORD"]


@pytest.mark.parametrize(("version", "expected"), [
    (252, ENCRYPTED), (250, ENCRYPTED), (255, ENCRYPTED),
    (249, PLAIN), (247, PLAIN),
    (246, None), (None, None),
])  # fmt: skip
def test_delivery_by_systemd_version(version, expected):
    assert credentials.delivery(version) == expected


def test_encrypted_credentials_live_in_the_credstore_by_app():
    assert ENCRYPTED.path("shop", "DB_PASSWORD") == "/etc/credstore.encrypted/shop/DB_PASSWORD"
    assert ENCRYPTED.directive == "LoadCredentialEncrypted"


def test_the_fallback_keeps_plain_files_in_the_unencrypted_credstore():
    assert PLAIN.path("shop", "DB_PASSWORD") == "/etc/credstore/shop/DB_PASSWORD"
    assert PLAIN.directive == "LoadCredential"


@pytest.mark.parametrize("encrypted", [True, False])
def test_a_value_up_to_systemds_limit_is_carried_and_one_byte_more_refused(encrypted):
    most = credentials.largest("TLS_KEY", encrypted)
    assert credentials.problems(("TLS_KEY",), variables(TLS_KEY="k" * most), encrypted) == []
    [problem] = credentials.problems(("TLS_KEY",), variables(TLS_KEY="k" * (most + 1)), encrypted)
    assert problem.startswith("TLS_KEY: ") and "k" * 10 not in problem


def test_the_encrypted_size_is_what_systemd_creds_wrote_on_a_252_host():
    # Measured: file sizes of `systemd-creds encrypt --name=NAME` of SIZE bytes (host key).
    for name, size, written in [("A", 0, 122), ("A", 3, 126), ("ABCDEFGHIJ", 1, 134),
                                ("A", 600000, 810249), ("BIG", 873587, 1179646),
                                ("LARGEST", 873587, 1179658), ("LARGEST", 870000, 1174814),
                                ("LARGEST", 873580, 1179650)]:  # fmt: skip
        assert credentials.encrypted_size(name, size) == written, (name, size)
    # The largest systemd 252 loaded with LoadCredentialEncrypted=; one byte more failed.
    assert credentials.largest("BIG", encrypted=True) == 873587


def test_credentials_over_the_limit_together_are_refused_naming_them():
    # Names count: on a 252 host H1 (600000 bytes) and H2 (448572) loaded, with H2 one more not.
    assert credentials.largest("H2", encrypted=False, used=len("H1") + 600000) == 448572
    found = variables(H1="a" * 600000, H2="b" * 448572)
    assert credentials.problems(("H1", "H2"), found, encrypted=True) == []
    found = variables(H1="a" * 600000, H2="b" * 448573)
    [problem] = credentials.problems(("H1", "H2"), found)
    assert problem.startswith("H1, H2: ") and "together" in problem


def test_multibyte_text_counts_in_bytes():
    most = credentials.largest("A", encrypted=True)
    assert credentials.problems(("A",), variables(A="é" * (most // 2 + 1)))


def test_a_name_whose_file_variable_exists_is_refused():
    found = variables(DB_PASSWORD="x", DB_PASSWORD_FILE="/x")
    [problem] = credentials.problems(("DB_PASSWORD",), found)
    assert "DB_PASSWORD_FILE" in problem


def test_text_that_cannot_be_written_is_refused():
    found = variables(A="\ud800")
    assert credentials.problems(("A",), found)
