"""Release archives: the app's code as it ships to a host, one reproducible archive of the
source, built once per run on the control machine, whose hash names the release. Both the push
driver (``tasks.release``) and ``python -m ssmenv publish`` (pull mode's S3 object) build it here.

A release holds what git hands over of the app's source (``ssmenv.gitfiles``, the scan's rule
too): tracked files and untracked ones git does not ignore. What git ignores stays on the machine
that deploys (``config/production.env``, an ``.npmrc`` with a token, build output), and a line
names it. A source outside any git work tree (or one git ignores whole, a build's output) has no
ignore rules to go by: everything in it ships. ``.env*``, ``node_modules`` and the like never do.
"""

from __future__ import annotations

import atexit
import gzip
import hashlib
import io
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath

from ssmenv import gitfiles

# Never shipped, tracked or not: dependencies are installed on the host, local env files never
# leave the laptop.
EXCLUDE = {"node_modules", ".git", ".env", "__pycache__", ".venv"}
_EXCLUDED = ".env*, node_modules, .git, .venv and __pycache__"
#: At most this many names in the line about what git ignores.
NAMED = 10


def _excluded(relative: str) -> bool:
    return any(p in EXCLUDE or p.startswith(".env") for p in PurePosixPath(relative).parts)


def _shown(name: str) -> str:
    # A file name may hold anything, a newline that would forge an output line included.
    return name if name.isprintable() else repr(name)


@dataclass(frozen=True)
class ReleaseFiles:
    """What a release of a source tree holds, and what git kept out of it.

    + files: POSIX paths relative to the source, in archive order (files, symbolic links and,
      outside git, directories; an archive adds the parents of each)
    + left_out: what git ignores that would otherwise ship (a directory it ignores whole ends in
      ``/``); ``.env*``, ``node_modules`` and the like are not named, they never ship
    + plain: why git had no say (``""``: it had): the source is outside a work tree, or ignored
    """

    files: tuple[str, ...]
    left_out: tuple[str, ...] = ()
    plain: str = ""

    def note(self, app: str) -> str | None:
        """One line for the deploy's output, names only, never a file's content."""
        if self.plain:
            return (f"{app}: {self.plain}: the release is every file in it but {_EXCLUDED} "
                    "(git's ignore rules cannot apply)")  # fmt: skip
        if not self.left_out:
            return None
        shown = ", ".join(_shown(name) for name in self.left_out[:NAMED])
        more = f" and {len(self.left_out) - NAMED} more" if len(self.left_out) > NAMED else ""
        return f"{app}: {len(self.left_out)} ignored by git, left out of the release: {shown}{more}"


def _archive_order(paths: set[str]) -> tuple[str, ...]:
    return tuple(sorted(paths, key=lambda p: PurePosixPath(p).parts))


def _plain_files(source: Path) -> set[str]:
    """Everything under ``source`` but what is never shipped; links are not followed."""
    found = set()
    for directory, dirs, files in os.walk(source):
        relative = Path(directory).relative_to(source)
        dirs[:] = [d for d in dirs if not _excluded(d)]
        for name in (*dirs, *files):
            path = Path(directory, name)
            if not _excluded(name) and (path.is_symlink() or path.is_dir() or path.is_file()):
                found.add((relative / name).as_posix())
    return found


def _left_out(source: Path) -> tuple[str, ...]:
    listed = gitfiles.ignored(source)
    # git lists a directory that holds only ignored things, then those things too: name them,
    # not it (a directory it ignores whole is listed alone).
    holders = {str(PurePosixPath(n).parent) + "/" for n in listed}
    return tuple(
        n for n in listed
        if not _excluded(n) and not (n.endswith("/") and any(h.startswith(n) for h in holders))
    )  # fmt: skip


@cache
def release_files(source: Path) -> ReleaseFiles:
    """What a release of ``source`` holds (once per run for all hosts)."""
    if not gitfiles.has_git(source):
        return ReleaseFiles(_archive_order(_plain_files(source)), plain=f"{source} is not in a "
                            "git work tree")  # fmt: skip
    if gitfiles.is_ignored(source):
        return ReleaseFiles(_archive_order(_plain_files(source)), plain=f"git ignores {source}")
    files = {f for f in gitfiles.handed_over(source) if not _excluded(f)}
    return ReleaseFiles(_archive_order(files), _left_out(source))


@cache
def build_archive(source: Path) -> tuple[str, Path]:
    """A reproducible tar.gz of ``source``'s release files and its content hash; built once per
    run for all hosts.

    Entries are sorted, owned by root and dated 0, so the same files always give the same bytes
    and the hash can name the release (what git ignores does not change it).
    """
    files = release_files(source).files
    parents = {str(parent) for f in files for parent in PurePosixPath(f).parents}
    entries = _archive_order({*files, *parents} - {"."})
    buffer = io.BytesIO()
    # gzip's header carries a date too: pin it.
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w") as tar,
    ):
        for relative in entries:
            path = source / relative
            info = tar.gettarinfo(str(path), arcname=relative)  # a link stays a link
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mtime = 0
            info.mode = 0o755 if info.isdir() or info.mode & 0o100 else 0o644
            if info.isreg():
                with path.open("rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()[:12]
    # Removed when the run ends: nothing of a run stays behind on the control machine.
    directory = tempfile.mkdtemp(prefix="ssmenv-release-")
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    out = Path(directory) / f"{digest}.tar.gz"
    out.write_bytes(data)
    return digest, out
