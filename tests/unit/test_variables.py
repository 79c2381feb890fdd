"""Merging the sources by precedence and checking the result: pure logic, no AWS."""

import json

import pytest

from ssmenv.config import AppConfig
from ssmenv.errors import ConfigError
from ssmenv.sources import Fetched
from ssmenv.sources.base import Failure
from ssmenv.sources.secrets_manager import Secret
from ssmenv.sources.ssm import Parameter
from ssmenv.variables import PRECEDENCE, compose

CANARY = "FAKE-CANARY-7f3a9"


def config(**data) -> AppConfig:
    return AppConfig.from_data({"app_port": 80, **data})


def path(**values: str) -> dict[str, Parameter]:
    return {
        f"/app/prod/{k}": Parameter(f"/app/prod/{k}", v, 1, "SecureString")
        for k, v in values.items()
    }


def secret(secret_id: str, value: str, version: str = "v-1") -> Secret:
    return Secret(secret_id, secret_id, value, version, "AWSCURRENT")


def composed(cfg: AppConfig, failures: tuple[str, ...] = (), **answers):
    """``compose`` of what each source answered, by kind."""
    return compose(cfg, Fetched(answers, failures))


def test_path_leaf_names_become_variables_with_their_parameters_as_source():
    found = composed(
        config(ssm_path="/app/prod", env={"LOG_LEVEL": "info"}), ssm_path=path(API_KEY="k")
    )
    assert found.problems == ()
    assert {n: v.value for n, v in found.variables.items()} == {
        "API_KEY": "k",
        "LOG_LEVEL": "info",
        "PORT": "80",
    }
    assert (found.variables["API_KEY"].source, found.variables["API_KEY"].version) == (
        "/app/prod/API_KEY",
        1,
    )
    assert found.variables["LOG_LEVEL"].source == "host data env"


def test_nested_parameters_use_their_last_path_component_unless_mapped():
    nested = {
        "/app/prod/db/url": Parameter("/app/prod/db/url", "u", 3, "String"),
        "/app/prod/cache/URL": Parameter("/app/prod/cache/URL", "c", 1, "String"),
    }
    cfg = config(ssm_path="/app/prod", ssm_path_map={"db/url": "DATABASE_URL"})
    found = composed(cfg, ssm_path=nested).variables
    assert (found["DATABASE_URL"].value, found["DATABASE_URL"].version) == ("u", 3)
    assert found["URL"].source == "/app/prod/cache/URL"


def test_a_path_map_entry_without_its_parameter_is_reported():
    cfg = config(ssm_path="/app/prod", ssm_path_map={"db/url": "DATABASE_URL"})
    assert composed(cfg, ssm_path={}).problems == (
        "ssm_path_map: no SSM parameter /app/prod/db/url",
    )


def test_named_parameters_become_their_leaf_or_given_name_with_pin_and_version():
    cfg = config(ssm_parameters={"DB_PASSWORD": "/shared/db/password:3", "TOKEN": "/x/TOKEN:live"})
    listed = config(ssm_parameters=["/shared/SENTRY_DSN"])
    fetched = {
        "/shared/db/password:3": Parameter("/shared/db/password", "p", 3, "SecureString"),
        "/x/TOKEN:live": Parameter("/x/TOKEN", "t", 7, "SecureString"),
        "/shared/SENTRY_DSN": Parameter("/shared/SENTRY_DSN", "https://k@s.io/1", 2, "String"),
    }
    found = composed(cfg, ssm_parameters=fetched).variables
    assert (found["DB_PASSWORD"].value, found["DB_PASSWORD"].source) == (
        "p",
        "/shared/db/password:3",
    )
    assert (found["TOKEN"].version, found["TOKEN"].source) == (7, "/x/TOKEN:live")
    assert composed(listed, ssm_parameters=fetched).variables["SENTRY_DSN"].version == 2


def test_a_pinned_parameter_replaces_the_same_parameter_from_the_path():
    cfg = config(ssm_path="/app/prod", ssm_parameters=["/app/prod/API_KEY:2"])
    pinned = {"/app/prod/API_KEY:2": Parameter("/app/prod/API_KEY", "old", 2, "SecureString")}
    found = composed(cfg, ssm_path=path(API_KEY="new"), ssm_parameters=pinned)
    assert found.problems == ()
    assert (found.variables["API_KEY"].value, found.variables["API_KEY"].version) == ("old", 2)


