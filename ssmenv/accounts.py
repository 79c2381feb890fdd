"""The app's system account: which account a host already has may run the app (``app_user``).

The toolkit makes the account it runs an app as (``shell/provision.sh``: a system user in a group
of its own name, no home, no login shell) and marks it with the comment ``ssmenv app <app>``,
which ``getent passwd`` shows. An account that is already there is the app's only if:

- the toolkit made it for this app (its mark), or
- an earlier version of the toolkit made it, before accounts carried a mark: named like the app,
  no comment, home ``/nonexistent``, ``nologin``, in its own group alone, on a host that has
  what that deploy left (the app's directory ``/opt/<app>`` or its env file); or
- it is a regular account (not a system one) that someone made for the app,

and in every case it is in no privileged group (``PRIVILEGED_GROUPS``) and is not root. Anything
else is refused before the host changes, naming the account and the setting: running an app as
``backup``, ``mail`` or ``messagebus`` hands the app (and every dependency it installs) what that
account owns, and an account in ``sudo``, ``docker`` or ``disk`` is root. A group of that name
without a user is refused too: the toolkit would make the app's user in it.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The comment (GECOS) of an account the toolkit made for app ``{app}``.
MARK = "ssmenv app {app}"
#: Groups whose members can become root, read every log or secret, or reach the disks: no app's
#: user is ever in one.
PRIVILEGED_GROUPS = frozenset({
    "root", "sudo", "wheel", "admin", "adm", "shadow", "disk", "kmem", "tty", "staff", "operator",
    "docker", "podman", "lxd", "incus", "incus-admin", "libvirt", "kvm", "systemd-journal",
    "ssl-cert", "crontab", "utmp",
})  # fmt: skip
#: Regular accounts have uids in this range (Debian's and RHEL's UID_MIN and UID_MAX): below it
#: are the system's own accounts, above it ``nobody`` and systemd's dynamic users.
REGULAR_UIDS = range(1000, 60001)
NOLOGIN = ("/usr/sbin/nologin", "/sbin/nologin")


@dataclass(frozen=True)
class Account:
    """A host's account as ``getent passwd`` and ``id -Gn`` show it; ``groups``: every group it
    is in, its primary group first."""

    name: str
    uid: int
    gid: int
    comment: str
    home: str
    shell: str
    groups: tuple[str, ...]

    @classmethod
    def parse(cls, passwd: str, groups: str) -> Account | None:
        """The account of a ``getent passwd`` line and its ``id -Gn`` line (``None``: not a
        passwd line)."""
        fields = passwd.split(":")
        if len(fields) != 7 or not fields[2].isdigit() or not fields[3].isdigit():
            return None
        name, _, uid, gid, comment, home, shell = fields
        return cls(name, int(uid), int(gid), comment, home, shell, tuple(groups.split()))


def refusal(user: str, app: str, account: Account | None, group: str | None,
            deployed: bool) -> str | None:  # fmt: skip
    """Why ``account`` (``user``'s, ``None``: the host has none) cannot be app ``app``'s user,
    in one line naming it and the setting, or ``None`` when it can; ``group``: the host's group
    named ``user`` (``getent group``), ``deployed``: the host has what a deploy of the app left
    (its directory, its env file)."""
    if account is None:
        if group is None:
            return None  # the toolkit makes both
        return (f"app_user: the host's group {user} exists without a user {user} (a group ssmenv "
                "did not make); choose another name")  # fmt: skip
    if account.uid == 0 or account.gid == 0:
        return f"app_user: the host's account {user} is root (uid or gid 0); choose another name"
    privileged = [g for g in account.groups if g in PRIVILEGED_GROUPS]
    if privileged:
        return (f"app_user: the host's account {user} is in the privileged group"
                f"{'s' if len(privileged) > 1 else ''} {', '.join(privileged)}; an app's user "
                "must not be: choose another name")  # fmt: skip
    marked_for = made_for(account)
    if marked_for is not None and marked_for != app:
        return (f"app_user: the host's account {user} was made by ssmenv for the app "
                f"{marked_for}; choose another name")  # fmt: skip
    if (marked_for is None and not _made_before_marks(account, app, deployed)
            and account.uid not in REGULAR_UIDS):  # fmt: skip
        return (f"app_user: the host's account {user} exists and was not made by ssmenv "
                "(a system account); choose another name")  # fmt: skip
    if group is None or account.groups[:1] != (user,):
        # The app's files that it may read (its manifest) are given to the group of its name.
        return (f"app_user: the host's account {user} does not have a group of its own name as "
                "its primary group; choose another name")  # fmt: skip
    return None


def made_for(account: Account) -> str | None:
    """The app the toolkit made ``account`` for, from its mark (``None``: no mark)."""
    prefix = MARK.format(app="")
    return account.comment.removeprefix(prefix) if account.comment.startswith(prefix) else None


def _made_before_marks(account: Account, app: str, deployed: bool) -> bool:
    """Made for ``app`` by a version of the toolkit that did not mark accounts yet."""
    return (account.name == app and account.comment == "" and account.home == "/nonexistent"
            and account.shell in NOLOGIN and account.groups == (app,) and deployed)  # fmt: skip
