"""``db rotate --secret``: the app's credentials in a Secrets Manager secret, against the lab's real
PostgreSQL and the AWS stand-in, the rollout and the drift check given as the command's own
callables (what the hosts do with them is tests/e2e/test_database.py's). The new login is the
secret's AWSPENDING version until its password works, then AWSCURRENT (what the secrets source,
and so every deploy and sync, reads) before the rollout; the previous role is retired only after
it; at the end AWSCURRENT is the new login and no label is left behind."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest

from lab import postgres
from lab.ports import free_port
from ssmenv import sources
from ssmenv.databases import Login, from_secret
from ssmenv.dbrotate import Places, Store, abort, rotate
from ssmenv.errors import SsmEnvError
from ssmenv.sources import secrets_manager
from tests.conftest import StandIn, aws_only, db_rotate_policy

SECRET = "it/db-rotate/app"
ADMIN_SECRET = "it/db-rotate/admin"
APP_PASSWORD = "FAKE-sm-app-password-canary"
ADMIN_PASSWORD = "FAKE-sm-admin-password-canary"
PLACES = Places(secret=SECRET, admin_secret=ADMIN_SECRET)


@pytest.fixture(scope="module")
def database() -> Iterator[postgres.Cluster]:
    port = free_port()
    cluster = postgres.up(port)
    try:
        postgres.create_app(cluster, APP_PASSWORD, "ssmenv_admin", ADMIN_PASSWORD)
        yield cluster
    finally:
        postgres.down(port)


def as_json(cluster: postgres.Cluster, user: str, password: str) -> str:
    """A secret as AWS's RDS rotation templates write it, with a key they add."""
    return json.dumps({"engine": "postgres", "host": "127.0.0.1", "port": cluster.port,
                       "username": user, "password": password, "dbname": postgres.DATABASE,
                       "dbInstanceIdentifier": "it-db"})  # fmt: skip


def put_secret(client, name: str, value: str) -> None:
    try:
        client.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    except client.exceptions.ResourceNotFoundException:
        pass
    client.create_secret(Name=name, SecretString=value)


@pytest.fixture
def aws(stand_in: StandIn, database, monkeypatch) -> StandIn:
    """The stand-in for this process; the app's login in a JSON secret, the administrator's as
    a URL in another; no rotation under way."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    for name, value in stand_in.env.items():
        monkeypatch.setenv(name, value)
    client = stand_in.client("secretsmanager")
    put_secret(client, SECRET, as_json(database, "app", APP_PASSWORD))
    put_secret(client, ADMIN_SECRET, database.url("ssmenv_admin", ADMIN_PASSWORD))
    stand_in.delete(PLACES.state)
    database.psql("ALTER ROLE app PASSWORD 'FAKE-sm-app-password-canary'; "
                  "DROP ROLE IF EXISTS app_clone;")  # fmt: skip
    return stand_in


def served(name: str = SECRET) -> tuple[Login, str]:
    """What a deploy or a sync reads now: the secrets source's AWSCURRENT (and its version)."""
    sources.clear_cache()
    found = secrets_manager.secret_values("us-east-1", [(name, "AWSCURRENT")])[(name, "AWSCURRENT")]
    return from_secret(found.value, name), found.version_id


def stages(stand_in: StandIn) -> dict[str, list[str]]:
    return stand_in.client("secretsmanager").describe_secret(SecretId=SECRET)["VersionIdsToStages"]


def test_a_secret_is_rotated_pending_then_current_before_the_rollout_and_the_old_role_retired_after(
    aws, database, capsys
):
    _, first_version = served()
    seen = []

    def rollout() -> int:
        # What the hosts get: the new role, AWSCURRENT, the previous version kept as AWSPREVIOUS;
        # and the previous role still logs in (hosts not reached yet keep working).
        login, _ = served()
        seen.append((login.user, stages(aws)[first_version], database.login("app", APP_PASSWORD)))
        return 0

    assert rotate(PLACES, None, rollout=rollout, behind=lambda: 0) == 0
    new, version = served()
    assert seen == [("app_clone", ["AWSPREVIOUS"], True)]
    assert new.user == "app_clone" and database.login("app_clone", new.password)
    assert not database.login("app", APP_PASSWORD)
    # AWSCURRENT is the new login; no AWSPENDING label and no state left behind.
    assert stages(aws)[version] == ["AWSCURRENT"]
    assert not any("AWSPENDING" in s for s in stages(aws).values())
    assert Store(PLACES, None).state() is None
    # The JSON secret keeps its other keys, in their order.
    value = json.loads(aws.client("secretsmanager").get_secret_value(SecretId=SECRET)[
        "SecretString"])
    assert list(value) == ["engine", "host", "port", "username", "password", "dbname",
                           "dbInstanceIdentifier"]  # fmt: skip
    out = capsys.readouterr()
    assert [line.split(": ")[2] for line in out.out.splitlines()[1:]] == [
        "prepared", "password-set", "written", "rolled-out", "retired", "done"]
    assert "AWSPENDING version" in out.out and "promote the AWSPENDING version" in out.out
    for secret in (APP_PASSWORD, ADMIN_PASSWORD, new.password):
        assert secret not in out.out + out.err

    # The next rotation goes back to the first role, and retires the clone.
    assert rotate(PLACES, None, rollout=lambda: 0, behind=lambda: 0) == 0
    back, _ = served()
    assert back.user == "app" and database.login("app", back.password)
    assert not database.login("app_clone", new.password)


