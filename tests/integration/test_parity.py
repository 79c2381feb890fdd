"""Parity between two environments' group data, read from the stand-in: names only."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ssmenv import cli, sources
from tests.integration.test_sources import put_secrets

REPO = Path(__file__).resolve().parents[2]
ALL = 'app_name = "example-app"\nenv_required = ["A"]\n'


@pytest.fixture
def group_data(tmp_path, aws_env):
    sources.clear_cache()
    aws_env.put(
        {
            "/it/parity/staging/A": "FAKE-parity-a",
            "/it/parity/staging/DEBUG_TOOLBAR": "FAKE-parity-debug",
            "/it/parity/prod/A": "FAKE-parity-a-prod",
        }
    )
    put_secrets(aws_env, {"it/parity/prod": json.dumps({"SENTRY_DSN": "FAKE-parity-dsn"})})
    (tmp_path / "all.py").write_text(ALL)
    (tmp_path / "staging.py").write_text(
        'ssm_path = "/it/parity/staging"\nenv = {"LOG_LEVEL": "debug"}\n'
    )
    (tmp_path / "prod.py").write_text(
        'import os\nssm_path = "/it/parity/prod"\nsecrets = ["it/parity/prod"]\n'
        'env = {"LOG_LEVEL": "info"}\n'
    )
    yield tmp_path
    sources.clear_cache()


def test_names_in_one_environment_only_are_listed_with_their_source(group_data, capsys):
    status = cli.main(["parity", "staging", "prod", "--group-data", str(group_data)])
    out = capsys.readouterr().out
    assert status == 2  # as diff: they differ
    assert out.splitlines() == [
        "staging: 4 variables (SSM /it/parity/staging, host data)",
        "prod: 4 variables (SSM /it/parity/prod, 1 secret, host data)",
        "only in staging: DEBUG_TOOLBAR (from /it/parity/staging/DEBUG_TOOLBAR)",
        "only in prod: SENTRY_DSN (from secret it/parity/prod key SENTRY_DSN)",
    ]
    assert "FAKE" not in out


def test_an_environment_against_itself_has_parity(group_data, capsys):
    assert cli.main(["parity", "prod", "prod", "--group-data", str(group_data)]) == 0
    assert capsys.readouterr().out.splitlines()[-2:] == [
        "only in prod: (none)",
        "only in prod: (none)",
    ]


def test_an_environment_whose_source_cannot_be_read_is_an_error(group_data, capsys):
    (group_data / "broken.py").write_text('ssm_path = "/it/parity/staging"\nsecrets = ["nope"]\n')
    assert cli.main(["parity", "staging", "broken", "--group-data", str(group_data)]) == 1
    assert "secret nope: ResourceNotFoundException" in capsys.readouterr().err


def test_a_missing_required_name_says_which_file_requires_it(group_data, capsys):
    (group_data / "qa.py").write_text('ssm_path = "/it/parity/qa"\n')
    assert cli.main(["parity", "staging", "qa", "--group-data", str(group_data)]) == 2
    assert (
        "  A: required but missing (expected SSM parameter /it/parity/qa/A or host data env; "
        f"required by env_required in {group_data / 'all.py'})\n"
    ) in capsys.readouterr().err


def test_an_environment_without_group_data_is_an_error(group_data, capsys):
    assert cli.main(["parity", "staging", "qa", "--group-data", str(group_data)]) == 1
    assert "qa.py: no such group data file" in capsys.readouterr().err


def test_invalid_settings_are_an_error(group_data, capsys):
    (group_data / "bad.py").write_text('ssm_path = "relative/path"\n')
    assert cli.main(["parity", "staging", "bad", "--group-data", str(group_data)]) == 1
    assert "ssm_path" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [["staging"], ["staging", "prod", "--no-such-option"], ["staging", "prod", "extra"]],
    ids=["missing-argument", "unknown-option", "extra-argument"],
)
def test_bad_usage_is_an_error_not_a_difference(group_data, capsys, argv):
    assert cli.main(["parity", *argv, "--group-data", str(group_data)]) == 1
    assert "usage:" in capsys.readouterr().err


def test_the_command_line_exits_0_2_and_1(group_data, stand_in):
    """``python -m ssmenv parity`` and ``python -m ssmenv.parity`` in a process of their own."""
    env = {**os.environ, **stand_in.env}
    for module in (["ssmenv", "parity"], ["ssmenv.parity"]):
        def status(*args: str, module=module) -> int:
            command = [sys.executable, "-m", *module, *args, "--group-data", str(group_data)]
            return subprocess.run(command, env=env, capture_output=True, cwd=REPO).returncode

        assert status("prod", "prod") == 0, module
        assert status("staging", "prod") == 2, module
        assert status("staging", "absent") == 1, module
        assert status("staging") == 1, module
