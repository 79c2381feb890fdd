"""Secrets as files: the variables host data names in ``credentials`` reach the app as systemd
credentials instead of env-file lines.

Each one is encrypted on the host (``systemd-creds encrypt``, the host key or its TPM2) from
stdin into a root-only file under ``/etc/credstore.encrypted/<app>/``; the app's units load it
with ``LoadCredentialEncrypted=`` and systemd decrypts it at each start into the service's own
in-memory credentials directory, readable by the service's user only. The unit sets ``NAME_FILE``
to its path there (``%d/NAME``, the ``_FILE`` convention of the official database images);
``NAME`` itself is in no process's environment and in no file in plaintext.

systemd 250 brought the encrypted credentials (and ``systemd-creds``); 247 to 249 have
``LoadCredential=`` only, which this falls back to with root-only 0600 plaintext files under
``/etc/credstore/<app>/`` and a warning; below 247 there are no credentials at all.

Pure logic: which variables are credentials, how a host of a given systemd version gets them, and
what systemd can carry; the activation writes the files, the unit template loads them.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BeforeValidator

from ssmenv.settings import Json, Matching, Setting, Settings
from ssmenv.sources.base import Variable

#: Where encrypted credentials live, a directory per app (root-only).
ENCRYPTED_DIR = "/etc/credstore.encrypted"
#: Where systemd 247-249 hosts keep them unencrypted (root-only files, 0600).
PLAIN_DIR = "/etc/credstore"
#: The host key ``systemd-creds setup`` makes: it never leaves the host.
HOST_KEY = "/var/lib/systemd/credential.secret"

ENCRYPTED_SINCE = 250  # LoadCredentialEncrypted=, systemd-creds
PLAIN_SINCE = 247  # LoadCredential=

#: systemd's limits (252: CREDENTIAL_SIZE_MAX, CREDENTIALS_TOTAL_SIZE_MAX), checked on a host:
#: a credential's plaintext at most 1 MiB, and a service's credentials all together (each name's
#: length and value's size) at most 1 MiB too.
SIZE_MAX = 1024 * 1024
#: An encrypted credential's file may be 1 MiB + 128 KiB (CREDENTIAL_ENCRYPTED_SIZE_MAX), and
#: systemd-creds writes base64, so an encrypted value must be smaller still: ``encrypted_size``.
ENCRYPTED_SIZE_MAX = SIZE_MAX + 128 * 1024


def encrypted_size(name: str, size: int) -> int:
    """The size of the file ``systemd-creds encrypt --name=NAME`` makes of ``size`` bytes with
    the host key (252, measured): 80 bytes of header and the name with its 4-byte length
    (padded to 8) around the ciphertext, in base64, in lines of 79 characters."""
    raw = size + 80 + -(-(len(name.encode()) + 4) // 8) * 8
    text = 4 * -(-raw // 3)
    return text + -(-text // 79)


def largest(name: str, encrypted: bool, used: int = 0) -> int:
    """The largest value credential ``name`` may have beside ``used`` bytes of the service's
    other credentials (their names and values)."""
    most = SIZE_MAX - used - len(name.encode())
    if encrypted:
        low, high = 0, most
        while low < high:  # the largest size whose encrypted file systemd still reads
            mid = (low + high + 1) // 2
            low, high = (mid, high) if encrypted_size(name, mid) <= ENCRYPTED_SIZE_MAX else (
                low, mid - 1)  # fmt: skip
        most = low
    return max(most, 0)


#: ``credentials: "secure"``: every value that came from an SSM SecureString or Secrets Manager.
SECURE = "secure"

_PATTERN = r"[A-Za-z_*?\[][A-Za-z0-9_*?\[\]!-]*"


def _one_or_list(value: Any) -> Any:
    # "secure" alone is the list of it; a list may hold it beside names and patterns.
    return [value] if value == SECURE else value


SETTINGS = Settings("Secrets as files", (
    Setting("credentials", Annotated[
                Json(list[Matching(_PATTERN, 'a variable name, a glob pattern of names (TLS_*) '
                                   'or "secure"')]),
                BeforeValidator(_one_or_list)],
            [], shown_type='list of name or glob, or `"secure"`',
            help="Variables delivered as systemd credentials (encrypted on the host, read from a "
            "file by the app: `NAME_FILE` holds its path) instead of env-file lines: names or "
            "glob patterns (`[\"DB_PASSWORD\", \"TLS_*\"]`), `\"secure\"` for every value from "
            "an SSM SecureString or Secrets Manager, or both in one list. See *Secrets as files*.",
            parse=lambda value: Selection.parse(value)),
))  # fmt: skip


@dataclass(frozen=True)
class Selection:
    """Which variables are credentials: by name or glob pattern, and every secure one."""

    patterns: tuple[str, ...] = ()
    secure: bool = False

    @classmethod
    def parse(cls, value: list[str]) -> Selection:
        return cls(tuple(p for p in value if p != SECURE), SECURE in value)

    def __bool__(self) -> bool:
        return self.secure or bool(self.patterns)

    def selects(self, variable: Variable) -> bool:
        return (self.secure and variable.secure) or any(
            fnmatch.fnmatchcase(variable.name, p) for p in self.patterns
        )

    def unmatched(self, names: Any) -> list[str]:
        """Plain names (no glob) that select no variable: a typo, or a variable gone."""
        return [p for p in self.patterns
                if not re.search(r"[*?\[]", p) and p not in names]  # fmt: skip


@dataclass(frozen=True)
class Delivery:
    """How a host gets its credentials: encrypted (``LoadCredentialEncrypted=``) or, on systemd
    247-249, plaintext root-only files (``LoadCredential=``)."""

    encrypted: bool

    @property
    def directive(self) -> str:
        return "LoadCredentialEncrypted" if self.encrypted else "LoadCredential"

    @property
    def root(self) -> str:
        return ENCRYPTED_DIR if self.encrypted else PLAIN_DIR

    def directory(self, app: str) -> str:
        return f"{self.root}/{app}"

    def path(self, app: str, name: str) -> str:
        return f"{self.directory(app)}/{name}"


ENCRYPTED = Delivery(encrypted=True)
PLAIN = Delivery(encrypted=False)


@dataclass(frozen=True)
class Delivered:
    """One app's credentials on one host: their names, and how the host gets them."""

    app: str
    names: tuple[str, ...] = ()
    delivery: Delivery = ENCRYPTED

    def __bool__(self) -> bool:
        return bool(self.names)

    def path(self, name: str) -> str:
        return self.delivery.path(self.app, name)

    @property
    def paths(self) -> dict[str, str]:
        """Each credential's file, by name."""
        return {name: self.path(name) for name in self.names}


