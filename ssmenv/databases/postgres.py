"""PostgreSQL's side of a rotation, through psycopg (libpq).

A password is never sent as text: libpq hashes it first (``PQencryptPasswordConn``: a
SCRAM-SHA-256 verifier, as psql's ``\\password`` does), so the server's statement log, a
``log_statement = 'ddl'`` or a failed statement's error, never holds it. Roles are named as SQL
identifiers (``psycopg.sql.Identifier``), never pasted into SQL.

The two login roles of the alternating-users strategy have the same grants: the second one is
created as a member of the first (``IN ROLE``, inheriting its privileges: the tables the first
owns), as AWS's multi-user rotation for PostgreSQL does.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import psycopg
from psycopg import sql

from ssmenv.databases.login import Login, new_password
from ssmenv.errors import SsmEnvError

CONNECT_TIMEOUT = 10


def _connect(login: Login) -> psycopg.Connection:
    options = dict(parse_qsl(login.query))
    return psycopg.connect(host=login.host, port=login.port or 5432, user=login.user,
                           password=login.password, dbname=login.database,
                           connect_timeout=CONNECT_TIMEOUT, autocommit=True,
                           **options)  # fmt: skip


def _reason(error: psycopg.Error, login: Login) -> str:
    """libpq's or the server's first line, which names users and hosts, never a password (and
    the password masked all the same, should a message ever quote it)."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text.replace(login.password, "***") if login.password else text


def login_works(login: Login) -> bool:
    """Whether ``login`` connects and answers ``SELECT 1``."""
    try:
        with _connect(login) as conn:
            return conn.execute("SELECT 1").fetchone() == (1,)
    except psycopg.Error:
        return False


def _admin(admin: Login) -> psycopg.Connection:
    try:
        return _connect(admin)
    except psycopg.Error as e:
        raise SsmEnvError(f"the administrator {admin.user!r} cannot log in to {admin.host}: "
                          f"{_reason(e, admin)}") from None  # fmt: skip


def _verifier(conn: psycopg.Connection, user: str, password: str) -> str:
    """``password``'s SCRAM-SHA-256 verifier for ``user``, made by libpq on this machine."""
    return conn.pgconn.encrypt_password(password.encode(), user.encode(),
                                        b"scram-sha-256").decode()  # fmt: skip


def _exists(conn: psycopg.Connection, user: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,)).fetchone() is not None


def set_password(admin: Login, user: str, password: str, like: str) -> None:
    """``user`` logs in with ``password``; created first as a member of ``like`` (its grants)
    if it does not exist."""
    with _admin(admin) as conn:
        try:
            if not _exists(conn, user):
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN IN ROLE {}").format(
                    sql.Identifier(user), sql.Identifier(like)))  # fmt: skip
            conn.execute(sql.SQL("ALTER ROLE {} WITH LOGIN PASSWORD {}").format(
                sql.Identifier(user), sql.Literal(_verifier(conn, user, password))))  # fmt: skip
        except psycopg.Error as e:
            raise SsmEnvError(f"setting the password of role {user!r} failed: "
                              f"{_reason(e, admin)}") from None  # fmt: skip


def forget_password(admin: Login, user: str) -> None:
    """``user``'s password becomes a random one that is not kept anywhere."""
    with _admin(admin) as conn:
        try:
            conn.execute(sql.SQL("ALTER ROLE {} WITH PASSWORD {}").format(
                sql.Identifier(user), sql.Literal(_verifier(conn, user, new_password()))))
        except psycopg.Error as e:
            raise SsmEnvError(f"changing the password of role {user!r} failed: "
                              f"{_reason(e, admin)}") from None  # fmt: skip


def describe_set(user: str, like: str) -> str:
    return (f"set a new password on role {user!r} (hashed by libpq before it is sent; created "
            f"as a member of {like!r} if missing)")
