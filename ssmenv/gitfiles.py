"""What git hands over of a directory: the files it tracks or would add, never those it ignores.

One rule for the scan (what it reads) and the release (what it ships): tracked files and untracked
ones that the ignore rules (``.gitignore``, ``.git/info/exclude``, the user's excludes file) do
not match. What git ignores is what a developer keeps to themselves: ``.env`` files,
``config/production.env``, an ``.npmrc`` with a registry token, build output.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from pathlib import Path

from ssmenv.errors import GitError


def git(root: Path, *args: str, ok: Iterable[int] = (0,)) -> subprocess.CompletedProcess[str]:
    """``git -C root ARGS...``, its exit status one of ``ok`` or a ``GitError``."""
    try:
        result = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        raise GitError(f"{root}: git is not installed (it tells which files to take)") from None
    if result.returncode not in ok:
        # git's own words (a path, "dubious ownership"...): the first line says it.
        reason = (result.stderr.strip().splitlines() or ["no message"])[0]
        raise GitError(f"{root}: git {args[0]} failed: {reason}")
    return result


def nul_list(output: str) -> list[str]:
    """The items of a ``-z`` listing."""
    return [item for item in output.split("\0") if item]


def has_git(root: Path) -> bool:
    """Whether ``root`` is in a git work tree: it or a parent directory holds ``.git``.

    Found without running git, so a git that refuses the tree (not installed, "dubious ownership")
    is an error of the commands below, never a tree taken for a plain directory.
    """
    root = root.resolve()
    return any((directory / ".git").exists() for directory in (root, *root.parents))


def is_work_tree(root: Path) -> bool:
    """Whether git takes ``root`` for (a directory inside) a work tree."""
    result = git(root, "rev-parse", "--is-inside-work-tree", ok=(0, 128))
    return result.stdout.strip() == "true"


def top_level(root: Path) -> Path:
    """The top directory of the work tree holding ``root``."""
    return Path(git(root, "rev-parse", "--show-toplevel").stdout.strip()).resolve()


def is_ignored(root: Path) -> bool:
    """Whether git ignores ``root`` itself (say a build output directory): then it hands over
    nothing in it."""
    return git(root, "check-ignore", "-q", ".", ok=(0, 1)).returncode == 0


def handed_over(root: Path) -> list[str]:
    """Files under ``root`` (POSIX paths relative to it, sorted) that git would hand over:
    tracked ones and untracked ones it does not ignore.

    Regular files and symbolic links only: tracked files deleted from the work tree, and
    submodules, are not files here.
    """
    listed = nul_list(
        git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").stdout
    )
    return sorted({f for f in listed if (root / f).is_symlink() or (root / f).is_file()})


def ignored(root: Path) -> list[str]:
    """What git ignores under ``root``, untracked: files, and directories it ignores whole
    (``build/``, with their ``/``) rather than each file in them; sorted."""
    output = git(
        root, "ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--directory"
    ).stdout
    return sorted(nul_list(output))