def test_a_json_secret_expands_each_key_with_its_prefix_and_version():
    cfg = config(secrets=[{"id": "app/db", "prefix": "DB_"}, "app/flags"])
    document = json.dumps({"USER": "app", "PASSWORD": "p", "PORT": 5432, "TLS": True})
    fetched = {
        ("app/db", "AWSCURRENT"): secret("app/db", document, "uuid-1"),
        ("app/flags", "AWSCURRENT"): secret("app/flags", json.dumps({"BETA": {"on": [1]}})),
    }
    found = composed(cfg, secrets=fetched).variables
    assert {n: v.value for n, v in found.items() if n.startswith("DB_")} == {
        "DB_USER": "app",
        "DB_PASSWORD": "p",
        "DB_PORT": "5432",
        "DB_TLS": "true",
    }
    assert (found["DB_PASSWORD"].source, found["DB_PASSWORD"].version) == (
        "secret app/db key PASSWORD",
        "uuid-1",
    )
    assert "BETA" not in found  # a nested object only when asked for (as_json)


def test_a_plain_secret_becomes_one_variable_and_names_its_stage():
    cfg = config(secrets=[{"id": "app/api", "variable": "API_KEY", "stage": "AWSPENDING"}])
    fetched = {("app/api", "AWSPENDING"): Secret("app/api", "app/api", "k", "v2", "AWSPENDING")}
    found = composed(cfg, secrets=fetched).variables
    assert (found["API_KEY"].value, found["API_KEY"].source) == (
        "k",
        "secret app/api (stage AWSPENDING)",
    )


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (CANARY + "{", "is not valid JSON (Expecting value at line 1 column 1)"),
        (json.dumps([CANARY]), "is JSON but not an object (an array)"),
        (json.dumps({"A": None, "B": CANARY}), "key A is null"),
    ],
)
def test_a_json_secret_that_is_not_an_object_of_values_is_named_without_its_value(document, reason):
    cfg = config(secrets=["app/db"])
    found = composed(cfg, secrets={("app/db", "AWSCURRENT"): secret("app/db", document)})
    assert any(p.startswith(f"secret app/db: {reason}") for p in found.problems), found.problems
    assert CANARY not in "\n".join(found.problems)


def test_unreadable_parameters_and_secrets_are_reported_by_name():
    cfg = config(ssm_parameters=["/x/GONE:4"], secrets=["app/db", {"id": "k", "variable": "K"}])
    found = composed(
        cfg,
        ssm_parameters={"/x/GONE:4": Failure("SSM parameter /x/GONE:4", "not found")},
        secrets={
            ("app/db", "AWSCURRENT"): Failure("secret app/db", "DecryptionFailure: no key"),
            ("k", "AWSCURRENT"): Failure("secret k", "ResourceNotFoundException: gone"),
        },
    )
    assert found.problems == (
        "GONE: SSM parameter /x/GONE:4: not found",
        "K: secret k: ResourceNotFoundException: gone",
        "secret app/db: DecryptionFailure: no key",
    )
    assert not found.complete


def test_a_source_that_could_not_be_read_is_not_repeated_as_missing_names():
    cfg = config(ssm_path="/app/prod", env_required=["A", "B"])
    failed = "SSM path /app/prod (us-east-1): AccessDeniedException: not allowed"
    found = composed(cfg, ssm_path=None, failures=(failed,))
    assert found.problems == (failed,)


