"""A caching mirror of the npm registry on 127.0.0.1, for the lab's hosts: their ``npm ci`` (the
deploy's sandboxed install of the example app's dependencies) fetches from it instead of
``registry.npmjs.org`` when the lab boots them with it (``lab.hosts.boot``'s ``npm_registry``: their
``/etc/npmrc`` names it, as a company's own mirror would). The lab's, never the toolkit's.

Why: every end-to-end module boots fresh hosts and each one's first deploy runs ``npm ci`` with
npm's cache empty (its sandbox's ``HOME`` is a private ``/tmp``). From the registry over TLS that
is 1.2 s of the host's CPU an install on this project's machine; from this mirror 0.74 s, and no
wait on the internet (measured: docs/tests.md).

What it serves, for ``GET`` only: a package's document (npm's abbreviated one when asked for it),
its tarball URLs rewritten to this mirror, and tarballs. Both are kept on disk under the lab cache
(``npm-registry``), shared by every mirror of the machine: tarballs for good (npm checks each
against the lockfile's integrity), documents for a day (a lockfile may name a version published
since), and an older document when the registry cannot be reached. Anything else is 404.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from lab.hosts import CACHE

UPSTREAM = "https://registry.npmjs.org"
STORE = CACHE / "npm-registry"
#: How long a package's document is served from disk before it is fetched again.
DOCUMENT_AGE = 24 * 3600.0
#: The two kinds of package document npm asks for (``Accept``), kept apart.
ABBREVIATED = "application/vnd.npm.install-v1+json"


class Store:
    """The mirror's files: ``directory`` (shared by every mirror of the machine, so each file is
    written whole or not at all) and where what is not there comes from (``upstream``)."""

    def __init__(self, directory: Path = STORE, upstream: str = UPSTREAM):
        self.directory = directory
        self.upstream = upstream

    def _write(self, key: str, body: bytes, kind: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        for suffix, data in ((".type", kind.encode()), ("", body)):
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, self.directory / f"{key}{suffix}")

    def _read(self, key: str, max_age: float | None) -> tuple[bytes, str] | None:
        path = self.directory / key
        try:
            if max_age is not None and time.time() - path.stat().st_mtime > max_age:
                return None
            return path.read_bytes(), (self.directory / f"{key}.type").read_text()
        except FileNotFoundError:
            return None

    def fetch(self, path: str, accept: str) -> tuple[bytes, str]:
        """``path``'s body and content type: from disk when fresh enough, else from upstream
        (kept), else an older copy when upstream cannot be reached."""
        tarball = "/-/" in path
        if tarball:
            wanted = "*/*"
        else:
            wanted = ABBREVIATED if ABBREVIATED in accept else "application/json"
        key = hashlib.sha256(f"{path}\0{wanted}".encode()).hexdigest()
        found = self._read(key, None if tarball else DOCUMENT_AGE)
        if found:
            return found
        request = urllib.request.Request(self.upstream + path, headers={"Accept": wanted})
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                body, kind = answer.read(), answer.headers.get("Content-Type", "")
        except urllib.error.HTTPError:
            raise  # upstream's answer (a 404: no such package), passed on as it is
        except OSError:
            stale = self._read(key, None)
            if stale:
                return stale
            raise
        self._write(key, body, kind)
        return body, kind


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: npm fetches a lockfile's packages on few sockets

    def do_GET(self) -> None:
        try:
            body, kind = self.server.store.fetch(self.path, self.headers.get("Accept", ""))
        except urllib.error.HTTPError as e:
            self._answer(e.code, b"", "text/plain")
            return
        except OSError as e:
            self._answer(502, f"{self.server.store.upstream}: {e}\n".encode(), "text/plain")
            return
        if "/-/" not in self.path:  # a document: its tarballs here too
            body = body.replace(f"{self.server.store.upstream}/".encode(), self.server.url.encode())
        self._answer(200, body, kind)

    def _answer(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:
        pass


class Mirror(http.server.ThreadingHTTPServer):
    """The mirror, serving from a thread of this process until ``close``."""

    daemon_threads = True

    def __init__(self, port: int = 0, store: Store | None = None):
        self.store = store or Store()
        super().__init__(("127.0.0.1", port), _Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}/"
        self._thread = threading.Thread(target=self.serve_forever, name="npm-mirror", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=10)