def test_a_secret_holding_a_whole_url_stays_a_url(aws, database):
    put_secret(aws.client("secretsmanager"), SECRET, database.url("app", APP_PASSWORD))
    assert rotate(PLACES, None, rollout=lambda: 0, behind=lambda: 0) == 0
    value = aws.client("secretsmanager").get_secret_value(SecretId=SECRET)["SecretString"]
    new = Login.parse(value, SECRET)
    assert new.user == "app_clone" and database.login("app_clone", new.password)
    assert not database.login("app", APP_PASSWORD)


def test_a_failed_rollout_stops_before_the_previous_role_changes_and_abort_goes_back(
    aws, database
):
    _, first_version = served()
    with pytest.raises(SsmEnvError, match="role 'app' is untouched"):
        rotate(PLACES, None, rollout=lambda: 1, behind=lambda: 0)
    assert database.login("app", APP_PASSWORD)
    promoted, version = served()
    assert promoted.user == "app_clone" and stages(aws)[first_version] == ["AWSPREVIOUS"]

    # A rerun resumes with the same new password (hosts it reached keep working)...
    with pytest.raises(SsmEnvError, match="1 hosts do not serve"):
        rotate(PLACES, None, rollout=lambda: 0, behind=lambda: 1)
    assert served() == (promoted, version) and database.login("app", APP_PASSWORD)

    # ...or --abort puts the previous version back as AWSCURRENT, and the hosts get it.
    deployed = []
    assert abort(PLACES, None, rollout=lambda: deployed.append(served()[0].user) or 0) == 0
    assert deployed == ["app"]
    back, back_version = served()
    assert (back.user, back.password, back_version) == ("app", APP_PASSWORD, first_version)
    assert not any("AWSPENDING" in s for s in stages(aws).values())
    assert Store(PLACES, None).state() is None and database.login("app", APP_PASSWORD)


@pytest.mark.parametrize("phase", ["prepared", "password-set", "written", "rolled-out"])
def test_a_secret_rotation_stopped_after_any_phase_resumes_with_the_same_new_password(
    aws, database, phase
):
    class Stop(Exception):
        pass

    def stop_at(said: str) -> None:
        if f": {phase}: " in said:
            raise Stop

    with pytest.raises(Stop):
        rotate(PLACES, None, rollout=lambda: 0, behind=lambda: 0, say=stop_at)
    pending = from_secret(aws.client("secretsmanager").get_secret_value(
        SecretId=SECRET, VersionStage="AWSPENDING")["SecretString"], "pending")  # fmt: skip
    assert database.login("app", APP_PASSWORD)
    assert rotate(PLACES, None, rollout=lambda: 0, behind=lambda: 0) == 0
    assert served()[0] == pending
    assert database.login("app_clone", pending.password)
    assert not database.login("app", APP_PASSWORD)


def test_a_rotation_under_way_by_another_rotator_is_refused_before_anything_changes(
    aws, database
):
    # A rotation function's createSecret ran (AWSPENDING on a new version) and has not finished.
    client = aws.client("secretsmanager")
    client.put_secret_value(SecretId=SECRET, SecretString=as_json(database, "app_clone",
                            "FAKE-their-pending"), VersionStages=["AWSPENDING"])  # fmt: skip
    before = stages(aws)
    for dry_run in (True, False):
        with pytest.raises(SsmEnvError, match="another rotation is under way"):
            rotate(PLACES, None, rollout=lambda: 0, behind=lambda: 0, dry_run=dry_run)
    assert stages(aws) == before and Store(PLACES, None).state() is None
    assert database.psql("SELECT count(*) FROM pg_roles WHERE rolname = 'app_clone'").strip() == (
        "0")


