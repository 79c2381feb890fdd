"""The rotation's database and SSM sides (ssmenv.dbrotate) against the lab's real PostgreSQL and
the AWS stand-in, the rollout and the drift check given as the command's own callables (what
the hosts do with the credentials is tests/e2e/test_database.py's): each step's outcome in the
database and in SSM, a rerun after a step that failed resumes there, no password in what it
says."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest

from lab import postgres
from lab.ports import free_port
from ssmenv.databases import Login
from ssmenv.dbrotate import Places, Store, abort, rotate
from ssmenv.errors import SsmEnvError
from tests.conftest import StandIn, aws_only, db_rotate_policy

PARAM = "/it/db-rotate/DATABASE_URL"
ADMIN_PARAM = "/it/db-rotate/DATABASE_ADMIN_URL"
APP_PASSWORD = "FAKE-it-app-password-canary"
ADMIN_PASSWORD = "FAKE-it-admin-password-canary"
PLACES = Places(PARAM, ADMIN_PARAM)


@pytest.fixture(scope="module")
def database() -> Iterator[postgres.Cluster]:
    port = free_port()
    cluster = postgres.up(port)
    try:
        postgres.create_app(cluster, APP_PASSWORD, "ssmenv_admin", ADMIN_PASSWORD)
        yield cluster
    finally:
        postgres.down(port)


@pytest.fixture
def aws(stand_in: StandIn, database, monkeypatch) -> StandIn:
    """The stand-in for this process, the app's and the administrator's URLs in SSM, no
    rotation under way."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    for name, value in stand_in.env.items():
        monkeypatch.setenv(name, value)
    stand_in.put({PARAM: database.url("app", APP_PASSWORD),
                  ADMIN_PARAM: database.url("ssmenv_admin", ADMIN_PASSWORD)})  # fmt: skip
    stand_in.delete(PLACES.state, PLACES.pending)
    database.psql("ALTER ROLE app PASSWORD 'FAKE-it-app-password-canary'; "
                  "DROP ROLE IF EXISTS app_clone;")  # fmt: skip
    return stand_in


def current(stand_in: StandIn, name: str = PARAM) -> Login:
    value = stand_in.ssm().get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    return Login.parse(value, name)


def test_a_rotation_moves_the_app_to_the_other_role_and_retires_the_first(
    aws, database, capsys
):
    rollouts = []
    status = rotate(PLACES, None, rollout=lambda: rollouts.append(current(aws).user) or 0,
                    behind=lambda: 0)  # fmt: skip
    assert status == 0
    new = current(aws)
    # The rollout ran once, after the parameter named the new role.
    assert rollouts == ["app_clone"]
    assert new.user == "app_clone" and new.password != APP_PASSWORD
    assert database.login(new.user, new.password)
    assert not database.login("app", APP_PASSWORD)
    # The clone has the first role's grants: it reads and writes the table app owns.
    assert database.psql("SELECT pg_has_role('app_clone', 'app', 'USAGE')").strip() == "t"
    # Nothing left of the rotation in SSM; the parameter's type is still SecureString.
    assert Store(PLACES, None).state() is None and Store(PLACES, None).get(PLACES.pending) is None
    assert aws.ssm().get_parameter(Name=PARAM)["Parameter"]["Type"] == "SecureString"
    out = capsys.readouterr()
    assert [line.split(": ")[2] for line in out.out.splitlines()[1:]] == [
        "prepared", "password-set", "written", "rolled-out", "retired", "done"]
    for secret in (APP_PASSWORD, ADMIN_PASSWORD, new.password):
        assert secret not in out.out + out.err

    # The next rotation goes back to the first role, and retires the clone.
    assert rotate(PLACES, None, rollout=lambda: 0, behind=lambda: 0) == 0
    back = current(aws)
    assert back.user == "app" and database.login("app", back.password)
    assert not database.login("app_clone", new.password)


def test_a_failed_rollout_stops_before_the_previous_role_changes_and_a_rerun_resumes(
    aws, database, capsys
):
    with pytest.raises(SsmEnvError, match="role 'app' is untouched"):
        rotate(PLACES, None, rollout=lambda: 1, behind=lambda: 0)
    assert json.loads(aws.ssm().get_parameter(Name=PLACES.state)["Parameter"]["Value"])[
        "phase"] == "written"
    assert database.login("app", APP_PASSWORD)  # the hosts that still hold it keep working
    pending = current(aws)
    assert pending.user == "app_clone" and database.login("app_clone", pending.password)

    # A drift check that finds a host behind stops there too.
    with pytest.raises(SsmEnvError, match="1 hosts do not serve"):
        rotate(PLACES, None, rollout=lambda: 0, behind=lambda: 1)
    assert database.login("app", APP_PASSWORD)

    steps = []
    assert rotate(PLACES, None, rollout=lambda: steps.append("rollout") or 0,
                  behind=lambda: 0) == 0  # fmt: skip
    assert steps == ["rollout"]
    # The same new password all along: the hosts the first try reached keep working.
    assert current(aws) == pending
    assert not database.login("app", APP_PASSWORD)
    assert "resuming the rotation from 'app' to 'app_clone' after written" in (
        capsys.readouterr().out)


