"""The agent's bundle: everything the host's agent runs on but the host's own Python and botocore,
as one reproducible archive, built on the control machine (once per run).

A host that pulls needs no compiler and no package index: the distribution gives it Python 3 and
botocore (``python3-botocore``: Debian 12, Ubuntu 24.04), and the bundle the rest, unpacked
root's and read-only under ``/opt/ssmenv-agent/<version>`` (``ssmenv.plan.pull``) by a deploy's
provisioning command, or fetched from the release bucket by a host's user data (``python -m
ssmenv publish`` uploads it; ``ssmenv.agent.bootstrap``)::

    bin/ssmenv-agent              the launcher: the host's python3, isolated (-I), this lib first
    lib/ssmenv/                   this package and its templates and host programs
    lib/pydantic/, jinja2/, ...   the pure-Python dependencies (Debian and Ubuntu package pydantic
                                  1.x; the core needs 2.x)
    lib/3.11-x86_64/pydantic_core/  pydantic's compiled core, one directory per platform
                                  (``pull_platforms``): the launcher takes its Python's

Each platform's ``pydantic_core`` is taken from the control machine's own environment when it is
that platform (the same version as the rest, as pydantic requires), else from its wheel for that
platform (``pip download --only-binary``), kept in a cache (``~/.cache/ssmenv/wheels``).

Measured (Debian 12, x86_64): the bundle for one platform is about 3 MB (gzip), 8.5 MB
unpacked; compressed once per content (``compressed``: ``~/.cache/ssmenv/agent``); see
docs/pull.md for what the agent costs on a host.
"""

from __future__ import annotations

import atexit
import gzip
import hashlib
import io
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path, PurePosixPath

import ssmenv
from ssmenv.errors import SsmEnvError
from ssmenv.plan.pull import Bundle
from ssmenv.render import TEMPLATES

#: The pure-Python distributions the core imports on a host, besides botocore (the host's).
PURE = ("pydantic", "annotated-types", "typing-extensions", "typing-inspection", "Jinja2",
        "MarkupSafe")  # fmt: skip
COMPILED = "pydantic_core"

LAUNCHER = '''#!/usr/bin/python3 -I
"""ssmenv's agent (ssmenv-agent --help), run from its bundle with the host's own botocore."""
import os
import platform
import sys

home = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
machine = f"{sys.version_info.major}.{sys.version_info.minor}-{platform.machine()}"
lib = os.path.join(home, "lib")
if not os.path.isdir(os.path.join(lib, machine)):
    have = sorted(d for d in os.listdir(lib) if d[:1].isdigit())
    sys.exit(f"ssmenv-agent: this bundle has no agent for Python {machine} (it has "
             f"{', '.join(have) or 'none'}): add {machine} to pull_platforms")
sys.path[:0] = [os.path.join(lib, machine), lib]
from ssmenv.agent.cli import main  # noqa: E402

raise SystemExit(main())
'''


class BundleError(SsmEnvError):
    """The agent's bundle cannot be built for a platform (no wheel to be had for it)."""


def this_platform() -> str:
    """The control machine's own platform, as ``pull_platforms`` names one."""
    return f"{sys.version_info.major}.{sys.version_info.minor}-{platform.machine()}"


def _files(distribution: str) -> list[tuple[str, Path]]:
    """A distribution's files as installed here (archive name, path), without its metadata,
    bytecode or compiled speedups (MarkupSafe falls back to pure Python)."""
    found = []
    dist = metadata.distribution(distribution)
    for file in dist.files or ():
        name = str(file)
        parts = PurePosixPath(name).parts
        if (parts[0].endswith((".dist-info", ".data")) or "__pycache__" in parts
                or name.endswith((".pyc", ".so")) or parts[0].startswith("..")):  # fmt: skip
            continue
        found.append((name, Path(str(dist.locate_file(file)))))
    return found


def _package() -> list[tuple[str, Path]]:
    """This package (its host programs too) and its templates, as ``ssmenv/templates``."""
    root = Path(ssmenv.__file__).parent
    found = [(f"ssmenv/{path.relative_to(root).as_posix()}", path)
             for path in sorted(root.rglob("*"))
             if path.is_file() and "__pycache__" not in path.parts
             and path.suffix in (".py", ".sh", ".j2")]  # fmt: skip
    found += [(f"ssmenv/templates/{path.name}", path) for path in sorted(TEMPLATES.glob("*.j2"))]
    return list(dict(found).items())


def _cache() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "ssmenv" / "wheels"


def _compiled(target: str) -> dict[str, bytes]:
    """``pydantic_core``'s files for ``target`` (``3.12-aarch64``), by name in the package: this
    environment's when it is that platform, else its wheel's."""
    version = metadata.version(COMPILED)
    if target == this_platform() and sys.platform == "linux":
        dist = metadata.distribution(COMPILED)
        return {str(f): Path(str(dist.locate_file(f))).read_bytes() for f in dist.files or ()
                if str(f).startswith(f"{COMPILED}/") and "__pycache__" not in str(f)}  # fmt: skip
    wheel = _wheel(target, version)
    with zipfile.ZipFile(wheel) as archive:
        return {name: archive.read(name) for name in archive.namelist()
                if name.startswith(f"{COMPILED}/") and "__pycache__" not in name}  # fmt: skip


