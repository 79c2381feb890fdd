"""A database login as a connection URL holds it, and the passwords a rotation makes."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field, replace
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from ssmenv.errors import SsmEnvError


@dataclass(frozen=True)
class Login:
    """A database login as a URL holds it: ``scheme://user:password@host:port/database?...``."""

    scheme: str
    user: str
    password: str = field(repr=False)
    host: str
    port: int | None
    database: str
    query: str = ""

    @classmethod
    def parse(cls, url: str, what: str) -> Login:
        """``url`` taken apart; an error naming ``what`` (never quoting the URL) if it is not a
        database URL with a user and a password."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise SsmEnvError(f"{what}: not a database URL") from None
        if not parts.scheme or parts.username is None or parts.password is None:
            raise SsmEnvError(f"{what}: not a database URL with a user and a password "
                              "(scheme://user:password@host/database)")  # fmt: skip
        return cls(parts.scheme, unquote(parts.username), unquote(parts.password),
                   parts.hostname or "", port, parts.path.lstrip("/"), parts.query)  # fmt: skip

    @property
    def url(self) -> str:
        """The URL again (a secret)."""
        return self._url(quote(self.password, safe=""))

    @property
    def masked(self) -> str:
        """The URL with ``***`` for its password: what a message may show."""
        return self._url("***")

    def _url(self, password: str) -> str:
        netloc = f"{quote(self.user, safe='')}:{password}@{self.host}"
        netloc += f":{self.port}" if self.port else ""
        return urlunsplit((self.scheme, netloc, f"/{self.database}", self.query, ""))

    def as_user(self, user: str, password: str) -> Login:
        """The same database, as ``user`` with ``password``."""
        return replace(self, user=user, password=password)


def new_password(length: int = 32) -> str:
    """A random password of letters and digits (nothing a URL, a shell or an env file treats
    specially), from the system's CSPRNG."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))

