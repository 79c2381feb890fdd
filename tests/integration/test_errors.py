"""The toolkit's errors at the top level, as a user meets them: one line from the pyinfra CLI
(``--> pyinfra error ...``) and from ``python -m ssmenv``, the traceback only with ``--debug``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PYINFRA = Path(sys.executable).with_name("pyinfra")

# A deploy file that fails while pyinfra prepares it, before any operation: @local is safe.
FAILING_DEPLOY = {
    "EnvFileError": "from ssmenv.envfile import EnvFileError, Problem\n"
    "raise EnvFileError([Problem('API_KEY', 'value contains a NUL character')])\n",
    "ConfigError": "from ssmenv.config import AppConfig\nAppConfig.from_data({})\n",
}


@pytest.mark.parametrize("error", sorted(FAILING_DEPLOY))
def test_pyinfra_prints_the_toolkits_errors_as_one_pyinfra_error(error, tmp_path):
    deploy = tmp_path / "deploy_fails.py"
    deploy.write_text(FAILING_DEPLOY[error])
    result = subprocess.run(
        [str(PYINFRA), "-y", "@local", str(deploy)],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "--> pyinfra error in" in output, output
    assert "Traceback" not in output and "An exception occurred" not in output, output


def ssmenv(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ssmenv", *args],
        cwd=cwd, env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["scan", "."], r"ssmenv scan: error: \S+: not inside a git work tree"),
        (["import", "absent.env", "--ssm-path", "/a"], r"ssmenv import: error: absent\.env: "),
    ],
    ids=["ScanError", "DotenvImportError"],
)
def test_python_m_ssmenv_prints_an_error_as_one_line(args, line, tmp_path):
    result = ssmenv(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and re.match(line, result.stderr), result.stderr
    debug = ssmenv("--debug", *args, cwd=tmp_path)
    assert "Traceback (most recent call last)" in debug.stderr
