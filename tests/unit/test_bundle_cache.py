"""The agent's bundle is compressed once per content and found again in the user's cache, and a
file there is used only when it unpacks to exactly what the bundle holds."""

from __future__ import annotations

import gzip
import hashlib

import pytest

from ssmenv import bundle

TAR = b"FAKE tar bytes of an agent bundle\n" * 1000


@pytest.fixture(autouse=True)
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_a_bundle_is_compressed_once_and_found_again(cache_home):
    path = bundle.compressed(TAR)
    assert path == cache_home / "ssmenv" / "agent" / f"{hashlib.sha256(TAR).hexdigest()}.tar.gz"
    assert gzip.decompress(path.read_bytes()) == TAR
    made = path.stat()
    assert bundle.compressed(TAR) == path
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (made.st_ino, made.st_mtime_ns)


@pytest.mark.parametrize("found", [b"not gzip at all", gzip.compress(b"FAKE other content")])
def test_a_file_in_the_cache_that_is_not_the_bundle_is_made_again(cache_home, found):
    path = cache_home / "ssmenv" / "agent" / f"{hashlib.sha256(TAR).hexdigest()}.tar.gz"
    path.parent.mkdir(parents=True)
    path.write_bytes(found)
    assert gzip.decompress(bundle.compressed(TAR).read_bytes()) == TAR


def test_a_cache_that_cannot_be_written_still_gives_the_bundle(cache_home):
    cache_home.write_text("a file where the cache directory would be\n")
    path = bundle.compressed(TAR)
    assert not path.is_relative_to(cache_home)
    assert gzip.decompress(path.read_bytes()) == TAR


def test_the_same_files_give_the_same_bundle_from_the_cache_or_not(cache_home):
    platforms = (bundle.this_platform(),)
    first = bundle.build.__wrapped__(platforms)
    found = bundle.build.__wrapped__(platforms)
    for made in cache_home.glob("ssmenv/agent/*.tar.gz"):
        made.unlink()
    again = bundle.build.__wrapped__(platforms)
    assert first.sha256 == found.sha256 == again.sha256
    assert hashlib.sha256(again.path.read_bytes()).hexdigest() == again.sha256
