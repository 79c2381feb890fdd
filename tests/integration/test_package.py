"""The package a user installs: a wheel built from this checkout, installed into a fresh virtualenv
outside it, its ``python -m ssmenv`` run from another directory, with nothing of the checkout on
its path.

Offline but for the build backend (fetched once by pip's build isolation, then cached): the
virtualenv takes its dependencies from this test environment's site-packages (a ``.pth`` file,
after its own), and the wheel is installed with ``--no-deps``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from ssmenv import envfile
from tests.fixtures import scan_repo

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Installed:
    """A virtualenv holding the installed wheel, and a working directory outside the checkout."""

    python: Path
    site_packages: Path
    cwd: Path

    def run(
        self, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> subprocess.CompletedProcess:
        clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        return subprocess.run(
            [str(self.python), *args], cwd=cwd or self.cwd, env={**clean, **(env or {})},
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    def ssmenv(self, argv: Sequence[str], **kwargs) -> subprocess.CompletedProcess:
        return self.run("-m", "ssmenv", *argv, **kwargs)


def _pip(*args: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    tmp = tmp_path_factory.mktemp("package")
    _pip("wheel", "--quiet", "--no-deps", "--wheel-dir", str(tmp / "dist"), str(REPO))
    (wheel,) = (tmp / "dist").glob("ssmenv-*.whl")
    venv.create(tmp / "venv", with_pip=False)
    python = tmp / "venv" / "bin" / "python"
    site_packages = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    )  # fmt: skip
    (site_packages / "test-environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _pip("--python", str(python), "install", "--quiet", "--no-deps", str(wheel))
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    return Installed(python, site_packages, elsewhere)


def test_the_installed_package_is_the_one_imported_not_the_checkout(installed):
    result = installed.run("-c", "import ssmenv; print(ssmenv.__file__)")
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()).is_relative_to(installed.site_packages)


def test_help_lists_every_command(installed):
    result = installed.ssmenv(["--help"])
    assert result.returncode == 0, result.stderr
    for command in ("import", "scan", "parity", "plan", "drift", "schedule"):
        assert f"    {command} " in result.stdout


def test_the_templates_and_remote_programs_are_found_inside_the_package(installed, tmp_path):
    (tmp_path / "server.js").touch()  # what the node runtime's default start command runs
    code = (
        "import sys; from ssmenv import remote, render; from ssmenv.config import AppConfig\n"
        "print(render.TEMPLATES)\n"
        "assert 'main() {' in remote.program('activate')\n"
        "config = AppConfig.from_data({'ssm_path': '/a', 'app_name': 'shop',"
        f" 'app_source': {str(tmp_path)!r}}})\n"
        "sys.stdout.write(render.unit_file(config))\n"
        "sys.stdout.write(render.env_file('shop', 'SSM /a', {'A': 'it is $HOME', 'B': ''}))\n"
    )
    result = installed.run("-c", code)

    assert result.returncode == 0, result.stderr
    templates, rendered = result.stdout.split("\n", 1)
    assert Path(templates) == installed.site_packages / "ssmenv" / "templates"
    unit, env = rendered.split("# shop: managed by ssmenv from", 1)
    assert "EnvironmentFile=/etc/shop.env\n" in unit
    assert envfile.parse("#" + env) == {"A": "it is $HOME", "B": ""}


def test_scan_finds_the_planted_keys(installed, tmp_path):
    built = scan_repo.build(tmp_path / "app")
    result = installed.ssmenv(["scan", str(built.path)], env=scan_repo.GIT_ENV)
    assert result.returncode == 1, result.stderr
    assert "src/aws.js" in result.stdout
    assert not any(value in result.stdout for value in scan_repo.PLANTED_VALUES)


def test_import_dry_run_and_parity_read_the_stand_in(installed, stand_in, tmp_path):
    stand_in.put({"/pkg/staging/API_KEY": "FAKE-pkg-1", "/pkg/prod/API_KEY": "FAKE-pkg-2",
                  "/pkg/prod/ONLY_PROD": "FAKE-pkg-3"})  # fmt: skip
    dotenv = tmp_path / ".env"
    dotenv.write_text("API_KEY=FAKE-pkg-1\nNEW_ONE=FAKE-pkg-4\n")
    groups = tmp_path / "group_data"
    groups.mkdir()
    for group in ("staging", "prod"):
        (groups / f"{group}.py").write_text(f"ssm_path = '/pkg/{group}'\n")
    (tmp_path / "examples" / "app").mkdir(parents=True)  # app_source's default, from here
    (tmp_path / "examples" / "app" / "server.js").touch()  # with the node runtime's entry file

    imported = installed.ssmenv(["import", str(dotenv), "--ssm-path", "/pkg/staging",
                                 "--dry-run"], env=stand_in.env)  # fmt: skip
    parity = installed.ssmenv(["parity", "staging", "prod", "--group-data", str(groups)],
                              env=stand_in.env, cwd=tmp_path)  # fmt: skip

    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert "dry run: nothing written" in imported.stdout
    assert "NEW_ONE" in imported.stdout
    assert parity.returncode == 2, parity.stdout + parity.stderr
    assert "only in prod: ONLY_PROD" in parity.stdout
    assert "FAKE-pkg" not in imported.stdout + parity.stdout
