"""Example app, Python twin of ../app/server.js: all configuration from the environment, checked
at start; its rows in PostgreSQL (``DATABASE_URL``, through psycopg). A variable is in the
environment or, delivered as a file (systemd credentials: the deploy's ``credentials``), in the
file its ``NAME_FILE`` variable names.

    GET /healthz       200 "ok": the process is up (the database is not asked)
    GET /healthz/db    200 "ok <role>": a query on the app's table answered (health_path)
    POST /visits       a row written, then the latest rows read back (JSON)
    GET /visits        the latest rows (JSON)
    GET /fingerprints  {"NAME": "<sha256 of its value>", ...} for every variable: never a value
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg

# What this app cannot run without. A deploy checks the same names (env_required) before any host
# is touched; this check is the last line of defence, and it names every missing one at once.
REQUIRED = ["PORT", "DATABASE_URL", "API_KEY", "SESSION_SECRET"]
EX_CONFIG = 78


def raw(name: str) -> bytes | None:
    """``name``'s bytes: from the environment, or from the file ``NAME_FILE`` names."""
    value = os.environb.get(os.fsencode(name))
    if value is not None:
        return value
    file = os.environb.get(os.fsencode(name + "_FILE"))
    if file is None:
        return None
    with open(file, "rb") as f:
        return f.read()


def value(name: str) -> str | None:
    """``name``'s value as text (``None``: not set)."""
    data = raw(name)
    return None if data is None else data.decode("utf-8", "surrogateescape")


def fingerprints() -> dict[str, str]:
    """Each variable's name to the sha256 of its value's bytes, as the process received them,
    those read from files too (the sha256 of the file's content)."""
    names = {os.fsdecode(n) for n in os.environb}
    names |= {n.removesuffix("_FILE") for n in names if n.endswith("_FILE")}
    found = {}
    for name in sorted(names):
        try:
            data = raw(name)
        except OSError:
            continue  # a NAME_FILE that names no readable file is not a variable delivered as one
        if data is not None:
            found[name] = hashlib.sha256(data).hexdigest()
    return found


def database() -> psycopg.Connection:
    """A connection to ``DATABASE_URL``, one per request (connecting only when a request needs
    it: the process starts, and serves /healthz, whether or not the database answers)."""
    return psycopg.connect(value("DATABASE_URL") or "", connect_timeout=3, autocommit=True)


def latest(conn: psycopg.Connection) -> list[dict[str, str]]:
    rows = conn.execute("SELECT id, at, host, db_user FROM visits ORDER BY id DESC LIMIT 5")
    return [{"id": str(i), "at": at.isoformat(), "host": h, "db_user": u} for i, at, h, u in rows]


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._answer(200, "text/plain", "ok\n")
        elif self.path == "/healthz/db":
            # Fails on a wrong password, an unreachable server, a role without the app's grants.
            self._database(lambda conn: "ok {}\n".format(*conn.execute(
                "SELECT current_user, (SELECT count(*) FROM visits)").fetchone()), "text/plain")
        elif self.path == "/visits":
            self._database(lambda conn: json.dumps(latest(conn)) + "\n")
        elif self.path == "/fingerprints":
            self._answer(200, "application/json", json.dumps(fingerprints(), indent=2) + "\n")
        else:
            self._answer(404, "text/plain", "not found\n")

    def do_POST(self) -> None:
        if self.path == "/visits":
            def visit(conn: psycopg.Connection) -> str:
                conn.execute("INSERT INTO visits (host, db_user) VALUES (%s, current_user)",
                             (socket.gethostname(),))
                return json.dumps(latest(conn)) + "\n"

            self._database(visit)
        else:
            self._answer(404, "text/plain", "not found\n")

    def _database(self, work, content_type: str = "application/json") -> None:
        """``work``'s answer with a connection, or 503 naming what failed (never the URL)."""
        try:
            with database() as conn:
                body = work(conn)
        except psycopg.Error as e:
            reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
            self._answer(503, "text/plain", f"database: {e.sqlstate or 'error'}: {reason}\n")
            return
        self._answer(200, content_type, body)

    def _answer(self, status: int, content_type: str, body: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        """No access log, like the Node app: the journal gets the start line and errors."""


class DualStackServer(ThreadingHTTPServer):
    """Listens on IPv6 and IPv4 at once, as Node does; plain IPv4 where the host has no IPv6."""

    address_family = socket.AF_INET6
    daemon_threads = True

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def serve(port: int) -> ThreadingHTTPServer:
    try:
        return DualStackServer(("::", port), Handler)
    except OSError:
        return ThreadingHTTPServer(("0.0.0.0", port), Handler)  # noqa: S104 (an app server)


def main() -> int:
    missing = []
    for name in REQUIRED:
        try:
            if not value(name):
                missing.append(name)
        except OSError as e:
            print(f"{name}_FILE: cannot read {os.fsdecode(e.filename)} ({e.strerror})",
                  file=sys.stderr)
            missing.append(name)
    if missing:
        print(f"missing required environment variables: {', '.join(missing)}", file=sys.stderr)
        return EX_CONFIG
    # A present but wrong value crashes just as surely: check the shape of what we can.
    if not re.match(r"[a-z][a-z0-9+.-]*://", value("DATABASE_URL") or "", re.I | re.A):
        print("DATABASE_URL is not a URL (scheme://...)", file=sys.stderr)
        return EX_CONFIG
    try:
        port = int(os.environ["PORT"])
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        print("PORT is not a port number", file=sys.stderr)
        return EX_CONFIG

    # systemd stops the service with SIGTERM: leave serve_forever and close the socket, exit 0.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with serve(port) as server:
        print(f"listening on port {port}", flush=True)
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
