"""The database side of a password rotation: one module per engine (``postgres``; MySQL would be
one more), each with the same four functions, chosen by a connection URL's scheme (``ENGINES``).

- ``login_works(login)``: whether ``login`` connects and answers a query.
- ``set_password(admin, user, password, like)``: ``user`` logs in with ``password`` and has the
  grants of ``like`` (created as a member of it if it does not exist yet).
- ``forget_password(admin, user)``: ``user``'s password becomes a random one nobody holds.
- ``describe(...)``: what ``set_password`` would do, for ``--dry-run``.

A ``Login`` is a connection URL taken apart; its password never shows in its ``repr`` or in
``str`` (``masked``): every message of a rotation names users and hosts, never a password.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ssmenv.databases.login import Login, from_secret, new_password, to_secret
from ssmenv.errors import SsmEnvError

__all__ = ["ENGINES", "Login", "engine", "from_secret", "new_password", "to_secret"]

#: Each engine's module (in this package) by the URL schemes that name it. Imported when a
#: rotation needs it: its driver (psycopg) is a tenth of a second of every command's start.
ENGINES: dict[str, str] = {"postgres": "postgres", "postgresql": "postgres"}


def engine(login: Login, what: str) -> ModuleType:
    """The module that speaks to ``login``'s database, by its URL's scheme."""
    if login.scheme not in ENGINES:
        raise SsmEnvError(f"{what}: no rotation for databases of scheme {login.scheme!r} "
                          f"(known: {', '.join(sorted(ENGINES))})")  # fmt: skip
    return importlib.import_module(f"{__name__}.{ENGINES[login.scheme]}")
