"""A database login as a connection URL holds it, and the passwords a rotation makes."""

from __future__ import annotations

import json
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


#: The keys of a JSON secret that a login needs, as AWS's RDS rotation templates write them.
SECRET_KEYS = ("username", "password", "host")


def _is_json(text: str) -> bool:
    return text.lstrip().startswith("{")


def from_secret(text: str, what: str) -> Login:
    """The login a Secrets Manager secret holds: a JSON object with ``username``, ``password``,
    ``host`` (and ``port``, ``dbname``, ``engine``: AWS's RDS rotation templates' keys; ``dbname``
    defaults to ``postgres`` and ``engine`` to ``postgres`` as theirs do), or a whole database URL
    as its string. Errors name ``what`` and keys, never a value."""
    if not _is_json(text):
        return Login.parse(text, what)
    try:
        data = json.loads(text)
    except ValueError:
        raise SsmEnvError(f"{what}: neither a database URL nor a JSON object") from None
    if not isinstance(data, dict) or not all(
            isinstance(data.get(key), str) and data[key] for key in SECRET_KEYS):
        raise SsmEnvError(f"{what}: a JSON secret needs the strings {', '.join(SECRET_KEYS)} (as "
                          "AWS's RDS rotation templates write them)")  # fmt: skip
    port = data.get("port")
    try:
        port = int(port) if port not in (None, "") else None
    except (TypeError, ValueError):
        raise SsmEnvError(f"{what}: key port is not a port number") from None
    return Login(str(data.get("engine") or "postgres"), data["username"], data["password"],
                 data["host"], port, str(data.get("dbname") or "postgres"))  # fmt: skip


def to_secret(text: str, login: Login) -> str:
    """``text`` (a secret's value as ``from_secret`` reads it) holding ``login``'s user and
    password instead: a JSON secret keeps its other keys and their order."""
    if not _is_json(text):
        return login.url
    data = json.loads(text)
    data["username"], data["password"] = login.user, login.password
    return json.dumps(data)


def new_password(length: int = 32) -> str:
    """A random password of letters and digits (nothing a URL, a shell or an env file treats
    specially), from the system's CSPRNG."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))

