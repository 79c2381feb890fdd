"""``python -m ssmenv db rotate``: a database password rotated with no failed request, the
alternating-users way (``ssmenv.databases.steps`` says which steps, in which order; this module
carries each out and records the phase it reached).

Where things are kept, all in SSM (nothing on the control machine, so a rerun from anywhere
resumes):

- the app's credentials: a SecureString parameter holding a whole database URL (the app's
  ``DATABASE_URL``); each rotation writes a new version of it;
- the administrator's login: another SecureString parameter holding a URL of a role that may
  change the two login roles' passwords (PostgreSQL: CREATEROLE), never a command line or a file;
- the rotation under way: ``<state root><parameter>/state`` (String, JSON: its phase and roles, no
  secret) and ``<state root><parameter>/pending`` (SecureString: the new credentials, written
  before the database or any host sees them).

The rollout is the usual deploy (``pyinfra INVENTORY deploy.py``: canary first, health-gated, a
failed host rolled back), run by the caller's ``rollout``; ``behind`` says how many hosts do not
serve the parameter's current version yet (``drift``). No value is printed: users, hosts,
parameters and versions only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ssmenv import aws
from ssmenv.databases import Login, engine, new_password
from ssmenv.databases.steps import STEPS, State, alternate, remaining, resume
from ssmenv.errors import SsmEnvError

# Not "/ssmenv...": SSM refuses names that begin with "ssm" or "aws".
STATE_ROOT = "/db-rotations"


@dataclass(frozen=True)
class Places:
    """Where a rotation of ``parameter`` keeps what it needs."""

    parameter: str
    admin_parameter: str
    state_root: str = STATE_ROOT

    @property
    def state(self) -> str:
        return f"{self.state_root}{self.parameter}/state"

    @property
    def pending(self) -> str:
        return f"{self.state_root}{self.parameter}/pending"


class Store:
    """The SSM parameters a rotation reads and writes."""

    def __init__(self, places: Places, region: str | None):
        self.places = places
        self.ssm = aws.client("ssm", region)

    def _call(self, operation: str, name: str, **kwargs: Any) -> dict[str, Any]:
        try:
            return getattr(self.ssm, operation)(**kwargs)
        except Exception as e:  # botocore's errors: named, never a value
            raise SsmEnvError(f"{name}: {aws.reason(e)}") from None

    def get(self, name: str, version: int | None = None) -> tuple[str, int] | None:
        """``name``'s value (decrypted) and version, or None if it does not exist."""
        try:
            answer = self.ssm.get_parameter(
                Name=f"{name}:{version}" if version else name, WithDecryption=True)
        except self.ssm.exceptions.ParameterNotFound:
            return None
        except self.ssm.exceptions.ParameterVersionNotFound:
            return None
        except Exception as e:
            raise SsmEnvError(f"{name}: {aws.reason(e)}") from None
        return answer["Parameter"]["Value"], int(answer["Parameter"]["Version"])

    def put(self, name: str, value: str, secure: bool) -> int:
        kwargs: dict[str, Any] = {}
        if secure:
            found = self._call("describe_parameters", name, ParameterFilters=[
                {"Key": "Name", "Option": "Equals", "Values": [name]}])["Parameters"]
            if found and found[0].get("KeyId"):
                kwargs["KeyId"] = found[0]["KeyId"]  # the key it was encrypted with stays
        answer = self._call("put_parameter", name, Name=name, Value=value, Overwrite=True,
                            Type="SecureString" if secure else "String", **kwargs)
        return int(answer["Version"])

    def delete(self, name: str) -> None:
        try:
            self.ssm.delete_parameter(Name=name)
        except self.ssm.exceptions.ParameterNotFound:
            pass
        except Exception as e:
            raise SsmEnvError(f"{name}: {aws.reason(e)}") from None

    def state(self) -> State | None:
        found = self.get(self.places.state)
        if found is None:
            return None
        try:
            return State.from_json(found[0])
        except (ValueError, TypeError, KeyError):
            raise SsmEnvError(f"{self.places.state}: not a rotation state") from None

    def record(self, state: State) -> None:
        self.put(self.places.state, state.to_json(), secure=False)

    def login(self, name: str, version: int | None = None) -> tuple[Login, int]:
        found = self.get(name, version)
        if found is None:
            raise SsmEnvError(f"{name}{f' version {version}' if version else ''}: no such "
                              "parameter")  # fmt: skip
        return Login.parse(found[0], name), found[1]


