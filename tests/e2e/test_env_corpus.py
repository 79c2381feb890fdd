"""Every hard value in SSM reaches the running process byte for byte, through the real systemd.

One deploy carries the whole corpus; each value is then compared with the app's
``/proc/<MainPID>/environ`` on every host.
"""

from __future__ import annotations

import pytest

from ssmenv.envfile import MAX_ARG_STRLEN

PATH = "/e2e/corpus"
UNIT = "example-app-web.service"  # the web process of the example app's Procfile

FAKE_PEM = (
    "-----BEGIN FAKE PRIVATE KEY-----\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDfakefakefake\n"
    "c29tZSBmYWtlIGtleSBtYXRlcmlhbCwgbm90IGEgcmVhbCBrZXkgYXQgYWxsIQ==\n"
    "-----END FAKE PRIVATE KEY-----\n"
)

CORPUS: dict[str, str] = {
    "EMPTY": "",
    "SPACE": " ",
    "SPACES_ONLY": "     ",
    "LEADING_SPACES": "   lead",
    "TRAILING_SPACES": "trail   ",
    "BOTH_SPACES": "  both  ",
    "TAB": "\t",
    "TABS_INSIDE": "a\tb\tc",
    "TRAILING_TAB": "tab\t",
    "SINGLE_QUOTE": "'",
    "SINGLE_QUOTES": "''",
    "DOUBLE_QUOTE": '"',
    "DOUBLE_QUOTES": '""',
    "MIXED_QUOTES": "it's \"quoted\" 'twice'",
    "SHELL_QUOTE_DANCE": "'\"'\"'",
    "BACKSLASH": "\\",
    "TRAILING_BACKSLASH": "ends with\\",
    "DOUBLE_BACKSLASH": "\\\\",
    "WINDOWS_PATH": "C:\\Users\\fake\\new\\table",
    "BACKSLASH_QUOTE": "\\'\\\"",
    "BACKSLASH_NEWLINE": "a\\\nb",
    "DOLLAR_HOME": "$HOME",
    "DOLLAR_BRACE": "${HOME}",
    "DOLLAR_DEFAULT": "${UNSET:-default}",
    "COMMAND_SUBST": "$(id)",
    "BACKTICKS": "`id`",
    "HASH_START": "#not a comment",
    "SEMICOLON_START": ";not a comment",
    "HASH_INSIDE": "value # not a comment",
    "EQUALS": "a=b=c",
    "EQUALS_ONLY": "=",
    "PERCENT_SPECIFIERS": "%h %% %n %i",
    "EXPORT_LOOKALIKE": "export A=1",
    "ASSIGNMENT_LOOKALIKE": "A=1\nB=2",
    "TWO_BYTE": "café naïve",
    "THREE_BYTE": "日本語のテキスト",
    "FOUR_BYTE": "emoji 😀 clef 𝄞",
    "LINE_SEPARATOR": "before\u2028after",
    "PARAGRAPH_SEPARATOR": "before\u2029after",
    "NBSP": "\u00a0nbsp\u00a0",
    "ZERO_WIDTH": "zero\u200bwidth",
    "BOM_INSIDE": "\ufeffbom",
    "RTL": "\u202ertl override",
    "NEWLINE": "\n",
    "MULTILINE": "line one\nline two\n",
    "PEM_KEY": FAKE_PEM,
    "CRLF": "windows\r\nline\r\n",
    "LONE_CR": "carriage\rreturn",
    "CR_ONLY": "\r",
    "ESCAPE": "\x1b[31mred\x1b[0m",
    "BELL_AND_DEL": "bell\x07del\x7f",
    "JSON": '{"key": "value", "list": [1, "two", null], "nested": {"q": "\\"x\\""}}',
    "URL": "postgres://user:p%40ss@db.internal:5432/app?sslmode=require&x=1",
    "GLOB": "*?[a-z]{1,2}",
    "TILDE": "~root/x",
    "BANG": "!!hist!",
    "OPERATORS": "a && b || c; d | e > f < g",
    "PARENS": "(sub) {brace} [bracket]",
    "ZERO": "0",
    "NEGATIVE": "-1",
    "BOOLEAN": "false",
    "LONG_4K": "x" * 4096,
    "ALL_ASCII_PUNCT": "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
    "QUOTE_AT_END": "ends'",
    "QUOTE_CONCAT_LOOKALIKE": "\"a\"'b'c",
    "SPACE_EQUALS": " = ",
    # The required ones, as hard as the rest.
    "DATABASE_URL": "postgres://app:FAKE'pass\"word$@db/app",
    "API_KEY": "FAKE-api-key\t",
    "SESSION_SECRET": "FAKE\nmulti\nline\nsecret",
}
# NAME=VALUE plus its NUL at exactly the kernel's limit for one variable (moto, unlike SSM,
# stores a value this large).
CORPUS["AT_SIZE_LIMIT"] = "L" * (MAX_ARG_STRLEN - len("AT_SIZE_LIMIT=") - 1)


def test_corpus_has_at_least_sixty_values():
    assert len(CORPUS) >= 60


# SSM refuses empty values: an empty variable can only come from host data.
FROM_HOST_DATA = {"EMPTY"}
DATA = {"ssm_path": PATH, "env": {name: CORPUS[name] for name in FROM_HOST_DATA}}


@pytest.fixture(scope="module")
def corpus_deploy(deployer, stand_in):
    stand_in.put(
        {f"{PATH}/{name}": value for name, value in CORPUS.items() if name not in FROM_HOST_DATA}
    )
    result = deployer.run(data=DATA)
    assert result.returncode == 0, result.output
    return result


@pytest.fixture(scope="module")
def environs(corpus_deploy, lab_hosts):
    return {host.name: host.process_environ(UNIT) for host in lab_hosts}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_value_reaches_the_process_byte_for_byte(environs, name):
    for host, environ in environs.items():
        assert name in environ, f"{host}: {name} missing"
        assert environ[name] == CORPUS[name].encode(), f"{host}: {name} differs"


def test_redeploying_the_corpus_changes_nothing(corpus_deploy, deployer):
    result = deployer.run(data=DATA)
    assert result.returncode == 0, result.output
    assert {name: n for name, n in result.changed.items() if n} == {}
