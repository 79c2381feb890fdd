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

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ssmenv import aws, policy, rotation_window
from ssmenv.databases import Login, engine, from_secret, new_password, to_secret
from ssmenv.databases.steps import SECRET_STEPS, STEPS, State, alternate, remaining, resume
from ssmenv.errors import SsmEnvError
from ssmenv.policy import Statement
from ssmenv.sources.ssm import NAME_CHARACTERS

# Not "/ssmenv...": SSM refuses names that begin with "ssm" or "aws".
STATE_ROOT = "/db-rotations"


@dataclass(frozen=True)
class Places:
    """Where a rotation keeps what it needs: the app's credentials in the SSM parameter
    ``parameter`` or the Secrets Manager secret ``secret``, the administrator's in
    ``admin_parameter`` or ``admin_secret``."""

    parameter: str = ""
    admin_parameter: str = ""
    state_root: str = STATE_ROOT
    secret: str = ""
    admin_secret: str = ""

    @property
    def target(self) -> str:
        """What is rotated, as messages name it."""
        return f"secret {self.secret}" if self.secret else self.parameter

    def check(self) -> None:
        """A secret is named by a name its state's SSM name can hold (not an ARN); every name is
        of the characters SSM and Secrets Manager names share, none that a policy's ARN would
        read as a wildcard (``--policy``)."""
        if self.secret and not re.fullmatch(r"[A-Za-z0-9_.\-/]{1,512}", self.secret):
            raise SsmEnvError("--secret: give the secret's name, of letters, digits and _.-/ "
                              "(the rotation's state in SSM is kept under it), not its ARN")
        for option, name in (("--parameter", self.parameter),
                             ("--admin-parameter", self.admin_parameter),
                             ("--admin-secret", self.admin_secret),
                             ("--state-root", self.state_root)):  # fmt: skip
            if name and not re.fullmatch(f"{NAME_CHARACTERS}{{1,2048}}", name):
                raise SsmEnvError(f"{option}: a name of letters, digits and _.-/ (not an ARN)")

    @property
    def state(self) -> str:
        if self.secret:
            return f"{self.state_root}/secrets/{self.secret}/state"
        return f"{self.state_root}{self.parameter}/state"

    @property
    def pending(self) -> str:
        return f"{self.state_root}{self.parameter}/pending"


def permissions(places: Places, region: str, account: str) -> list[Statement]:
    """What a rotation of ``places`` calls in AWS itself (``db rotate --policy``), in ``region``
    of ``account``: the app's credentials read and written, the administrator's read, the
    rotation's state (and, for a parameter, its pending value) read, written and removed. Its
    rollout and drift check are a deploy's (``python -m ssmenv iam``: the control document).

    ``DescribeParameters`` (which key encrypts the parameter, kept when it is written again)
    names no resource. KMS, for customer-managed keys only (an AWS-managed key needs no identity
    policy): decrypting what it reads and encrypting what it writes, through the service and for
    those resources only (``policy.decrypt``'s conditions, with the action of a write)."""
    state = [places.state] if places.secret else [places.state, places.pending]
    found = [Statement("KeepTheRotationState", ("ssm:DeleteParameter", "ssm:GetParameter",
                                                "ssm:PutParameter"),
                       tuple(policy.parameter_arn(region, account, n) for n in state))]  # fmt: skip
    decrypt_ssm: list[str] = []
    decrypt_sm: list[str] = []
    if places.secret:
        arn = policy.secret_arn(region, account, places.secret)
        found += [
            Statement("RotateTheSecret", ("secretsmanager:DescribeSecret",
                                          "secretsmanager:GetSecretValue",
                                          "secretsmanager:PutSecretValue",
                                          "secretsmanager:UpdateSecretVersionStage"), (arn,)),
            policy.decrypt("EncryptTheSecret", "secretsmanager", region, account, "SecretARN",
                           (arn,), action="kms:GenerateDataKey"),
        ]  # fmt: skip
        decrypt_sm.append(arn)
    else:
        arns = (policy.parameter_arn(region, account, places.parameter),
                policy.parameter_arn(region, account, places.pending))  # fmt: skip
        found += [
            Statement("RotateTheParameter", ("ssm:GetParameter", "ssm:PutParameter"), arns[:1]),
            Statement("FindTheParametersKey", ("ssm:DescribeParameters",), ("*",)),
            policy.decrypt("EncryptTheParameter", "ssm", region, account, "PARAMETER_ARN", arns,
                           action="kms:Encrypt"),
        ]  # fmt: skip
        decrypt_ssm += arns
    if places.admin_secret:
        arn = policy.secret_arn(region, account, places.admin_secret)
        found.append(Statement("ReadTheAdministrator", ("secretsmanager:GetSecretValue",),
                               (arn,)))  # fmt: skip
        decrypt_sm.append(arn)
    else:
        arn = policy.parameter_arn(region, account, places.admin_parameter)
        found.append(Statement("ReadTheAdministrator", ("ssm:GetParameter",), (arn,)))
        decrypt_ssm.append(arn)
    if decrypt_ssm:
        found.append(policy.decrypt("DecryptTheParameters", "ssm", region, account,
                                    "PARAMETER_ARN", decrypt_ssm))  # fmt: skip
    if decrypt_sm:
        found.append(policy.decrypt("DecryptTheSecrets", "secretsmanager", region, account,
                                    "SecretARN", decrypt_sm))  # fmt: skip
    return found


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