# Precedence, lowest first: path < parameters < secrets < env < app_port.
def source(kind: str, name: str, value: str) -> tuple[dict, dict, str]:
    """Host data, what the sources answered, and the source label: ``name`` from ``kind``."""
    if kind == "ssm_path":
        parameter = Parameter(f"/app/prod/{name}", value, 1, "String")
        return {"ssm_path": "/app/prod"}, {"ssm_path": {parameter.name: parameter}}, parameter.name
    if kind == "ssm_parameters":
        parameter = Parameter(f"/p/{name}", value, 1, "String")
        data = {"ssm_parameters": {name: parameter.name}}
        return data, {"ssm_parameters": {parameter.name: parameter}}, parameter.name
    if kind == "secrets":
        answer = {("s", "AWSCURRENT"): secret("s", json.dumps({name: value}))}
        return {"secrets": ["s"]}, {"secrets": answer}, f"secret s key {name}"
    if kind == "env":
        return {"env": {name: value}}, {}, "host data env"
    return {"app_port": int(value)}, {}, "app_port"


PAIRS = [(low, high) for i, low in enumerate(PRECEDENCE[1:]) for high in PRECEDENCE[i + 2 :]]


def _two(low: str, high: str, **extra) -> tuple:
    name = "PORT" if high == "app_port" else "X"  # app_port only ever sets PORT
    low_data, low_fetched, low_label = source(low, name, "1001")
    high_data, high_fetched, high_label = source(high, name, "1002")
    if not {"ssm_path", "ssm_parameters", "secrets"} & {low, high}:
        extra["ssm_path"] = "/app/prod"  # some AWS source is required; this one holds nothing
    cfg = config(**low_data, **high_data, **extra)
    return composed(cfg, **low_fetched, **high_fetched), name, low_label, high_label


def test_precedence_pairs_cover_every_source_kind():
    assert len(PAIRS) == 10 and {k for pair in PAIRS for k in pair} == set(PRECEDENCE[1:])


@pytest.mark.parametrize(("low", "high"), PAIRS)
def test_a_name_from_two_sources_is_an_error_naming_both(low, high):
    found, name, low_label, high_label = _two(low, high)
    assert found.problems == (
        f"{name}: set by both {low_label} and {high_label}; "
        "list it in env_overrides to let the last win",
    )


@pytest.mark.parametrize(("low", "high"), PAIRS)
def test_a_declared_override_lets_the_higher_precedence_source_win(low, high):
    found, name, _, high_label = _two(low, high, env_overrides=["PORT", "X"])
    assert found.problems == ()
    assert (found.variables[name].source, found.variables[name].value) == (high_label, "1002")


def test_three_sources_of_one_name_are_all_named():
    cfg = config(ssm_path="/app/prod", env={"PORT": "4"})
    found = composed(cfg, ssm_path=path(PORT="1"))
    assert found.problems == (
        "PORT: set by both /app/prod/PORT, host data env and app_port; "
        "list it in env_overrides to let the last win",
    )


def test_two_variables_of_one_name_from_one_source_conflict_even_when_overridable():
    cfg = config(ssm_path="/app/prod", env_overrides=["URL"])
    nested = {
        name: Parameter(name, "x", 1, "String") for name in ("/app/prod/a/URL", "/app/prod/b/URL")
    }
    assert composed(cfg, ssm_path=nested).problems == (
        "URL: set by both /app/prod/a/URL and /app/prod/b/URL",
    )


def test_contract_defaults_apply_only_where_no_source_sets_the_name():
    contract = {"LOG_LEVEL": {"default": "info"}, "WORKERS": {"default": "2", "check": "integer"}}
    cfg = config(ssm_path="/app/prod", env_contract=contract)
    found = composed(cfg, ssm_path=path(LOG_LEVEL="debug")).variables
    assert (found["LOG_LEVEL"].value, found["LOG_LEVEL"].source) == ("debug", "/app/prod/LOG_LEVEL")
    assert (found["WORKERS"].value, found["WORKERS"].source) == ("2", "env_contract default")


