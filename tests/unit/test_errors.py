"""One exception hierarchy: every problem area's error is an ``SsmEnvError``, and at the top level
(``python -m ssmenv``) it is one line, the traceback only with ``--debug``."""

from __future__ import annotations

import pytest

from ssmenv import cli, dotenv_import, envfile, errors, report, scan
from ssmenv.errors import SsmEnvError

AREAS = [
    (errors.ConfigError, None),
    (errors.SourceError, None),
    (errors.EnvFileError, envfile),
    (errors.DotenvImportError, dotenv_import),
    (errors.ScanError, scan),
    (errors.ReportError, report),
]


def raise_(error: type[SsmEnvError]):
    if error is errors.EnvFileError:
        return errors.EnvFileError([envfile.Problem("A", "why")])
    return error("what went wrong, naming the key")


@pytest.mark.parametrize(("error", "module"), AREAS, ids=[e.__name__ for e, _ in AREAS])
def test_every_areas_error_is_an_ssmenv_error_and_its_module_names_the_same_class(error, module):
    assert issubclass(error, SsmEnvError)
    if module is not None:
        assert getattr(module, error.__name__) is error


def test_an_env_file_error_is_still_a_value_error():
    assert isinstance(raise_(errors.EnvFileError), ValueError)


def command(error: type[SsmEnvError]) -> cli.Command:
    def run(args):
        raise raise_(error)

    return cli.Command("fail", "raises", lambda parser: None, run, error=7)


@pytest.mark.parametrize(("error", "module"), AREAS, ids=[e.__name__ for e, _ in AREAS])
def test_the_command_line_prints_an_error_as_one_line_and_exits_with_the_commands_status(
    error, module, capsys
):
    assert cli.main(["fail"], commands=[command(error)]) == 7
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [f"ssmenv fail: error: {raise_(error)}"]
    assert "Traceback" not in captured.err + captured.out


@pytest.mark.parametrize(("error", "module"), AREAS, ids=[e.__name__ for e, _ in AREAS])
def test_debug_gives_the_traceback(error, module):
    with pytest.raises(error):
        cli.main(["--debug", "fail"], commands=[command(error)])