class ParameterCredentials:
    """The app's login as a whole URL in an SSM SecureString; the pending login in a
    SecureString of the rotation's own (``Places.pending``)."""

    steps = STEPS

    def __init__(self, store: Store):
        self.store = store
        self.places = store.places

    def current(self) -> tuple[Login, int | str]:
        return self.store.login(self.places.parameter)

    def at(self, version: int | str) -> Login:
        return self.store.login(self.places.parameter, int(version))[0]

    def pending(self) -> Login:
        return self.store.login(self.places.pending)[0]

    def check_start(self) -> None:
        pass

    def keep_pending(self, previous_version: int | str, login: Login) -> None:
        self.store.put(self.places.pending, login.url, True)

    def write(self) -> None:
        pending = self.pending()
        found = self.store.get(self.places.parameter)
        if found is None or found[0] != pending.url:
            self.store.put(self.places.parameter, pending.url, True)

    def restore(self, previous_version: int | str) -> None:
        previous = self.at(previous_version)
        found = self.store.get(self.places.parameter)
        if found is None or found[0] != previous.url:
            self.store.put(self.places.parameter, previous.url, True)
        self.clear_pending()

    def clear_pending(self) -> None:
        self.store.delete(self.places.pending)


PENDING, CURRENT = "AWSPENDING", "AWSCURRENT"


class SecretCredentials:
    """The app's login in a Secrets Manager secret (a JSON object as AWS's RDS rotation
    templates write it, or a whole URL as its string); the pending login is the secret's own
    ``AWSPENDING`` version, promoted to ``AWSCURRENT`` (what the hosts read) once the new
    password works, the previous version kept as ``AWSPREVIOUS`` for ``--abort``."""

    steps = SECRET_STEPS

    def __init__(self, secret: str, region: str | None):
        self.secret = secret
        self.label = f"secret {secret}"
        self.sm = aws.client("secretsmanager", region)

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        try:
            return getattr(self.sm, operation)(SecretId=self.secret, **kwargs)
        except Exception as e:  # botocore's errors: named, never a value
            raise SsmEnvError(f"{self.label}: {aws.reason(e)}") from None

    def _value(self, **which: str) -> tuple[str, str]:
        answer = self._call("get_secret_value", **which)
        if "SecretString" not in answer:
            raise SsmEnvError(f"{self.label}: holds binary data, not a login")
        return answer["SecretString"], answer["VersionId"]

    def rotation_rules(self) -> dict[str, Any] | None:
        """The secret's own rotation schedule (``RotationRules``) when Secrets Manager rotates it
        by itself, else None."""
        described = self._call("describe_secret")
        if not described.get("RotationEnabled"):
            return None
        return described.get("RotationRules") or {}

    def stages(self) -> dict[str, list[str]]:
        """Each version id's stages."""
        return self._call("describe_secret").get("VersionIdsToStages", {})

    def _at_stage(self, stage: str) -> str | None:
        return next((v for v, s in self.stages().items() if stage in s), None)

    def current(self) -> tuple[Login, int | str]:
        text, version = self._value(VersionStage=CURRENT)
        return from_secret(text, self.label), version

    def at(self, version: int | str) -> Login:
        return from_secret(self._value(VersionId=str(version))[0], f"{self.label} {version}")

    def pending(self) -> Login:
        return from_secret(self._value(VersionStage=PENDING)[0], f"{self.label} {PENDING}")

    def check_start(self) -> None:
        """Before a new rotation: none other under way (a rotation function's AWSPENDING on a
        version that is not AWSCURRENT), as Secrets Manager's RotateSecret refuses."""
        stages = self.stages()
        if any(PENDING in s and CURRENT not in s for s in stages.values()):
            raise SsmEnvError(f"{self.label}: another rotation is under way ({PENDING} on a "
                              "version that is not AWSCURRENT): let it finish, or remove its "
                              "label, first")  # fmt: skip

    def keep_pending(self, previous_version: int | str, login: Login) -> None:
        # Moves AWSPENDING from any other version (a rerun's): the new value, never the old.
        text = self._value(VersionId=str(previous_version))[0]
        self._call("put_secret_value", SecretString=to_secret(text, login),
                   VersionStages=[PENDING])  # fmt: skip

    def write(self) -> None:
        stages = self.stages()
        pending = next((v for v, s in stages.items() if PENDING in s), None)
        current = next((v for v, s in stages.items() if CURRENT in s), None)
        if pending is None:
            raise SsmEnvError(f"{self.label}: no {PENDING} version to promote")
        if pending != current:
            self._call("update_secret_version_stage", VersionStage=CURRENT,
                       MoveToVersionId=pending, RemoveFromVersionId=current)  # fmt: skip

    def restore(self, previous_version: int | str) -> None:
        current = self._at_stage(CURRENT)
        if current != previous_version:
            self._call("update_secret_version_stage", VersionStage=CURRENT,
                       MoveToVersionId=str(previous_version), RemoveFromVersionId=current)
        self.clear_pending()

    def clear_pending(self) -> None:
        pending = self._at_stage(PENDING)
        if pending is not None:
            self._call("update_secret_version_stage", VersionStage=PENDING,
                       RemoveFromVersionId=pending)  # fmt: skip