def test_missing_required_names_say_where_each_was_expected():
    cfg = config(
        ssm_path="/app/prod",
        ssm_path_map={"db/url": "DATABASE_URL"},
        ssm_parameters={"TOKEN": "/shared/TOKEN:2"},
        secrets=[{"id": "app/db", "prefix": "DB_"}, {"id": "app/api", "variable": "API_KEY"}],
        env_required=["DATABASE_URL", "TOKEN", "DB_PASSWORD", "API_KEY"],
    )
    found = composed(
        cfg,
        ssm_path={"/app/prod/db/url": Parameter("/app/prod/db/url", "", 1, "String")},
        ssm_parameters={"/shared/TOKEN:2": Parameter("/shared/TOKEN", "t", 2, "String")},
        secrets={
            ("app/db", "AWSCURRENT"): secret("app/db", "{}"),
            ("app/api", "AWSCURRENT"): secret("app/api", ""),
        },
    )
    assert found.problems == (
        "API_KEY: is empty (from secret app/api)",
        "DATABASE_URL: is empty (from /app/prod/db/url)",
        "DB_PASSWORD: required but missing (expected SSM parameter /app/prod/DB_PASSWORD, "
        "key PASSWORD of secret app/db or host data env; required by env_required)",
    )


def test_every_contract_problem_is_reported_at_once_without_values():
    contract = {
        "DATABASE_URL": {"check": "url"},
        "WORKERS": {"check": "integer"},
        "DB_PORT": {"check": "port"},
        "LOG_LEVEL": {"one_of": ["debug", "info"]},
        "SESSION_SECRET": {"pattern": "[!-~]{32,}"},
        "SENTRY_DSN": {"required": False, "check": "url"},
        "MISSING": {},
    }
    values = dict.fromkeys(
        ("DATABASE_URL", "WORKERS", "DB_PORT", "LOG_LEVEL", "SESSION_SECRET"), CANARY
    )
    cfg = config(ssm_path="/app/prod", env_contract=contract)
    with pytest.raises(ConfigError) as error:
        composed(cfg, ssm_path=path(**values)).check("example-app")
    message = str(error.value)
    assert message.splitlines()[1:] == [
        "  DATABASE_URL: is not a URL (scheme://host...) (from /app/prod/DATABASE_URL)",
        "  DB_PORT: is not a port number (1 to 65535) (from /app/prod/DB_PORT)",
        "  LOG_LEVEL: is not one of debug, info (from /app/prod/LOG_LEVEL)",
        "  MISSING: required but missing (expected SSM parameter /app/prod/MISSING or host "
        "data env; required by env_contract)",
        "  SESSION_SECRET: does not match the pattern [!-~]{32,} (from /app/prod/SESSION_SECRET)",
        "  WORKERS: is not an integer (from /app/prod/WORKERS)",
    ]
    assert "(6 problems)" in message.splitlines()[0]
    assert CANARY not in message


def test_names_the_contract_does_not_list_are_a_note_not_a_problem():
    cfg = config(ssm_path="/app/prod", env_contract={"A": {}})
    found = composed(cfg, ssm_path=path(A="a", EXTRA="x"))
    assert found.problems == ()
    assert found.notes == (
        "example-app: variables not in env_contract (deployed anyway): "
        "EXTRA (from /app/prod/EXTRA)",
    )
    # env_required alone declares no full contract: nothing to note.
    assert (
        composed(
            config(ssm_path="/app/prod", env_required=["A"]), ssm_path=path(A="a", B="b")
        ).notes
        == ()
    )


def test_invalid_values_are_refused_without_showing_them():
    cfg = config(ssm_path="/app/prod")
    found = composed(cfg, ssm_path=path(**{"BAD": CANARY + "\0", "GOOD": CANARY,
                                           "bad-name": CANARY}))  # fmt: skip
    assert [p.split(":")[0] for p in found.problems] == ["BAD", "bad-name"]
    assert CANARY not in "\n".join(found.problems)


