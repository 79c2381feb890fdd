"""The lab's npm mirror (``lab.npm_mirror``), over HTTP as npm reaches it, in front of a registry
of the test's own on 127.0.0.1: documents point at the mirror's tarballs; what it fetched it
serves again without the registry; a document older than a day is fetched again, and served old
only while the registry cannot be reached."""

from __future__ import annotations

import http.server
import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from lab.npm_mirror import ABBREVIATED, DOCUMENT_AGE, Mirror, Store

TARBALL = b"FAKE tarball bytes\x00\x01"


class Registry(http.server.ThreadingHTTPServer):
    """A registry with one package, ``left-pad`` 1.0.0, that counts what it is asked."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Answer)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self.version = "1.0.0"
        self.asked: list[tuple[str, str]] = []
        threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True).start()

    def document(self) -> bytes:
        tarball = f"{self.url}/left-pad/-/left-pad-{self.version}.tgz"
        return json.dumps({"name": "left-pad", "versions": {
            self.version: {"dist": {"tarball": tarball}}}}).encode()  # fmt: skip


class _Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.asked.append((self.path, self.headers.get("Accept", "")))
        if self.path == "/left-pad":
            body, kind = self.server.document(), ABBREVIATED
        elif self.path == "/left-pad/-/left-pad-1.0.0.tgz":
            body, kind = TARBALL, "application/octet-stream"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def registry() -> Iterator[Registry]:
    server = Registry()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def mirror(registry, tmp_path) -> Iterator[Mirror]:
    served = Mirror(store=Store(tmp_path / "store", registry.url))
    yield served
    served.close()


def get(url: str, accept: str = ABBREVIATED) -> tuple[bytes, str]:
    with urllib.request.urlopen(urllib.request.Request(url, headers={"Accept": accept})) as r:
        return r.read(), r.headers["Content-Type"]


def stop(registry: Registry) -> None:
    registry.shutdown()
    registry.server_close()


def test_a_document_names_the_mirrors_tarballs_and_both_are_served_without_the_registry(
    registry, mirror
):
    document, kind = get(f"{mirror.url}left-pad")
    tarball = json.loads(document)["versions"]["1.0.0"]["dist"]["tarball"]
    assert (tarball, kind) == (f"{mirror.url}left-pad/-/left-pad-1.0.0.tgz", ABBREVIATED)
    assert get(tarball)[0] == TARBALL
    assert [accept for _, accept in registry.asked] == [ABBREVIATED, "*/*"]

    stop(registry)
    assert get(f"{mirror.url}left-pad")[0] == document
    assert get(tarball)[0] == TARBALL


def test_the_full_document_and_the_abbreviated_one_are_kept_apart(registry, mirror):
    get(f"{mirror.url}left-pad", accept="application/json")
    get(f"{mirror.url}left-pad", accept=f"{ABBREVIATED}; q=1.0, application/json; q=0.8, */*")
    get(f"{mirror.url}left-pad")
    assert registry.asked == [("/left-pad", "application/json"), ("/left-pad", ABBREVIATED)]


def test_a_document_older_than_a_day_is_fetched_again_or_served_old_without_the_registry(
    registry, mirror
):
    get(f"{mirror.url}left-pad")
    day_old = time.time() - DOCUMENT_AGE - 60
    for path in mirror.store.directory.iterdir():
        os.utime(path, (day_old, day_old))
    registry.version = "1.0.1"
    assert b"1.0.1" in get(f"{mirror.url}left-pad")[0]
    assert len(registry.asked) == 2

    for path in mirror.store.directory.iterdir():
        os.utime(path, (day_old, day_old))
    stop(registry)
    assert b"1.0.1" in get(f"{mirror.url}left-pad")[0]


def test_what_the_registry_does_not_have_is_not_found_and_nothing_is_kept(registry, mirror):
    with pytest.raises(urllib.error.HTTPError) as refused:
        get(f"{mirror.url}no-such-package")
    assert refused.value.code == 404
    assert not list(mirror.store.directory.glob("*"))


def test_without_the_registry_what_was_never_fetched_is_a_bad_gateway(registry, mirror):
    stop(registry)
    with pytest.raises(urllib.error.HTTPError) as failed:
        get(f"{mirror.url}left-pad")
    assert failed.value.code == 502