def download_command(target: str, version: str, directory: Path) -> list[str]:
    """The ``pip download`` of ``pydantic_core``'s wheel for ``target``: binary only, nothing
    built, no dependency."""
    python, machine = target.split("-", 1)
    tag = python.replace(".", "")
    return [sys.executable, "-m", "pip", "download", f"{COMPILED}=={version}", "--no-deps",
            "--only-binary=:all:", "--implementation", "cp", "--python-version", python,
            "--abi", f"cp{tag}", "--platform", f"manylinux2014_{machine}",
            "--platform", f"manylinux_2_17_{machine}", "--dest", str(directory),
            "--quiet", "--disable-pip-version-check"]  # fmt: skip


def _wheel(target: str, version: str) -> Path:
    python, machine = target.split("-", 1)
    directory = _cache()
    pattern = f"pydantic_core-{version}-cp{python.replace('.', '')}-*{machine}*.whl"
    found = sorted(directory.glob(pattern))
    if not found:
        directory.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(download_command(target, version, directory), capture_output=True,
                              text=True, timeout=600, check=False)  # fmt: skip
        found = sorted(directory.glob(pattern))
        if done.returncode != 0 or not found:
            said = (done.stderr or done.stdout).strip().splitlines()
            raise BundleError(f"pull_platforms: no pydantic_core {version} wheel for {target}: "
                              f"pip download said: {said[-1] if said else 'nothing'}")  # fmt: skip
    return found[-1]


@dataclass(frozen=True)
class Built:
    """A built bundle: its ``version`` (its directory's name on hosts), the archive and its
    ``sha256``."""

    version: str
    path: Path
    sha256: str

    @property
    def bundle(self) -> Bundle:
        return Bundle(self.version, self.path)


def _entry(tar: tarfile.TarFile, name: str, data: bytes | None, executable: bool = False) -> None:
    info = tarfile.TarInfo(name)
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mtime = 0
    if data is None:
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(info)
        return
    info.size, info.mode = len(data), 0o755 if executable else 0o644
    tar.addfile(info, io.BytesIO(data))


def _made() -> Path:
    """Where the compressed bundles already made are kept, by the sha256 of their tar."""
    return _cache().parent / "agent"


def _archive(files: dict[str, bytes]) -> bytes:
    """``files`` as one uncompressed tar, the same bytes for the same files."""
    directories = {str(parent) for name in files for parent in PurePosixPath(name).parents}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(directories - {"."}, key=lambda n: PurePosixPath(n).parts):
            _entry(tar, name, None)
        for name in sorted(files, key=lambda n: PurePosixPath(n).parts):
            _entry(tar, name, files[name], executable=name == "bin/ssmenv-agent"
                   or name.endswith(".so"))  # fmt: skip
    return buffer.getvalue()


def compressed(tar: bytes) -> bytes:
    """``tar`` gzipped (gzip's header dated 0), made once: compressing at gzip's best costs
    0.9 s of CPU a bundle, a deploy in pull mode or a publish each, where finding it made is
    0.1 s. Kept under the user's cache (``agent/``, by the tar's sha256); what is found there is
    used only if it unpacks to exactly ``tar``, and these checked bytes are what is returned (never
    the file's path, which could be read again after someone changed it): whoever could change
    the file there changes no host's agent."""
    key = hashlib.sha256(tar).hexdigest()
    path = _made() / f"{key}.tar.gz"
    try:
        found = path.read_bytes()
        if hashlib.sha256(gzip.decompress(found)).hexdigest() == key:
            return found
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error):
        pass
    data = gzip.compress(tar, compresslevel=9, mtime=0)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(temporary, path)  # whole or not at all: other runs read it
    except OSError:
        pass  # a cache that cannot be written: made again next time
    return data


@cache
def build(platforms: tuple[str, ...]) -> Built:
    """The bundle for ``platforms`` (once per run): reproducible (the same files give the same
    bytes), so its sha256 names it, and a host that has it is not sent it again."""
    files: dict[str, bytes] = {"bin/ssmenv-agent": LAUNCHER.encode()}
    for name, path in _package():
        files[f"lib/{name}"] = path.read_bytes()
    for distribution in PURE:
        for name, path in _files(distribution):
            files[f"lib/{name}"] = path.read_bytes()
    for target in sorted(set(platforms)):
        for name, data in _compiled(target).items():
            files[f"lib/{target}/{name}"] = data
    data = compressed(_archive(files))
    digest = hashlib.sha256(data).hexdigest()
    # The run's own copy (about 3.5 MB), which only this run writes, is what is sent and uploaded.
    directory = tempfile.mkdtemp(prefix="ssmenv-agent-")
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    path = Path(directory) / f"{digest}.tar.gz"
    path.write_bytes(data)
    return Built(digest[:12], path, digest)