def credentials(places: Places, store: Store, region: str | None
                ) -> ParameterCredentials | SecretCredentials:  # fmt: skip
    """The app's credentials, where ``places`` says they are."""
    if places.secret:
        return SecretCredentials(places.secret, region)
    return ParameterCredentials(store)


def admin_login(places: Places, store: Store, region: str | None) -> Login:
    """The administrator's login: from SSM or Secrets Manager, never a command line or a file."""
    if places.admin_secret:
        return SecretCredentials(places.admin_secret, region).current()[0]
    return store.login(places.admin_parameter)[0]


def _describe(phase: str, state: State, steps: dict[str, str]) -> str:
    detail = {
        "prepared": f"role {state.new_user!r}",
        "password-set": f"role {state.new_user!r}",
        "written": f"{state.parameter} logs in as {state.new_user!r}",
        "retired": f"role {state.previous_user!r}",
    }.get(phase)
    return steps[phase] + (f" ({detail})" if detail else "")


def rotate(
    places: Places,
    region: str | None,
    rollout: Callable[[], int],
    behind: Callable[[], int],
    dry_run: bool = False,
    say: Callable[[str], None] = print,
    sync_period: Callable[[], int] = lambda: 0,
    rollout_time: int = 0,
    wait_for_sync: Callable[[], int] = lambda: 0,
    poll: float = 15.0,
) -> int:
    """Run (or resume) the rotation of ``places.target`` to its end; 0 when done. A failed step
    raises ``SsmEnvError`` and leaves the state at the last phase reached: every host then holds
    a login that works, and a rerun resumes there.

    A secret that Secrets Manager also rotates by itself is first warned of (one line, before
    anything changes) when the hosts' ``sync_period()`` (seconds, asked only then) plus
    ``rollout_time`` is longer than its rotation interval (``ssmenv.rotation_window``).

    Hosts that pull the app by themselves are not deployed by ``rollout``: when ``behind`` finds
    hosts behind after it, the rotation checks again every ``poll`` seconds for up to
    ``wait_for_sync()`` seconds (their sync period and a rollout; 0: no host pulls) before it
    gives up, the previous role untouched."""
    places.check()
    store = Store(places, region)
    creds = credentials(places, store, region)
    current, version = creds.current()
    stored = store.state()
    state = resume(stored, places.target, current.user, version)
    admin = admin_login(places, store, region)
    db = engine(current, places.target)
    prefix = f"db rotate: {places.target}"
    if isinstance(creds, SecretCredentials) and (rules := creds.rotation_rules()) is not None:
        line = rotation_window.warning(places.secret, rotation_window.interval(rules),
                                       sync_period(), rollout_time)  # fmt: skip
        if line:
            say(f"db rotate: {line}")
    if state.phase != "started":
        say(f"{prefix}: resuming the rotation from {state.previous_user!r} to "
            f"{state.new_user!r} after {state.phase}")  # fmt: skip
    else:
        say(f"{prefix}: rotating from role {state.previous_user!r} to {state.new_user!r} "
            f"({current.masked}, version {version})")  # fmt: skip
    if stored is None:
        creds.check_start()  # read only: a dry run says so too
    if dry_run:
        for phase in remaining(state.phase):
            say(f"{prefix}: would {_describe(phase, state, creds.steps)}")
        return 0
    if stored is None:
        store.record(state)  # a rerun knows the pending value it finds is this rotation's
    for phase in remaining(state.phase):
        _step(phase, state, store, creds, admin, db, rollout,
              _waiting(behind, wait_for_sync, poll, lambda n, until: say(
                  f"{prefix}: {n} hosts do not serve the new credentials yet: waiting up to "
                  f"{rotation_window.span(until)} for those that pull to sync")))  # fmt: skip
        state = state.at(phase)
        if phase != "done":
            store.record(state)
        say(f"{prefix}: {phase}: {_describe(phase, state, creds.steps)}: done")
    return 0