@pytest.mark.parametrize("phase", ["prepared", "password-set", "written", "rolled-out"])
def test_a_rotation_stopped_after_any_phase_resumes_with_the_same_new_password(
    aws, database, phase
):
    class Stop(Exception):
        pass

    def stop_at(reached: str) -> None:
        if reached.endswith(f": {phase}: ") or f": {phase}: " in reached:
            raise Stop

    with pytest.raises(Stop):
        rotate(PLACES, None, rollout=lambda: 0, behind=lambda: 0, say=stop_at)
    pending = Login.parse(Store(PLACES, None).get(PLACES.pending)[0], "pending")
    assert database.login("app", APP_PASSWORD)
    assert rotate(PLACES, None, rollout=lambda: 0, behind=lambda: 0) == 0
    assert current(aws) == pending
    assert database.login("app_clone", pending.password)
    assert not database.login("app", APP_PASSWORD)


def test_a_dry_run_says_each_step_and_changes_nothing(aws, database, capsys):
    assert rotate(PLACES, None, rollout=lambda: 1 / 0, behind=lambda: 1 / 0, dry_run=True) == 0
    said = capsys.readouterr().out
    assert "would set the new password on the other role in the database" in said
    assert "would give the previously active role a random password nobody holds (role 'app')" in (
        said)
    assert current(aws).password == APP_PASSWORD and Store(PLACES, None).state() is None
    assert database.psql("SELECT count(*) FROM pg_roles WHERE rolname = 'app_clone'").strip() == (
        "0")


def test_abort_puts_the_previous_credentials_back(aws, database):
    with pytest.raises(SsmEnvError):
        rotate(PLACES, None, rollout=lambda: 1, behind=lambda: 0)
    assert abort(PLACES, None, rollout=lambda: 0) == 0
    assert current(aws).user == "app" and current(aws).password == APP_PASSWORD
    assert Store(PLACES, None).state() is None
    assert database.login("app", APP_PASSWORD)


def test_an_administrator_that_cannot_log_in_is_named_without_its_password(aws, database):
    aws.put({ADMIN_PARAM: database.url("ssmenv_admin", "FAKE-wrong-admin-canary")})
    with pytest.raises(SsmEnvError) as failed:
        rotate(PLACES, None, rollout=lambda: 0, behind=lambda: 0)
    assert "'ssmenv_admin' cannot log in" in str(failed.value)
    assert "FAKE-wrong-admin-canary" not in str(failed.value)
    assert database.login("app", APP_PASSWORD)


def test_the_policy_it_prints_is_enough_for_a_rotation_and_short_of_it_nothing_changes(
    enforcing_aws, database, monkeypatch
):
    enforcing_aws.put({PARAM: database.url("app", APP_PASSWORD),
                       ADMIN_PARAM: database.url("ssmenv_admin", ADMIN_PASSWORD)})  # fmt: skip
    database.psql("ALTER ROLE app PASSWORD 'FAKE-it-app-password-canary'; "
                  "DROP ROLE IF EXISTS app_clone;")  # fmt: skip
    printed = db_rotate_policy(enforcing_aws, "--parameter", PARAM, "--admin-parameter",
                               ADMIN_PARAM)  # fmt: skip
    # Without the statement that keeps its state, the rotation stops at its first step, before
    # the database changes.
    short = {**printed, "Statement": [s for s in printed["Statement"]
                                      if s["Sid"] != "KeepTheRotationState"]}  # fmt: skip
    aws_only(monkeypatch, enforcing_aws, **enforcing_aws.user("rotator-short", short))
    with pytest.raises(SsmEnvError) as refused:
        rotate(PLACES, None, rollout=lambda: 0, behind=lambda: 0)
    assert "AccessDenied" in str(refused.value) and PLACES.state in str(refused.value)
    assert database.login("app", APP_PASSWORD)

    aws_only(monkeypatch, enforcing_aws, **enforcing_aws.user("rotator", printed))
    assert rotate(PLACES, None, rollout=lambda: 0, behind=lambda: 0) == 0
    new = current(enforcing_aws)
    assert new.user == "app_clone" and database.login(new.user, new.password)
    assert not database.login("app", APP_PASSWORD)
