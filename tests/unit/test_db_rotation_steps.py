"""A database password rotation's steps as data (ssmenv.databases.steps): which role comes next,
which phases remain from any point, where a rerun resumes. By equality."""

import pytest

from ssmenv.databases import Login, new_password
from ssmenv.databases.steps import PHASES, STEPS, State, alternate, remaining, resume, start

PARAM = "/shop/prod/DATABASE_URL"


def test_the_roles_alternate_between_the_first_and_its_clone():
    assert alternate("app") == ("app_clone", "app")
    assert alternate("app_clone") == ("app", "app")
    assert alternate("_clone") == ("_clone_clone", "_clone")


def test_a_new_rotation_targets_the_role_not_in_use():
    assert start(PARAM, "app", 7) == State("started", PARAM, "app", "app_clone", 7)
    assert start(PARAM, "app_clone", 8) == State("started", PARAM, "app_clone", "app", 8)


def test_every_phase_but_the_first_is_reached_by_a_step_in_order():
    assert tuple(STEPS) == PHASES[1:]
    assert remaining("started") == PHASES[1:]
    assert remaining("written") == ("rolled-out", "retired", "done")
    assert remaining("retired") == ("done",)
    assert remaining("done") == ()


def test_a_rerun_resumes_the_stored_rotation_whatever_the_parameter_holds_now():
    # Killed after writing the parameter: it names the new role already; the rotation is still
    # the one from app to app_clone, and resumes after the write.
    stored = State("written", PARAM, "app", "app_clone", 7)
    assert resume(stored, PARAM, "app_clone", 8) == stored
    assert remaining(resume(stored, PARAM, "app_clone", 8).phase)[0] == "rolled-out"


def test_without_a_stored_rotation_a_run_starts_one():
    assert resume(None, PARAM, "app", 3) == State("started", PARAM, "app", "app_clone", 3)


def test_a_state_for_another_parameter_is_refused():
    with pytest.raises(ValueError, match="/other/DATABASE_URL"):
        resume(State("prepared", "/other/DATABASE_URL", "app", "app_clone", 1), PARAM, "app", 1)


def test_the_state_round_trips_through_its_json_and_holds_no_secret():
    state = State("password-set", PARAM, "app", "app_clone", 4)
    assert State.from_json(state.to_json()) == state
    assert set(__import__("json").loads(state.to_json())) == {
        "phase", "parameter", "previous_user", "new_user", "previous_version"}
    with pytest.raises(ValueError):
        State.from_json('{"phase": "sideways"}')


def test_a_login_shows_its_url_with_the_password_masked():
    login = Login.parse("postgres://app:FAKE-pw%2F1@db.internal:5432/app?sslmode=require", "X")
    assert (login.user, login.password, login.host, login.port, login.database) == (
        "app", "FAKE-pw/1", "db.internal", 5432, "app")
    assert login.masked == "postgres://app:***@db.internal:5432/app?sslmode=require"
    assert "FAKE" not in repr(login)
    assert Login.parse(login.url, "X") == login
    other = login.as_user("app_clone", "FAKE-new")
    assert other.url == "postgres://app_clone:FAKE-new@db.internal:5432/app?sslmode=require"


def test_a_url_without_a_password_is_refused_without_quoting_it():
    from ssmenv.errors import SsmEnvError

    with pytest.raises(SsmEnvError) as refused:
        Login.parse("postgres://app@db.internal/FAKE-secret-db", "/shop/prod/DATABASE_URL")
    assert "FAKE" not in str(refused.value) and "/shop/prod/DATABASE_URL" in str(refused.value)


def test_new_passwords_are_long_random_and_url_safe():
    made = {new_password() for _ in range(50)}
    assert len(made) == 50 and all(len(p) == 32 and p.isalnum() for p in made)


def test_a_password_parameter_alone_is_refused_in_one_line_saying_why(capsys, monkeypatch):
    # Alternating users change the user name with the password: two parameters cannot change
    # together (a host reading between the writes would get one role's name with the other's
    # password). Refused before any AWS call: boto3 points nowhere.
    from ssmenv import cli

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    status = cli.main(["db", "rotate", "--password-parameter", "/shop/prod/DB_PASSWORD",
                       "--admin-parameter", "/shop/admin/URL", "inventories/prod.py"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 1 and len(err) == 1
    assert err[0] == (
        "ssmenv db: error: --password-parameter: alternating users change the user name with the "
        "password, and two parameters cannot change in one write (a host reading between them "
        "would get one role's name with the other's password): keep the whole URL in one "
        "SecureString (--parameter) or the login in a secret (--secret)")