def _describe(phase: str, state: State) -> str:
    detail = {
        "prepared": f"role {state.new_user!r}",
        "password-set": f"role {state.new_user!r}",
        "written": f"{state.parameter} logs in as {state.new_user!r}",
        "retired": f"role {state.previous_user!r}",
    }.get(phase)
    return STEPS[phase] + (f" ({detail})" if detail else "")


def rotate(
    places: Places,
    region: str | None,
    rollout: Callable[[], int],
    behind: Callable[[], int],
    dry_run: bool = False,
    say: Callable[[str], None] = print,
) -> int:
    """Run (or resume) the rotation of ``places.parameter`` to its end; 0 when done. A failed
    step raises ``SsmEnvError`` and leaves the state at the last phase reached: every host then
    holds a login that works, and a rerun resumes there."""
    store = Store(places, region)
    current, version = store.login(places.parameter)
    state = resume(store.state(), places.parameter, current.user, version)
    admin, _ = store.login(places.admin_parameter)
    db = engine(current, places.parameter)
    prefix = f"db rotate: {places.parameter}"
    if state.phase != "started":
        say(f"{prefix}: resuming the rotation from {state.previous_user!r} to "
            f"{state.new_user!r} after {state.phase}")  # fmt: skip
    else:
        say(f"{prefix}: rotating from role {state.previous_user!r} to {state.new_user!r} "
            f"({current.masked}, version {version})")  # fmt: skip
    if dry_run:
        for phase in remaining(state.phase):
            say(f"{prefix}: would {_describe(phase, state)}")
        return 0
    for phase in remaining(state.phase):
        _step(phase, state, store, admin, db, rollout, behind)
        state = state.at(phase)
        if phase != "done":
            store.record(state)
        say(f"{prefix}: {phase}: {_describe(phase, state)}: done")
    return 0


def _step(phase: str, state: State, store: Store, admin: Login, db: Any,
          rollout: Callable[[], int], behind: Callable[[], int]) -> None:  # fmt: skip
    places = store.places
    if phase == "prepared":
        previous, _ = store.login(places.parameter, state.previous_version)
        store.put(places.pending, previous.as_user(state.new_user, new_password()).url, True)
        return
    pending, _ = store.login(places.pending)
    if phase == "password-set":
        _, like = alternate(state.previous_user)
        db.set_password(admin, state.new_user, pending.password, like)
        if not db.login_works(pending):
            raise SsmEnvError(f"role {state.new_user!r} does not log in with its new password "
                              f"on {pending.host}")  # fmt: skip
    elif phase == "written":
        found = store.get(places.parameter)
        if found is None or found[0] != pending.url:
            store.put(places.parameter, pending.url, True)
    elif phase == "rolled-out":
        if rollout() != 0:
            raise SsmEnvError(
                f"the rollout of {places.parameter} failed (pyinfra said why above): a host "
                "that failed its health check was rolled back to the previous credentials, "
                f"which still work; role {state.previous_user!r} is untouched. Rerun to resume, "
                "or --abort to go back")  # fmt: skip
        late = behind()
        if late:
            raise SsmEnvError(f"{late} hosts do not serve the new credentials yet: role "
                              f"{state.previous_user!r} is untouched; rerun to resume")
    elif phase == "retired":
        previous, _ = store.login(places.parameter, state.previous_version)
        db.forget_password(admin, state.previous_user)
        if db.login_works(previous):
            raise SsmEnvError(f"role {state.previous_user!r} still logs in with its previous "
                              "password")  # fmt: skip
    elif phase == "done":
        store.delete(places.pending)
        store.delete(places.state)


def abort(places: Places, region: str | None, rollout: Callable[[], int],
          say: Callable[[str], None] = print) -> int:  # fmt: skip
    """Go back from a rotation that has not retired the previous role: the parameter holds the
    previous credentials again (a new version), the hosts get them, the state goes."""
    store = Store(places, region)
    state = store.state()
    prefix = f"db rotate: {places.parameter}"
    if state is None:
        say(f"{prefix}: no rotation under way: nothing to abort")
        return 0
    if state.phase in ("retired", "done"):
        raise SsmEnvError(f"the rotation of {places.parameter} has retired role "
                          f"{state.previous_user!r}: rerun to finish it")  # fmt: skip
    previous, _ = store.login(places.parameter, state.previous_version)
    found = store.get(places.parameter)
    if found is None or found[0] != previous.url:
        store.put(places.parameter, previous.url, True)
    if rollout() != 0:
        raise SsmEnvError(f"the rollout of {places.parameter}'s previous credentials failed "
                          "(pyinfra said why above); rerun --abort")  # fmt: skip
    store.delete(places.pending)
    store.delete(places.state)
    say(f"{prefix}: aborted: the hosts log in as {state.previous_user!r} again")
    return 0