def _waiting(behind: Callable[[], int], wait_for_sync: Callable[[], int], poll: float,
             say: Callable[[int, int], None]) -> Callable[[], int]:  # fmt: skip
    """``behind``, asked again every ``poll`` seconds while hosts are behind, up to a deadline of
    ``wait_for_sync()`` seconds from the first answer: how many are still behind then."""

    def check() -> int:
        late = behind()
        if not late:
            return 0
        wait = wait_for_sync()
        if wait <= 0:
            return late
        say(late, wait)
        deadline = time.monotonic() + wait
        while late and time.monotonic() < deadline:
            time.sleep(max(0.0, min(poll, deadline - time.monotonic())))
            late = behind()
        return late

    return check


def _step(phase: str, state: State, store: Store, creds: Any, admin: Login, db: Any,
          rollout: Callable[[], int], behind: Callable[[], int]) -> None:  # fmt: skip
    target = store.places.target
    if phase == "prepared":
        previous = creds.at(state.previous_version)
        creds.keep_pending(state.previous_version,
                           previous.as_user(state.new_user, new_password()))  # fmt: skip
    elif phase == "password-set":
        pending = creds.pending()
        _, like = alternate(state.previous_user)
        db.set_password(admin, state.new_user, pending.password, like)
        if not db.login_works(pending):
            raise SsmEnvError(f"role {state.new_user!r} does not log in with its new password "
                              f"on {pending.host}")  # fmt: skip
    elif phase == "written":
        creds.write()
    elif phase == "rolled-out":
        if rollout() != 0:
            raise SsmEnvError(
                f"the rollout of {target} failed (pyinfra said why above): a host "
                "that failed its health check was rolled back to the previous credentials, "
                f"which still work; role {state.previous_user!r} is untouched. Rerun to resume, "
                "or --abort to go back")  # fmt: skip
        late = behind()
        if late:
            raise SsmEnvError(f"{late} hosts do not serve the new credentials yet: role "
                              f"{state.previous_user!r} is untouched; rerun to resume")
    elif phase == "retired":
        previous = creds.at(state.previous_version)
        db.forget_password(admin, state.previous_user)
        if db.login_works(previous):
            raise SsmEnvError(f"role {state.previous_user!r} still logs in with its previous "
                              "password")  # fmt: skip
    elif phase == "done":
        creds.clear_pending()
        store.delete(store.places.state)


def abort(places: Places, region: str | None, rollout: Callable[[], int],
          say: Callable[[str], None] = print) -> int:  # fmt: skip
    """Go back from a rotation that has not retired the previous role: the app's credentials
    are the previous ones again (a new version of a parameter; a secret's previous version
    AWSCURRENT again), the hosts get them, the state goes."""
    places.check()
    store = Store(places, region)
    state = store.state()
    prefix = f"db rotate: {places.target}"
    if state is None:
        say(f"{prefix}: no rotation under way: nothing to abort")
        return 0
    if state.phase in ("retired", "done"):
        raise SsmEnvError(f"the rotation of {places.target} has retired role "
                          f"{state.previous_user!r}: rerun to finish it")  # fmt: skip
    creds = credentials(places, store, region)
    creds.restore(state.previous_version)
    if rollout() != 0:
        raise SsmEnvError(f"the rollout of {places.target}'s previous credentials failed "
                          "(pyinfra said why above); rerun --abort")  # fmt: skip
    store.delete(places.state)
    say(f"{prefix}: aborted: the hosts log in as {state.previous_user!r} again")
    return 0
