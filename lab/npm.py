"""The example app's npm dependencies on this machine, as a Dockerfile's ``RUN npm ci`` or a
developer's checkout has them: for the lab's container image (``lab.images``) and for the tests
that run the app here (``tests/integration/test_python_app.py``). Hosts install their own, in the
deploy's sandboxed install; this is the lab's, never the toolkit's.

``npm ci --omit=dev --ignore-scripts`` from the app's ``package-lock.json``, once per lockfile:
cached under the lab cache by the sha256 of ``package.json`` and the lockfile, built by one worker
while the others wait (``lab.hosts.cache_lock``). Install scripts do not run: this runs as root on
the machine that runs the suite, and the example's dependencies need none.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from lab.hosts import CACHE, cache_lock

MANIFESTS = ("package.json", "package-lock.json")


def _key(app: Path) -> str:
    digest = hashlib.sha256()
    for name in MANIFESTS:
        digest.update(name.encode() + b"\0" + (app / name).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def node_modules(app: Path) -> Path:
    """``app``'s ``node_modules`` as ``npm ci`` makes it from its lockfile (cached)."""
    key = _key(app)
    done = CACHE / "npm" / key
    with cache_lock(f"npm-{key}"):
        if not (done / "node_modules").is_dir():
            work = done.with_name(f"{key}.new")
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            for name in MANIFESTS:
                shutil.copy2(app / name, work / name)
            result = subprocess.run(
                ["npm", "ci", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund"],
                cwd=work, capture_output=True, text=True, timeout=600,
            )  # fmt: skip
            if result.returncode != 0:
                raise SystemExit(f"npm ci in {work} failed: {result.stderr.strip()[-2000:]}")
            shutil.rmtree(done, ignore_errors=True)
            work.rename(done)
    return done / "node_modules"


def installed_copy(app: Path, into: Path) -> Path:
    """A copy of ``app`` in ``into`` with its dependencies installed: what ``node server.js``
    runs from in a checkout after ``npm ci``. A ``node_modules`` or ``.env`` of the checkout's
    own is left out."""
    shutil.copytree(app, into, ignore=shutil.ignore_patterns("node_modules", ".env*"))
    shutil.copytree(node_modules(app), into / "node_modules", symlinks=True)
    return into
