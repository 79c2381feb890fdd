"""A release ships what git hands over of the app's source: a real git repository (the example
app) with git-ignored files beside it, a ``config/production.env`` and an ``.npmrc`` with FAKE
credentials, deployed onto the real test hosts by the real pyinfra CLI."""

from __future__ import annotations

import shutil

import pytest

from tests.e2e.conftest import APP, REPO, Base, RunResult, example_parameters
from tests.fixtures.scan_repo import git, write

PATH = "/e2e/release-files"
# What a developer keeps beside the code and git ignores: it must never reach a host.
IGNORED = {
    "config/production.env": "DATABASE_PASSWORD=FAKE-ignored-production-password\n",
    ".npmrc": "//registry.npmjs.org/:_authToken=FAKE-ignored-npm-token\n",
}
LINE = f"{APP}: 2 ignored by git, left out of the release: .npmrc, config/production.env"
LINE_AFTER = f"{APP}: 3 ignored by git, left out of the release: .npmrc, config/production.env, "
LINE_AFTER += "npm-debug.log"


@pytest.fixture(scope="module")
def app_repository(tmp_path_factory):
    """The example app as its own git repository, the ignored files in its work tree."""
    source = tmp_path_factory.mktemp("release-files") / APP
    shutil.copytree(REPO / "examples" / "app", source)
    write(source, {".gitignore": ".env*\nnode_modules/\nconfig/production.env\n.npmrc\n*.log\n"})
    git(source, "init", "-q", "-b", "main")
    git(source, "add", "-A")
    git(source, "commit", "-q", "-m", "the app")
    write(source, IGNORED)
    return source


@pytest.fixture(scope="module")
def base(app_repository) -> Base:
    return Base(example_parameters(PATH, "release-files"), data(app_repository))


@pytest.fixture(scope="module")
def deployed(base, deployer, stand_in) -> RunResult:
    """The first deploy, whatever its outcome: the first test says whether it worked."""
    stand_in.put(base.values)
    return deployer.run(data=base.data)


def data(source) -> dict[str, str]:
    return {"ssm_path": PATH, "app_source": str(source)}


def test_git_ignored_files_never_reach_the_hosts_and_the_app_runs(deployed, lab_hosts):
    assert deployed.returncode == 0, deployed.output[-3000:]
    for host in lab_hosts:
        current = f"/opt/{APP}/current"
        for name in IGNORED:
            assert host.file_state(f"{current}/{name}") == "absent", f"{host.name}: {name}"
        assert host.file_state(f"{current}/server.js").startswith("root:root 644\n")
        assert host.run(f"sudo grep -rl FAKE-ignored /opt/{APP}/ || true") == ""
        assert host.get("/healthz") == b"ok\n"


def test_the_deploy_names_what_git_left_out_once_and_never_its_content(deployed):
    lines = [line for line in deployed.output.splitlines() if "left out of the release" in line]
    assert len(lines) == 1 and lines[0].endswith(LINE), lines
    for content in IGNORED.values():
        assert content.strip() not in deployed.output
        assert content.split("=", 1)[1].strip() not in deployed.output



def test_more_ignored_files_make_no_new_release_and_a_redeploy_changes_nothing(
    deployed, deployer, app_repository, lab_hosts
):
    assert deployed.returncode == 0, deployed.output[-3000:]
    before = {h.name: h.run(f"readlink /opt/{APP}/current") for h in lab_hosts}
    write(app_repository, {"npm-debug.log": "FAKE-ignored-log-line\n"})
    again = deployer.run(data=data(app_repository))
    assert again.returncode == 0, again.output[-3000:]
    assert {name: n for name, n in again.changed.items() if n} == {}
    assert LINE_AFTER in again.output
    assert {h.name: h.run(f"readlink /opt/{APP}/current") for h in lab_hosts} == before