def test_a_dry_run_of_a_secret_says_each_step_and_changes_nothing(aws, database, capsys):
    before = stages(aws)
    assert rotate(PLACES, None, rollout=lambda: 1 / 0, behind=lambda: 1 / 0, dry_run=True) == 0
    said = capsys.readouterr().out
    assert "would promote the AWSPENDING version to AWSCURRENT" in said
    assert APP_PASSWORD not in said
    assert stages(aws) == before and Store(PLACES, None).state() is None


def test_a_secret_named_by_its_arn_is_refused_before_anything_changes(aws, database):
    arn = aws.client("secretsmanager").describe_secret(SecretId=SECRET)["ARN"]
    with pytest.raises(SsmEnvError, match="give the secret's name"):
        rotate(Places(secret=arn, admin_secret=ADMIN_SECRET), None, rollout=lambda: 0,
               behind=lambda: 0)  # fmt: skip
    assert Store(PLACES, None).state() is None and served()[0].password == APP_PASSWORD


def test_a_secret_rotated_by_its_rotation_function_is_named_by_drift_until_deployed(
    aws, database
):
    # What drift.py does for a host: the variables now (the secrets source's AWSCURRENT) against
    # the manifest the host's last deploy wrote. A rotation function's steps are staged by hand
    # (a Lambda does not run in the stand-in): createSecret (AWSPENDING), setSecret (the clone's
    # password), finishSecret (AWSCURRENT moved).
    from ssmenv import manifest
    from ssmenv.config import AppConfig
    from ssmenv.plan.environment import in_manifest
    from tasks.environment import resolve

    config = AppConfig.from_data({"secrets": [{"id": SECRET, "prefix": "DB_"}]})
    key = manifest.new_key()

    def now() -> dict:
        sources.clear_cache()
        return in_manifest(resolve(config), config)

    deployed = manifest.build(config.name, key, now())
    assert manifest.compare(deployed, now(), key) == []
    client = aws.client("secretsmanager")
    old = client.describe_secret(SecretId=SECRET)["VersionIdsToStages"]
    new = client.put_secret_value(SecretId=SECRET, SecretString=as_json(
        database, "app_clone", "FAKE-sm-rotated"), VersionStages=["AWSPENDING"])["VersionId"]
    # Not promoted yet: nothing to deploy.
    assert manifest.compare(deployed, now(), key) == []
    client.update_secret_version_stage(SecretId=SECRET, VersionStage="AWSCURRENT",
                                       MoveToVersionId=new, RemoveFromVersionId=next(iter(old)))
    differences = manifest.compare(deployed, now(), key)
    # Every key's version moved; the values of two changed: those name the host as behind.
    assert {(d.deployed, d.current) for d in differences} == {(next(iter(old)), new)}
    assert manifest.differing(differences) == ["DB_password", "DB_username"]
    line = manifest.drift_line(differences, keyed=True)
    assert "FAKE" not in line and "DB_password" in line
    # The next deploy records AWSCURRENT: nothing behind.
    assert manifest.compare(manifest.build(config.name, key, now()), now(), key) == []


def test_a_secret_rotating_faster_than_its_hosts_sync_is_warned_of_before_anything_changes(
    aws, database, capsys
):
    # Secrets Manager rotates it every day (moto: RotationRules without a function, its value
    # kept); the hosts sync every 23 hours and a rollout takes an hour and a half.
    aws.client("secretsmanager").rotate_secret(
        SecretId=SECRET, RotationRules={"AutomaticallyAfterDays": 1}, RotateImmediately=False)
    asked = []
    periods = lambda: asked.append(1) or 23 * 3600  # noqa: E731
    before = stages(aws)
    assert rotate(PLACES, None, rollout=lambda: 0, behind=lambda: 0, dry_run=True,
                  sync_period=periods, rollout_time=5400) == 0  # fmt: skip
    said = capsys.readouterr().out.splitlines()
    assert said[0] == (
        f"db rotate: warning: secret {SECRET} rotates every 1d, but its hosts take up to 23h "
        "(sync period) + 1h 30min (a rollout) to take up a new version: the next rotation "
        "would change the previous role's password before every host has the new one")
    assert stages(aws) == before and asked == [1]
    # Hosts that keep up: no warning.
    assert rotate(PLACES, None, rollout=lambda: 0, behind=lambda: 0, dry_run=True,
                  sync_period=lambda: 3600, rollout_time=600) == 0  # fmt: skip
    assert "warning" not in capsys.readouterr().out


def test_a_secret_without_a_rotation_schedule_is_not_warned_of_nor_are_its_hosts_read(
    aws, database, capsys
):
    assert rotate(PLACES, None, rollout=lambda: 0, behind=lambda: 0, dry_run=True,
                  sync_period=lambda: 1 / 0, rollout_time=10**9) == 0  # fmt: skip
    assert "warning" not in capsys.readouterr().out


