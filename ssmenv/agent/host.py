"""What the agent does on its own host: run the toolkit's programs (``ssmenv.programs``) as the
push driver runs them over SSH, write its own files whole and private, load its environment, and
hold a lock.

Every program gets its plan and payload on stdin, as over SSH: the command line is the same short
text every time, so no value or digest is in ``ps``. What a program says back is masked before
it is printed (``ssmenv.activation.said``, ``ssmenv.scrub``), as the push driver masks it.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ssmenv import envfile, hoststate, programs
from ssmenv.errors import SsmEnvError
from ssmenv.hoststate import HostState, Query

#: Root's directory for locks and markers, as ``shell/lib.sh`` keeps it.
RUN_DIR = "/run/ssmenv"
#: What the operator gives the agent's AWS calls (``AWS_ENDPOINT_URL_SSM`` for a VPC endpoint
#: with its own name, ``HTTPS_PROXY``, ``AWS_EC2_METADATA_SERVICE_ENDPOINT``...): a root-only
#: file in systemd's environment file grammar, read at the agent's every start, whoever starts
#: it (its units, a person, Run Command).
ENVIRONMENT = "/etc/ssmenv/agent/environment"


class AgentError(SsmEnvError):
    """The agent cannot do what it was asked: one line, naming files and units, never a value."""


@dataclass(frozen=True)
class Ran:
    """How a program ended: its exit status and what it said, line by line (not masked yet)."""

    status: int
    stdout: tuple[str, ...]
    stderr: tuple[str, ...]


def run(name: str, plan: Iterable[str], payload: str = "", timeout: float | None = None) -> Ran:
    """Program ``name`` (``provision``, ``activate``) run here, its plan and ``payload`` on
    stdin; a deadline of ``timeout`` seconds (the program's own waits have theirs)."""
    try:
        done = subprocess.run(programs.runner(name),
                              input=programs.stdin(name, plan, payload).encode(),
                              capture_output=True, timeout=timeout, check=False)  # fmt: skip
    except subprocess.TimeoutExpired:
        raise AgentError(f"{name}.sh did not end within {timeout:.0f} s") from None

    def lines(data: bytes) -> tuple[str, ...]:
        return tuple(data.decode("utf-8", "replace").splitlines())

    return Ran(done.returncode, lines(done.stdout), lines(done.stderr))


def read_state(query: Query) -> HostState:
    """``shell/state.sh`` run here for ``query`` (it waits for an activation under way)."""
    command = ["sh", "-c", hoststate.script("state"), "ssmenv-state", *query.args()]
    done = subprocess.run(command, capture_output=True, timeout=query.lock_wait + 60, check=False)
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise AgentError(f"the state read failed (status {done.returncode})"
                         + (f": {said[-1]}" if said else ""))  # fmt: skip
    # The output holds the fingerprint key: parsed here, never printed.
    return hoststate.parse(done.stdout.decode("utf-8", "replace").splitlines())


def private_dir(path: str, mode: int = 0o700) -> None:
    """``path`` a directory of root's (its parents made as needed), ``mode``, never a link."""
    os.makedirs(path, mode=mode, exist_ok=True)
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise AgentError(f"{path} is not a directory (a link?): the agent never writes through one")
    if info.st_uid != 0 or stat.S_IMODE(info.st_mode) != mode:
        os.chown(path, 0, 0)
        os.chmod(path, mode)


def write(path: str, data: bytes, mode: int = 0o600, group: int = 0) -> bool:
    """``data`` put in ``path`` whole: a temp file beside it, private from its first byte, its
    owner (root, ``group``) and ``mode`` set and its content synced before the rename. False
    when the file had that content, owner and mode already (nothing written)."""
    try:
        info = os.lstat(path)
        if (stat.S_ISREG(info.st_mode) and (info.st_uid, info.st_gid) == (0, group)
                and stat.S_IMODE(info.st_mode) == mode and Path(path).read_bytes() == data):
            return False  # fmt: skip
    except FileNotFoundError:
        pass
    directory = os.path.dirname(path)
    fd, temp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.ssmenv-", dir=directory)
    try:
        os.fchown(fd, 0, group)
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        os.unlink(temp)
        raise
    dirfd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dirfd)
    finally:
        os.close(dirfd)
    return True


def load_environment(path: str = ENVIRONMENT) -> dict[str, str]:
    """The variables of the operator's environment file, put in this process's environment
    before any AWS client is made; none when there is no file. A file that someone other than
    root could have written is refused: it decides where the agent's AWS calls go."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return {}
    if info.st_uid != 0 or info.st_mode & 0o022:
        raise AgentError(f"{path} must be root's and writable by root alone (it is mode "
                         f"{stat.S_IMODE(info.st_mode):o}, uid {info.st_uid})")  # fmt: skip
    try:
        found = envfile.parse(Path(path).read_text())
    except (UnicodeDecodeError, ValueError):
        raise AgentError(f"{path} is not an environment file (KEY=value lines)") from None
    os.environ.update(found)
    return found


@contextmanager
def lock(path: str, wait: float) -> Iterator[bool]:
    """Hold ``path`` (an flock in root's ``RUN_DIR``), waiting at most ``wait`` seconds; yields
    False, holding nothing, when another holds it still."""
    private_dir(os.path.dirname(path))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        end = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= end:
                    yield False
                    return
                time.sleep(0.2)
        yield True
    finally:
        os.close(fd)
