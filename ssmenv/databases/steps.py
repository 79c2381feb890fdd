"""A database password rotation's steps, as data: which phase a rotation is in, what comes next,
and where a rerun resumes. Pure: no AWS, no database, no host (``ssmenv.dbrotate`` carries each
step out and records the phase it reached).

The alternating-users strategy: two login roles with the same grants, ``app`` and
``app_clone``. The apps use one (the active role); a rotation sets a new password on the other,
hands the apps the other's credentials through the usual health-gated rollout, and only when
every host serves with them gives the previously active role a random password nobody holds. At
every moment each host holds a login that works: its old one until the end, or the new one.

Phases, each reached when its step is done (and recorded after it, in the rotation's state,
so a rerun repeats at most the step it was killed in; every step is safe to repeat):

1. ``prepared``: the new login (the other role, a new random password) is kept as the rotation's
   pending value, before any database or host sees it (a rerun reuses it).
2. ``password-set``: the other role logs in with the new password (created with the active
   role's grants if missing), checked by logging in with it.
3. ``written``: the app's parameter holds the new credentials (a new version).
4. ``rolled-out``: the deploy carried them to every host, each health-checked (a host that
   failed was rolled back to the previous credentials, which still work), and no host is
   behind (drift).
5. ``retired``: the previously active role has a random password nobody holds: the old
   credentials stop working.
6. ``done``: the pending value and the state are removed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

PHASES = ("started", "prepared", "password-set", "written", "rolled-out", "retired", "done")
#: What each step does, for the log and ``--dry-run``, by the phase it reaches.
STEPS = {
    "prepared": "keep a new login (the other role, a new random password) as the pending value",
    "password-set": "set the new password on the other role in the database, check it logs in",
    "written": "write the new credentials to the app's parameter (a new version)",
    "rolled-out": "deploy: every host gets the new credentials, health-checked, canary first; "
                  "then check that no host is behind",
    "retired": "give the previously active role a random password nobody holds",
    "done": "remove the rotation's pending value and state",
}
#: The same steps for credentials in a Secrets Manager secret: the pending value is the secret's
#: own ``AWSPENDING`` version, and "written" promotes it to ``AWSCURRENT`` (what the hosts read).
SECRET_STEPS = {
    **STEPS,
    "prepared": "keep a new login (the other role, a new random password) as the secret's "
                "AWSPENDING version",
    "written": "promote the AWSPENDING version to AWSCURRENT (the previous one becomes "
               "AWSPREVIOUS)",
    "done": "remove the AWSPENDING label and the rotation's state",
}
CLONE_SUFFIX = "_clone"


def alternate(user: str) -> tuple[str, str]:
    """The role not in use when ``user`` is, and the role whose grants both have (the first of
    the pair): ``app`` -> (``app_clone``, ``app``); ``app_clone`` -> (``app``, ``app``)."""
    if user.endswith(CLONE_SUFFIX) and len(user) > len(CLONE_SUFFIX):
        first = user.removesuffix(CLONE_SUFFIX)
        return first, first
    return user + CLONE_SUFFIX, user


@dataclass(frozen=True)
class State:
    """A rotation under way, as kept between its steps (no secret: the new password is in the
    pending value, a SecureString of its own, or the secret's ``AWSPENDING`` version).
    ``previous_version``: the parameter's version (a number) or the secret's version id holding
    the previous credentials."""

    phase: str
    parameter: str
    previous_user: str
    new_user: str
    previous_version: int | str

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> State:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("phase") not in PHASES:
            raise ValueError("not a rotation state")
        return cls(**{k: data[k] for k in ("phase", "parameter", "previous_user", "new_user",
                                             "previous_version")})  # fmt: skip

    def at(self, phase: str) -> State:
        return State(phase, self.parameter, self.previous_user, self.new_user,
                     self.previous_version)  # fmt: skip


def remaining(phase: str) -> tuple[str, ...]:
    """The phases still to reach after ``phase``, in order: what a run from there does."""
    return PHASES[PHASES.index(phase) + 1:]


def start(parameter: str, current_user: str, current_version: int | str) -> State:
    """A new rotation of ``parameter``, whose credentials (version ``current_version``) log in
    as ``current_user``."""
    new_user, _ = alternate(current_user)
    return State("started", parameter, current_user, new_user, current_version)


def resume(stored: State | None, parameter: str, current_user: str,
           current_version: int | str) -> State:
    """Where a run begins: the stored rotation of ``parameter`` if there is one (whatever the
    parameter holds now: a rotation killed after writing it holds the new role already), else
    a new one from the parameter as it is."""
    if stored is not None:
        if stored.parameter != parameter:
            raise ValueError(f"the rotation state is for {stored.parameter}, not {parameter}")
        return stored
    return start(parameter, current_user, current_version)