# Every name, whatever its source and whether it is an env-file line or a credential (whose name
# becomes unit lines), is a variable name before any host is touched; one that is not is shown
# escaped, on its one line.
FORGED = "FORGED\nExecStartPre=+/usr/bin/touch /root/FAKE\nX"
NAMES = {
    "ssm_path": (  # SSM refuses such a name; an answer that has one is refused all the same
        {"ssm_path": "/app/prod"},
        {"ssm_path": {"/app/prod/A\nUser=root": Parameter("/app/prod/A\nUser=root", CANARY, 1,
                                                          "SecureString")}},
        "'A\\nUser=root': not a variable name (letters, digits and _, not starting with a "
        "digit) (from /app/prod/A\\nUser=root)",
    ),
    "ssm_path dotted": (
        {"ssm_path": "/app/prod"},
        {"ssm_path": path(**{"db.url": CANARY})},
        "db.url: not a variable name (letters, digits and _, not starting with a digit) (from "
        "/app/prod/db.url)",
    ),
    "secret key": (
        {"secrets": ["app/db"]},
        {"secrets": {("app/db", "AWSCURRENT"): secret("app/db", json.dumps({FORGED: CANARY}))}},
        f"{FORGED!r}: not a variable name (letters, digits and _, not starting with a digit) "
        f"(from secret app/db key {FORGED!r})",
    ),
    "secret key with a prefix": (
        {"secrets": [{"id": "app/db", "prefix": "DB_"}]},
        {"secrets": {("app/db", "AWSCURRENT"): secret("app/db", json.dumps({"a b": CANARY}))}},
        "'DB_a b': not a variable name (letters, digits and _, not starting with a digit) (from "
        "secret app/db key 'a b')",
    ),
    "empty secret key": (
        {"secrets": ["app/db"]},
        {"secrets": {("app/db", "AWSCURRENT"): secret("app/db", json.dumps({"": CANARY}))}},
        "'': not a variable name (letters, digits and _, not starting with a digit) (from "
        "secret app/db key '')",
    ),
}  # fmt: skip


@pytest.mark.parametrize("delivery", ["env file", "credential"])
@pytest.mark.parametrize("kind", list(NAMES))
def test_a_name_from_aws_that_is_not_a_variable_name_is_refused_escaped_on_one_line(
    kind, delivery
):
    data, answers, line = NAMES[kind]
    cfg = config(**data, credentials="secure" if delivery == "credential" else [])
    found = composed(cfg, **answers)
    assert found.problems == (line,)
    assert set(found.variables) == {"PORT"}  # refused: no variable, no unit line, no env line
    assert CANARY not in line


# A JSON secret's values arrive as the exact text the secret holds.
@pytest.mark.parametrize(("written", "value"), [
    ("1.10", "1.10"),
    ("1e3", "1e3"),
    ("-0.0", "-0.0"),
    ("12345678901234567890123", "12345678901234567890123"),
    ("true", "true"),
    ("false", "false"),
    ('"1.10"', "1.10"),
    ('"caf\\u00e9 \\n"', "café \n"),
])  # fmt: skip
def test_a_json_secrets_number_or_boolean_arrives_as_written(written, value):
    cfg = config(secrets=["app/db"])
    document = f'{{"V": {written}, "W": 1}}'
    found = composed(cfg, secrets={("app/db", "AWSCURRENT"): secret("app/db", document)})
    assert found.problems == ()
    assert found.variables["V"].value == value


def test_a_nested_object_or_array_arrives_as_its_json_text_only_when_asked_for():
    document = '{"FLAGS": {"beta" : [1, 2.50]}, "HOSTS": ["a", "b"], "PLAIN": "x"}'
    fetched = {("app/cfg", "AWSCURRENT"): secret("app/cfg", document)}
    refused = composed(config(secrets=["app/cfg"]), secrets=fetched)
    assert refused.problems == (
        "secret app/cfg: key FLAGS holds an object: list it in as_json to get its JSON text",
        "secret app/cfg: key HOSTS holds an array: list it in as_json to get its JSON text",
    )
    asked = composed(config(secrets=[{"id": "app/cfg", "as_json": ["FLAGS", "HOSTS", "PLAIN"]}]),
                     secrets=fetched)  # fmt: skip
    assert asked.problems == ()
    assert {n: v.value for n, v in asked.variables.items() if n != "PORT"} == {
        "FLAGS": '{"beta" : [1, 2.50]}',  # as the secret writes it, spaces included
        "HOSTS": '["a", "b"]',
        "PLAIN": '"x"',  # its JSON text: quoted
    }