def delivery(systemd: int | None) -> Delivery | None:
    """How a host whose systemd is ``systemd`` gets credentials; ``None``: it cannot (below 247,
    or a version that could not be read)."""
    if systemd is None or systemd < PLAIN_SINCE:
        return None
    return ENCRYPTED if systemd >= ENCRYPTED_SINCE else PLAIN


def select(selection: Selection, variables: Mapping[str, Variable]) -> tuple[str, ...]:
    """The names of ``variables`` that ``selection`` makes credentials, in name order."""
    return tuple(sorted(name for name, v in variables.items() if selection.selects(v)))


def problems(
    names: tuple[str, ...], variables: Mapping[str, Variable], encrypted: bool = True
) -> list[str]:
    """Why systemd could not carry these credentials exactly, a line per variable (never a
    value): one larger than systemd reads (encrypted: its file), all of them together over its
    limit for a service, text that is not UTF-8, or a name whose ``NAME_FILE`` another variable
    already is."""
    found = []
    total = 0
    too_large = False
    for name in names:
        try:
            size = len(variables[name].value.encode())
        except UnicodeEncodeError:
            found.append(f"{name}: not valid text (a lone surrogate): it cannot be written")
            continue
        total += len(name.encode()) + size
        if size > largest(name, encrypted):
            too_large = True
            found.append(f"{name}: {size} bytes, more than systemd takes in one credential "
                         f"({largest(name, encrypted)}{' encrypted' if encrypted else ''})")
        if f"{name}_FILE" in variables:
            found.append(f"{name}: {name}_FILE, which gives the credential's path, is also a "
                         "variable: rename one")  # fmt: skip
    if total > SIZE_MAX and not too_large:
        found.append(f"{', '.join(names)}: {total} bytes together (names and values), more "
                     f"than systemd's {SIZE_MAX} for all of a service's credentials")  # fmt: skip
    return found
