"""A PostgreSQL cluster of the lab's own: Debian's PostgreSQL 15, never the machine's cluster.

``initdb`` in a directory of its own (under the lab's state directory), run as the system user
``postgres``, listening on 127.0.0.1 at a port the caller chooses (the test hosts share this
machine's network, so they reach it there) and on a socket in its own directory. Local socket
connections are trusted (the lab's own setup, as ``postgres``); TCP ones need a password
(scram-sha-256), as a real server's would.

What the example app expects of it (``create_app``): a database ``app`` whose table ``visits``
is owned by the login role ``app``, and an administrator role that may change other roles'
passwords (CREATEROLE: what ``python -m ssmenv db rotate`` logs in as), each password given by
the caller. No password ever goes on a command line: psql reads its SQL on stdin, and a
password set by SQL goes in that SQL.

    python -m lab.postgres up --port 5433      # prints the cluster's directory
    python -m lab.postgres down --port 5433
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from lab.hosts import STATE

BIN = Path(os.environ.get("SSMENV_LAB_POSTGRES_BIN", "/usr/lib/postgresql/15/bin"))
USER = "postgres"
DATABASE = "app"
START_DEADLINE = 60


@dataclass(frozen=True)
class Cluster:
    """A running cluster of the lab's: its directory and port."""

    directory: Path
    port: int

    @property
    def socket_dir(self) -> Path:
        return self.directory

    def url(self, user: str, password: str, database: str = DATABASE) -> str:
        """A connection URL on 127.0.0.1 (a secret: it holds ``password``)."""
        return f"postgres://{user}:{password}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = DATABASE, check: bool = True) -> str:
        """``sql`` run by the superuser over the cluster's socket (on stdin); its rows, unaligned
        and tab-separated."""
        result = subprocess.run(
            ["runuser", "-u", USER, "--", "psql", "-X", "-q", "-A", "-t", "-F", "\t", "-v",
             "ON_ERROR_STOP=1", "-h", str(self.socket_dir), "-p", str(self.port), "-d", database],
            input=sql, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        if check and result.returncode != 0:
            raise RuntimeError(f"psql on port {self.port} failed: {result.stderr.strip()}")
        return result.stdout

    def login(self, user: str, password: str, database: str = DATABASE) -> bool:
        """Whether ``user`` logs in over TCP with ``password`` (given to psql in its environment,
        never its command line)."""
        result = subprocess.run(
            ["psql", "-X", "-q", "-A", "-t", "-h", "127.0.0.1", "-p", str(self.port), "-U", user,
             "-d", database, "-c", "SELECT 1"],
            env={**os.environ, "PGPASSWORD": password, "PGCONNECT_TIMEOUT": "5"},
            capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        return result.returncode == 0 and result.stdout.strip() == "1"

    def sessions(self) -> dict[str, int]:
        """How many client sessions each role has open."""
        rows = self.psql("SELECT usename, count(*) FROM pg_stat_activity WHERE usename IS NOT "
                         "NULL AND backend_type = 'client backend' GROUP BY usename")  # fmt: skip
        return {u: int(n) for u, n in (line.split("\t") for line in rows.splitlines() if line)}


def directory_for(port: int) -> Path:
    return STATE / f"postgres-{port}"


def _literal(text: str) -> str:
    """``text`` as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def up(port: int) -> Cluster:
    """A fresh cluster on ``port`` (whatever was left at its directory removed first), started
    and accepting connections."""
    cluster = Cluster(directory_for(port), port)
    down(port)
    owner = pwd.getpwnam(USER)
    cluster.directory.mkdir(parents=True, mode=0o700)
    os.chown(cluster.directory, owner.pw_uid, owner.pw_gid)
    data = cluster.directory / "data"
    subprocess.run(
        ["runuser", "-u", USER, "--", str(BIN / "initdb"), "-D", str(data), "-U", USER,
         "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    options = (f"-p {port} -k {cluster.socket_dir} -c listen_addresses=127.0.0.1 "
               "-c max_connections=200")  # fmt: skip
    subprocess.run(
        ["runuser", "-u", USER, "--", str(BIN / "pg_ctl"), "-D", str(data), "-o", options,
         "-l", str(cluster.directory / "server.log"), "-w", "-t", str(START_DEADLINE), "start"],
        check=True, capture_output=True, timeout=START_DEADLINE + 10,
    )  # fmt: skip
    end = time.monotonic() + START_DEADLINE
    while subprocess.run([str(BIN / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port)],
                         timeout=10).returncode != 0:  # fmt: skip
        if time.monotonic() > end:
            raise SystemExit(f"PostgreSQL on port {port} not ready: see {cluster.directory}")
        time.sleep(0.2)
    return cluster


def down(port: int) -> None:
    """Stop the cluster on ``port`` (if any) and remove its directory."""
    directory = directory_for(port)
    data = directory / "data"
    if (data / "postmaster.pid").exists():
        subprocess.run(
            ["runuser", "-u", USER, "--", str(BIN / "pg_ctl"), "-D", str(data), "-m", "fast",
             "-w", "-t", "60", "stop"],
            capture_output=True, timeout=90,
        )  # fmt: skip
    shutil.rmtree(directory, ignore_errors=True)


def create_app(cluster: Cluster, app_password: str, admin: str, admin_password: str) -> None:
    """The example app's database: role ``app`` (login, ``app_password``) owning database
    ``app`` and its table ``visits``; role ``admin`` (login, CREATEROLE, ``admin_password``)."""
    cluster.psql(f"""
        CREATE ROLE app LOGIN PASSWORD {_literal(app_password)};
        CREATE ROLE {admin} LOGIN CREATEROLE PASSWORD {_literal(admin_password)};
        CREATE DATABASE {DATABASE} OWNER app;
    """, database="postgres")  # fmt: skip
    cluster.psql("""
        SET ROLE app;
        CREATE TABLE visits (
          id bigserial PRIMARY KEY,
          at timestamptz NOT NULL DEFAULT now(),
          host text NOT NULL,
          db_user text NOT NULL
        );
    """)  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lab.postgres", description=__doc__.split(
        "\n\n")[0])  # fmt: skip
    parser.add_argument("action", choices=("up", "down"))
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    if args.action == "up":
        print(up(args.port).directory)
    else:
        down(args.port)


if __name__ == "__main__":
    main()
