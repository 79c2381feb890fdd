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


def made(cache_home):
    return cache_home / "ssmenv" / "agent" / f"{hashlib.sha256(TAR).hexdigest()}.tar.gz"


def test_a_bundle_is_compressed_once_and_found_again(cache_home):
    data = bundle.compressed(TAR)
    assert gzip.decompress(data) == TAR
    assert made(cache_home).read_bytes() == data
    before = made(cache_home).stat()
    assert bundle.compressed(TAR) == data
    after = made(cache_home).stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


# Named ids and gzip's mtime 0: each worker collects the same ids (a timestamp in an id made two
# workers' collections differ when they ran in different seconds, and xdist refuses that).
@pytest.mark.parametrize(
    "found",
    [b"not gzip at all", gzip.compress(b"FAKE other content", mtime=0)],
    ids=["not gzip", "another archive"],
)
def test_a_file_in_the_cache_that_is_not_the_bundle_is_made_again(cache_home, found):
    made(cache_home).parent.mkdir(parents=True)
    made(cache_home).write_bytes(found)
    data = bundle.compressed(TAR)
    assert gzip.decompress(data) == TAR
    assert made(cache_home).read_bytes() == data


def test_a_cache_that_cannot_be_written_still_gives_the_bundle(cache_home):
    cache_home.write_text("a file where the cache directory would be\n")
    assert gzip.decompress(bundle.compressed(TAR)) == TAR


def test_the_file_sent_is_the_runs_own_not_the_caches(cache_home):
    """Checked, then read again later: the file the run sends and uploads is one only it wrote, so
    a file changed in the cache after the check changes nothing the run sends."""
    built = bundle.build.__wrapped__((bundle.this_platform(),))
    assert not built.path.is_relative_to(cache_home)
    (cached,) = cache_home.glob("ssmenv/agent/*.tar.gz")
    cached.write_bytes(gzip.compress(b"FAKE planted after the check", mtime=0))
    assert hashlib.sha256(built.path.read_bytes()).hexdigest() == built.sha256


def test_the_same_files_give_the_same_bundle_from_the_cache_or_not(cache_home):
    platforms = (bundle.this_platform(),)
    first = bundle.build.__wrapped__(platforms)
    found = bundle.build.__wrapped__(platforms)
    for made in cache_home.glob("ssmenv/agent/*.tar.gz"):
        made.unlink()
    again = bundle.build.__wrapped__(platforms)
    assert first.sha256 == found.sha256 == again.sha256
    assert hashlib.sha256(again.path.read_bytes()).hexdigest() == again.sha256
