import pytest

from ssmenv.errors import ConfigError
from ssmenv.sources import Parameter
from ssmenv.variables import compose

CANARY = "FAKE-CANARY-7f3a9"


def params(**values: str) -> dict[str, Parameter]:
    out = {}
    for leaf, value in values.items():
        name = f"/app/prod/{leaf}"
        out[name] = Parameter(name, value, 1, "SecureString")
    return out


def test_leaf_names_become_variables_with_their_sources():
    found = compose("/app/prod", params(API_KEY="k"), {"LOG_LEVEL": "info"}, ["API_KEY"], port=80)
    assert {n: v.value for n, v in found.items()} == {"API_KEY": "k", "LOG_LEVEL": "info",
                                                      "PORT": "80"}
    assert found["API_KEY"].source == "/app/prod/API_KEY"
    assert found["LOG_LEVEL"].source == "host data env"


def test_nested_parameters_use_their_last_path_component():
    nested = {"/app/prod/db/URL": Parameter("/app/prod/db/URL", "u", 3, "String")}
    assert compose("/app/prod", nested, {}, [])["URL"].version == 3


def test_missing_and_empty_required_names_are_all_reported_with_their_parameter():
    with pytest.raises(ConfigError) as error:
        compose("/app/prod", params(EMPTY=""), {}, ["A", "B", "EMPTY"])
    message = str(error.value)
    assert "A: required but missing (expected SSM parameter /app/prod/A" in message
    assert "B: required but missing" in message
    assert "EMPTY: required but empty (from /app/prod/EMPTY)" in message


def test_a_name_from_two_sources_is_an_error_naming_both():
    with pytest.raises(ConfigError) as error:
        compose("/app/prod", params(PORT="1"), {}, [], port=80)
    assert "PORT: set by both /app/prod/PORT and app_port" in str(error.value)


def test_invalid_values_are_refused_without_showing_them():
    with pytest.raises(ConfigError) as error:
        compose("/app/prod", params(BAD=CANARY + "\0", GOOD=CANARY), {"bad-name": CANARY}, [])
    message = str(error.value)
    assert "BAD:" in message and "bad-name:" in message
    assert CANARY not in message