@pytest.mark.parametrize(("document", "as_json", "reason"), [
    ('{"A": 1, "A": 2}', [], "key A appears twice"),
    ('{"A": 1}', ["B"], "as_json: no key B"),
    ('{"A\\u001b[2J": null}', [], "key 'A\\x1b[2J' is null"),
    ("[" * 5000 + "]" * 5000, [], "is JSON nested too deeply to read"),
    ("1.10", [], "is JSON but not an object (a number); keys become variables"),
])  # fmt: skip
def test_a_json_secret_that_would_be_read_ambiguously_is_refused_by_key(document, as_json, reason):
    cfg = config(secrets=[{"id": "app/db", "as_json": as_json}])
    found = composed(cfg, secrets={("app/db", "AWSCURRENT"): secret("app/db", document)})
    assert found.problems == (f"secret app/db: {reason}",)


# Host data for the sources, read by AppConfig: every problem named by its key.


def test_source_settings_from_the_cli_arrive_as_json_and_are_read():
    cfg = AppConfig.from_data(
        {
            "ssm_parameters": '["/a/B:3", "/a/C:live"]',
            "secrets": '[{"id": "app/db", "prefix": "DB_"}]',
            "env_overrides": '["LOG_LEVEL"]',
            "env_contract": '{"LOG_LEVEL": {"default": "info"}}',
        }
    )
    parameters = cfg.sources["ssm_parameters"].parameters
    assert [(s.name, s.selector, s.variable) for s in parameters] == [
        ("/a/B", "3", "B"),
        ("/a/C", "live", "C"),
    ]
    first = cfg.sources["secrets"].secrets[0]
    assert (first.id, first.prefix, first.stage) == (
        "app/db",
        "DB_",
        "AWSCURRENT",
    )
    assert "ssm_path" not in cfg.sources and cfg.env_overrides == {"LOG_LEVEL"}
    assert cfg.contract["LOG_LEVEL"].default == "info"


def test_source_settings_problems_are_all_reported_by_key():
    with pytest.raises(ConfigError) as error:
        AppConfig.from_data(
            {
                "ssm_path": "/a",
                "ssm_parameters": ["/a/B:1:2", "arn:aws:ssm:us-east-1:1:parameter/x"],
                "secrets": [{"id": "x", "variable": "A", "prefix": "P_"}, {"name": "y"}, 3],
                "env_contract": {"A": {"check": "email"}, "B": {"pattern": "("}, "C": []},
            }
        )
    lines = str(error.value).splitlines()[1:]
    for key in (
        "ssm_parameters: /a/B:1:2:",
        "ssm_parameters: arn:aws:ssm:us-east-1:1:parameter/x:",
        "secrets[0]:",
        "secrets[1]:",
        "secrets[2]:",
        "env_contract: A: check must be",
        "env_contract: B: pattern is not a regular expression",
        "env_contract: C: must be a dict",
    ):
        assert any(line.strip().startswith(key) for line in lines), (key, lines)


def test_some_source_is_required():
    with pytest.raises(ConfigError) as error:
        AppConfig.from_data({"env": {"A": "1"}})
    assert "ssm_path: no configuration source" in str(error.value)


def test_a_credential_is_not_held_to_what_an_env_file_line_can_carry():
    big = "x" * 200_000  # over MAX_ARG_STRLEN for an environment variable; a file takes it
    as_line = composed(config(ssm_path="/app/prod"), ssm_path=path(TLS_KEY=big))
    assert any(p.startswith("TLS_KEY: ") for p in as_line.problems)
    as_file = composed(config(ssm_path="/app/prod", credentials=["TLS_*"]),
                       ssm_path=path(TLS_KEY=big))  # fmt: skip
    assert as_file.problems == ()


def test_secure_parameters_and_secrets_are_marked_secure_plain_strings_not():
    found = composed(
        config(ssm_path="/app/prod", secrets=[{"id": "app/db", "variable": "DB_PASSWORD"}]),
        ssm_path={**path(API_KEY="k"), "/app/prod/LOG_LEVEL": Parameter(
            "/app/prod/LOG_LEVEL", "info", 1, "String")},
        secrets={("app/db", "AWSCURRENT"): secret("app/db", "FAKE-pw")},
    ).variables  # fmt: skip
    assert (found["API_KEY"].secure, found["DB_PASSWORD"].secure) == (True, True)
    assert found["LOG_LEVEL"].secure is False
