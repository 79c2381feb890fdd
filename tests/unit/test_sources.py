"""The sources' registry: host data checked strictly into each source's spec, one summary, the
sources table of docs/sources.md, and no import cycle with the configuration or the variables."""

import subprocess
import sys
from pathlib import Path

import pytest

from ssmenv import sources
from ssmenv.config import AppConfig
from ssmenv.errors import ConfigError
from ssmenv.variables import PRECEDENCE

PAGE = Path(__file__).parents[2] / "docs" / "sources.md"


def test_the_registry_is_the_precedence_of_the_sources():
    assert PRECEDENCE[1:-2] == tuple(s.kind for s in sources.REGISTRY)
    assert PRECEDENCE[1:-2] == ("ssm_path", "ssm_parameters", "secrets")


def test_the_docs_sources_table_is_generated_from_the_registry():
    table = sources.markdown_table()
    assert [line.split(" | ")[0] for line in table.splitlines()[2:]] == [
        "| SSM by path", "| SSM by name", "| Secrets Manager", "| group data",
    ]  # fmt: skip
    assert table in PAGE.read_text(), "docs/sources.md's table is stale: python -m ssmenv.sources"


def test_python_m_ssmenv_sources_prints_the_table():
    printed = subprocess.run(
        [sys.executable, "-m", "ssmenv.sources"], capture_output=True, text=True, check=True
    ).stdout
    assert printed.strip() == sources.markdown_table()


def test_a_setting_shared_by_sources_is_listed_once():
    assert sources.settings().keys == (
        "aws_region", "ssm_path", "ssm_path_map", "ssm_parameters", "secrets",
    )  # fmt: skip


def test_only_the_sources_host_data_uses_get_a_spec():
    specs = AppConfig.from_data({"ssm_path": "/app/prod/", "secrets": "app/db"}).sources
    assert list(specs) == ["ssm_path", "secrets"]
    assert (specs["ssm_path"].region, specs["ssm_path"].path) == ("us-east-1", "/app/prod")
    assert [s.id for s in specs["secrets"].secrets] == ["app/db"]  # one secret: a list of one


def test_the_summary_names_each_source_once():
    config = AppConfig.from_data(
        {"ssm_path": "/app/prod", "ssm_parameters": ["/a/B", "/a/C:2"], "secrets": ["s"]}
    )
    assert config.sources_summary == "SSM /app/prod, 2 SSM parameters, 1 secret, host data"
    assert sources.describe({}) == "host data"


@pytest.mark.parametrize(
    ("data", "line"),
    [
        ({"ssm_path": "relative/path"}, "ssm_path: must be an SSM path starting with /"),
        ({"ssm_path": "/app/prod\n"}, "ssm_path: must be an SSM path starting with /"),
        ({"ssm_path": 5}, "ssm_path: Input should be a valid string"),
        ({"ssm_path_map": 5}, "ssm_path_map: Input should be a valid dictionary"),
        ({"ssm_path_map": {"db/url": 5}}, "ssm_path_map['db/url']: Input should be a valid str"),
        ({"ssm_parameters": 5}, "ssm_parameters: must be a list of parameter names or a dict"),
        ({"ssm_parameters": [5]}, "ssm_parameters: must be a list of parameter names or a dict"),
        ({"ssm_parameters": {"A": 5}}, "ssm_parameters: must be a list of parameter names or a"),
        ({"ssm_parameters": ["/a/B\n"]}, "ssm_parameters: '/a/B\\n': a parameter name is"),
        ({"secrets": 5}, "secrets[0]: must be a secret id or a dict with an id"),
        ({"secrets": [{"id": 5}]}, "secrets[0]: needs an id"),
        ({"aws_region": "us-east-1\n"}, "aws_region: must be an AWS region such as us-east-1"),
        # Every name host data gives a variable is a variable name, shown escaped when not.
        ({"ssm_path_map": {"db/url": "DB\nUser=root"}},
         "ssm_path_map['db/url']: must be a variable name (letters, digits and _, not starting"),
        ({"ssm_path_map": {"db/url\nX": "DB"}},
         "ssm_path_map['db/url\\nX']: must be a parameter's path relative to ssm_path"),
        ({"ssm_parameters": {"A\nB": "/a/B"}},
         "ssm_parameters: /a/B: the variable 'A\\nB' is not a variable name"),
        ({"ssm_parameters": ["/a/db.url"]},
         "ssm_parameters: /a/db.url: its last path component is not a variable name"),
        ({"secrets": [{"id": "s", "variable": "A\nB"}]},
         "secrets[0]: variable (for a plain-string secret) is a variable name"),
        ({"secrets": [{"id": "s", "prefix": "DB-"}]},
         "secrets[0]: prefix must be the start of a variable name"),
        ({"secrets": [{"id": "s\nX"}]}, "secrets[0]: needs an id: the secret's name or ARN"),
        ({"secrets": [{"id": "s", "as_json": "A"}]},
         "secrets[0]: as_json must be a list of the secret's keys"),
        ({"secrets": [{"id": "s", "variable": "A", "as_json": ["A"]}]},
         "secrets[0]: variable (for a plain-string secret) is a variable name"),
        ({"secrets": [{"id": "s", "prefixx": "A\nB"}]}, "secrets[0]: unknown keys prefixx"),
        ({"env": {"A\nB": "1"}}, "env['A\\nB']: must be a variable name"),
        ({"env_required": ["A B"]}, "env_required[0]: must be a variable name"),
        ({"env_overrides": ["A\nB"]}, "env_overrides[0]: must be a variable name"),
        ({"env_contract": {"A\nB": {}}}, "env_contract: 'A\\nB': not a variable name"),
    ],
)
def test_a_bad_source_setting_is_one_line_naming_its_key_never_a_type_error(data, line):
    with pytest.raises(ConfigError) as error:
        AppConfig.from_data({"ssm_path": "/a", **data})
    problems = str(error.value).splitlines()[1:]
    assert len(problems) == 1 and problems[0].strip().startswith(line), problems


def test_without_any_source_the_message_says_which_to_set():
    with pytest.raises(ConfigError) as error:
        AppConfig.from_data({"env": {"A": "1"}})
    assert str(error.value).splitlines()[1:] == [
        "  ssm_path: no configuration source: set ssm_path (for example /my-app/prod), "
        "ssm_parameters or secrets"
    ]


@pytest.mark.parametrize("module", ["ssmenv.sources", "ssmenv.variables"])
def test_the_sources_and_the_variables_do_not_import_the_configuration(module):
    # The config -> sources -> variables cycle is gone: specs are parsed where they are defined.
    code = f"import sys, {module}; print(sorted(m for m in sys.modules if m == 'ssmenv.config'))"
    printed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert printed.stdout.strip() == "[]", printed.stderr