def test_the_hosts_sync_period_is_the_longest_pull_period_and_jitter_of_the_inventory(tmp_path):
    # Read as a deploy reads the inventory (pyinfra debug-inventory), the rollout's --data
    # included; no host contacted. A pushed host syncs only when deployed.
    import argparse

    from ssmenv import cli

    inventory = tmp_path / "shop.py"
    inventory.write_text("shop = [('web-1', {'delivery': 'pull', 'pull_period': '23h'}), "
                         "('web-2', {'delivery': 'pull'}), ('web-3', {})]\n")  # fmt: skip
    args = argparse.Namespace(inventory=str(inventory),
                              pyinfra_args=["--data", "pull_jitter=1h", "-vvv"])  # fmt: skip
    assert cli._sync_period(args) == 24 * 3600
    args.pyinfra_args = ["--data=delivery=push"]
    assert cli._sync_period(args) == 0
    # Hosts that pull by themselves, beside the rollout's (--pull-inventory).
    pulling = tmp_path / "shop_pull.py"
    pulling.write_text("shop = [('asg-1', {'delivery': 'pull', 'pull_period': '2h'})]\n")
    args = argparse.Namespace(inventory=str(inventory), pull_inventory=[str(pulling)],
                              pyinfra_args=["--data", "pull_jitter=0s"])  # fmt: skip
    assert cli._sync_period(args) == 23 * 3600
    assert cli._sync_period(args, [str(pulling)]) == 2 * 3600


def test_hosts_that_pull_are_waited_for_until_they_serve_awscurrent_then_the_old_role_retires(
    aws, database, capsys
):
    # After the rollout (the pushed hosts), drift still finds two hosts that pull behind, then
    # one, then none: their agents synced. The previous role keeps working until then.
    answers = iter([2, 1, 0])
    seen = []

    def behind() -> int:
        seen.append(database.login("app", APP_PASSWORD))
        return next(answers)

    assert rotate(PLACES, None, rollout=lambda: 0, behind=behind, wait_for_sync=lambda: 60,
                  poll=0.05) == 0  # fmt: skip
    assert seen == [True, True, True] and not database.login("app", APP_PASSWORD)
    assert ("2 hosts do not serve the new credentials yet: waiting up to 1min for those that "
            "pull to sync") in capsys.readouterr().out


def test_hosts_that_pull_and_never_sync_stop_the_rotation_at_the_deadline(aws, database):
    with pytest.raises(SsmEnvError, match="1 hosts do not serve the new credentials yet: role "
                       "'app' is untouched"):  # fmt: skip
        rotate(PLACES, None, rollout=lambda: 0, behind=lambda: 1, wait_for_sync=lambda: 0.3,
               poll=0.05)  # fmt: skip
    assert database.login("app", APP_PASSWORD)
    assert Store(PLACES, None).state().phase == "written"


def test_the_policy_it_prints_is_enough_for_a_rotation_and_short_of_it_nothing_changes(
    enforcing_aws, database, monkeypatch
):
    client = enforcing_aws.client("secretsmanager")
    put_secret(client, SECRET, as_json(database, "app", APP_PASSWORD))
    put_secret(client, ADMIN_SECRET, database.url("ssmenv_admin", ADMIN_PASSWORD))
    database.psql("ALTER ROLE app PASSWORD 'FAKE-sm-app-password-canary'; "
                  "DROP ROLE IF EXISTS app_clone;")  # fmt: skip
    printed = db_rotate_policy(enforcing_aws, "--secret", SECRET, "--admin-secret", ADMIN_SECRET)
    # Without the statement that reads and moves the secret's versions, the rotation stops at
    # its first step, before the database changes.
    short = {**printed, "Statement": [s for s in printed["Statement"]
                                      if s["Sid"] != "RotateTheSecret"]}  # fmt: skip
    aws_only(monkeypatch, enforcing_aws, **enforcing_aws.user("rotator-short", short))
    with pytest.raises(SsmEnvError) as refused:
        rotate(PLACES, None, rollout=lambda: 0, behind=lambda: 0)
    assert "AccessDenied" in str(refused.value) and SECRET in str(refused.value)
    assert database.login("app", APP_PASSWORD)

    aws_only(monkeypatch, enforcing_aws, **enforcing_aws.user("rotator", printed))
    assert rotate(PLACES, None, rollout=lambda: 0, behind=lambda: 0) == 0
    new = from_secret(client.get_secret_value(SecretId=SECRET)["SecretString"], SECRET)
    assert new.user == "app_clone" and database.login(new.user, new.password)
    assert not database.login("app", APP_PASSWORD)
