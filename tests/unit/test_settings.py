"""The settings mechanism: strict types, whole matches, every problem at once, never a value."""

from typing import Literal

import pytest

from ssmenv.errors import ConfigError
from ssmenv.settings import (
    REQUIRED,
    AtLeast,
    Json,
    Line,
    Matching,
    Setting,
    Settings,
    StrictBool,
    StrictStr,
    markdown_table,
    read,
)

GROUP = Settings("example", (
    Setting("name", Matching(r"[a-z][a-z0-9-]{0,30}", "lowercase letters and dashes"), "app",
            "The name."),
    Setting("port", AtLeast(1), 3000, "A port."),
    Setting("runtime", Literal["node", "python"], "node", "The runtime."),
    Setting("env", Json(dict[str, StrictStr]), {}, "Variables."),
    Setting("names", Json(list[StrictStr]), [], "Names.", parse=tuple),
    Setting("keep", StrictBool, True, "A switch."),
    Setting("size", Line, "500M", "One line."),
    Setting("inventory", StrictStr, REQUIRED, "Must be given."),
))  # fmt: skip


def problems(data: dict) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        read(data, [GROUP])
    return str(caught.value).splitlines()[1:]


def test_unset_settings_take_their_defaults_and_parse_shapes_them():
    values = read({"inventory": "prod.py", "names": '["A", "B"]'}, [GROUP])
    assert values == {"name": "app", "port": 3000, "runtime": "node", "env": {}, "keep": True,
                      "names": ("A", "B"), "size": "500M", "inventory": "prod.py"}  # fmt: skip


def test_every_problem_is_one_line_naming_the_key_and_none_shows_the_value():
    found = problems({
        "name": "app\nExecStartPre=+/bin/sh", "port": True, "runtime": "java",
        "env": {"A": 1}, "names": 5, "keep": "FAKE-yes", "size": "5\n00M",
    })  # fmt: skip
    assert found == [
        "  name: must be lowercase letters and dashes",
        "  port: Input should be a valid integer",
        "  runtime: Input should be 'node' or 'python'",
        "  env['A']: Input should be a valid string",
        "  names: Input should be a valid list",
        "  keep: Input should be a valid boolean",
        "  size: must be one line of text, without control characters",
        "  inventory: required",
    ]
    assert not any("FAKE" in line or "ExecStartPre" in line for line in found)


def test_a_number_is_a_number_or_its_digits_and_limits_hold():
    assert read({"inventory": "x", "port": "3000"}, [GROUP])["port"] == 3000
    for wrong in ("http", "1.5", True, 3000.0):
        assert problems({"inventory": "x", "port": wrong}) == [
            "  port: Input should be a valid integer"
        ], wrong
    assert problems({"inventory": "x", "port": 0}) == ["  port: must be 1 or more"]


def test_a_whole_match_refuses_a_trailing_newline():
    assert problems({"inventory": "x", "name": "app\n"}) == [
        "  name: must be lowercase letters and dashes"
    ]


def test_the_readme_table_has_a_type_column():
    table = markdown_table([GROUP])
    assert table.splitlines()[0] == "| key | type | default | meaning |"
    assert "| `port` | integer | `3000` | A port. |" in table
    assert '| `runtime` | `"node"` or `"python"` | `"node"` | The runtime. |' in table
    assert "| `env` | map of string to string | `{}` | Variables. |" in table
    assert "| `inventory` | string | required | Must be given. |" in table
