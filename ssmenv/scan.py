"""Find what should be in SSM but is in the source tree: hardcoded secrets and ``.env`` files.

Two checks over an app's source tree inside a git work tree:

- every file git would hand over (tracked, plus untracked ones not ignored) goes through Yelp's
  detect-secrets with all of its plugins and default filters;
- ``.env`` files must be ignored by git and absent from its history: a tracked or unignored one is
  a finding, so is one that any commit on any ref ever added (deleting it later does not take its
  values out of the history), and so is a tree where a new ``.env`` would not be ignored.

A finding is a file, a line (0 when it concerns the whole file) and a kind; it never holds the
secret. Known false positives are accepted through a baseline in detect-secrets' own format
(``results`` keyed by file, with ``hashed_secret`` and ``type``); an entry audited as a real
secret (``"is_secret": true``) is not an acceptance. Findings about ``.env`` files cannot be
accepted: the fix is to rotate the values and rewrite the history.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from detect_secrets import SecretsCollection
from detect_secrets.core import baseline as ds_baseline
from detect_secrets.core import scan as ds_scan
from detect_secrets.core.potential_secret import PotentialSecret
from detect_secrets.settings import (
    configure_settings_from_baseline,
    default_settings,
    get_settings,
    transient_settings,
)

from ssmenv.errors import ScanError

# .env, .env.production, production.env, direnv's .envrc...
_ENV_FILE = re.compile(r"\.env(\..+)?|.+\.env|\.envrc")
# ...except the templates teams commit on purpose (their content is still scanned for secrets).
_ENV_TEMPLATE = re.compile(r".*\.(example|sample|template|dist)")
# git log -z separates records with NUL; this byte marks the commit line among file names.
_COMMIT_MARK = "\x01"
#: detect-secrets' conventional baseline name, used when it is in the scanned directory.
BASELINE_NAME = ".secrets.baseline"
#: From this many files on, the detectors run in a process pool.
PARALLEL_FROM = 32


@dataclass(frozen=True, order=True)
class Finding:
    """One thing to fix: where, and what kind; never the secret itself."""

    file: str  # POSIX path relative to the scanned directory
    line: int  # 1-based; 0 when the finding is about the whole file
    kind: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.kind}" if self.line else f"{self.file}: {self.kind}"


@dataclass
class Report:
    """What a scan found, and how many detector findings the baseline accepted."""

    findings: list[Finding] = field(default_factory=list)
    accepted: int = 0
    files_scanned: int = 0
    baseline: Path | None = None  # the baseline that was applied


def is_env_file(path: str) -> bool:
    """True for a file holding environment values (``.env``, ``.env.prod``, ``prod.env``, ...).

    Templates (``.env.example``, ``.env.sample``, ``.env.template``, ``.env.dist``) are meant to be
    committed; detect-secrets still scans their content.
    """
    name = PurePosixPath(path).name
    return bool(_ENV_FILE.fullmatch(name)) and not _ENV_TEMPLATE.fullmatch(name)


def _git(root: Path, *args: str, ok: Iterable[int] = (0,)) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
    )
    if result.returncode not in ok:
        raise ScanError(f"{root}: git {args[0]} failed: {result.stderr.strip()}")
    return result


def _nul_list(output: str) -> list[str]:
    return [item for item in output.split("\0") if item]


def _check_work_tree(root: Path) -> None:
    if not root.is_dir():
        raise ScanError(f"{root}: no such directory")
    result = _git(root, "rev-parse", "--is-inside-work-tree", ok=(0, 128))
    if result.stdout.strip() != "true":
        # Without git there is no way to tell ignored files from shipped ones, nor any history.
        raise ScanError(
            f"{root}: not inside a git work tree (scan checks git's ignores and history)"
        )


def candidate_files(root: Path) -> list[str]:
    """Files under ``root`` that git would hand over: tracked ones and unignored untracked ones."""
    listed = _nul_list(
        _git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").stdout
    )
    # Skip what is not a regular file here: deleted-but-tracked files, submodules, and symlinks
    # (which may point outside the tree).
    files = {f for f in listed if (root / f).is_file() and not (root / f).is_symlink()}
    return sorted(files)


def env_file_findings(root: Path, files: Iterable[str]) -> list[Finding]:
    """``.env`` files that git tracks, does not ignore, or has in its history (any ref)."""
    tracked = set(_nul_list(_git(root, "ls-files", "-z", "--cached").stdout))
    first_added: dict[str, str] = {}
    log = _git(
        root,
        "log", "--all", "--reverse", "--no-renames", "--diff-filter=A", "--name-only", "-z",
        f"--format={_COMMIT_MARK}%h", "--relative",
    )  # fmt: skip
    commit = ""
    for item in _nul_list(log.stdout):
        item = item.lstrip("\n")  # git puts a newline between the commit line and its files
        if item.startswith(_COMMIT_MARK):
            commit = item[1:]
        elif item and is_env_file(item):
            first_added.setdefault(item, commit)

    found = []
    for path, commit in first_added.items():
        if path in tracked:
            found.append(Finding(path, 0, f"env file tracked by git (added in commit {commit})"))
        else:
            kind = f"env file in git history (added in commit {commit}, since removed)"
            found.append(Finding(path, 0, kind))
    for path in files:
        if is_env_file(path) and path not in tracked:
            found.append(Finding(path, 0, "env file not ignored by git"))
    # A tree whose ignore rules miss .env is one `git add -A` away from committing one.
    if _git(root, "check-ignore", "-q", "--no-index", ".env", ok=(0, 1)).returncode == 1:
        found.append(Finding(".env", 0, "not ignored by git: add .env to .gitignore"))
    return found


def load_baseline(path: Path) -> dict[str, Any]:
    """Read a detect-secrets baseline, upgraded to the installed version's format."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ScanError(f"baseline {path}: cannot read it as JSON ({type(e).__name__})") from None
    if not isinstance(data, dict) or "results" not in data or not data.get("plugins_used"):
        # A baseline without plugins would silently turn every detector off.
        raise ScanError(f"baseline {path}: not a detect-secrets baseline (results, plugins_used)")
    try:
        return ds_baseline.upgrade(data)
    except (KeyError, ValueError) as e:
        raise ScanError(f"baseline {path}: cannot upgrade it ({type(e).__name__}: {e})") from None


def _scan_file(path: str) -> list[PotentialSecret]:
    secrets = list(ds_scan.scan_file(path))
    for secret in secrets:
        secret.secret_value = None  # nothing downstream needs the plaintext
    return secrets


def _detect(root: Path, files: list[str], processes: int | None = None) -> SecretsCollection:
    """Run the detectors of the current detect-secrets settings over ``files``.

    detect-secrets runs every plugin's regexes on every line (about 10 ms per KiB here), so a tree
    of more than ``PARALLEL_FROM`` files is spread over ``processes`` (default: one per CPU).
    """
    paths = [str(root / rel) for rel in files]
    processes = processes or os.cpu_count() or 1
    if processes > 1 and len(files) >= PARALLEL_FROM:
        # Workers start with detect-secrets' defaults: hand them the settings in force here.
        init, settings = configure_settings_from_baseline, (get_settings().json(),)
        with multiprocessing.get_context("fork").Pool(processes, init, settings) as pool:
            results = pool.map(_scan_file, paths, chunksize=4)
    else:
        results = [_scan_file(path) for path in paths]
    found = SecretsCollection()
    for rel, secrets in zip(files, results, strict=True):
        for secret in secrets:
            # Key by the path relative to the scanned directory, as a baseline stores it; the
            # secret's identity (filename, hash, type) must match the baseline's entries.
            secret.filename = rel
            found[rel].add(secret)
    return found


def _accepted_by(baseline: Mapping[str, Any]) -> SecretsCollection:
    """The baseline's entries that accept a finding: all but those audited as real secrets."""
    known = SecretsCollection.load_from_baseline(dict(baseline))
    for filename in list(known.files):
        known[filename] = {s for s in known[filename] if s.is_secret is not True}
    return known


def default_baseline(root: Path) -> Path | None:
    """``root/.secrets.baseline`` where it exists (detect-secrets' convention), else None."""
    path = root / BASELINE_NAME
    return path if path.is_file() else None


def scan(
    root: Path,
    baseline: Path | None = None,
    write_baseline: Path | None = None,
    processes: int | None = None,
) -> Report:
    """Scan ``root`` (a directory inside a git work tree) and return every finding, sorted.

    With ``baseline``, detector findings it lists are accepted (and its plugin and filter settings
    are used, so its hashes compare). With ``write_baseline``, every detector finding is written
    there as accepted (audit labels of ``baseline`` kept), and only ``.env`` findings remain.
    ``baseline`` defaults to ``root/.secrets.baseline`` where it exists. Neither file is scanned.
    """
    root = root.resolve()
    _check_work_tree(root)
    baseline = baseline or default_baseline(root)
    known_data = load_baseline(baseline) if baseline else None
    own = {p.resolve() for p in (baseline, write_baseline) if p is not None}
    files = [f for f in candidate_files(root) if (root / f).resolve() not in own]

    report = Report(files_scanned=len(files), baseline=baseline)
    settings = transient_settings(known_data) if known_data else default_settings()
    with settings:
        detected = _detect(root, files, processes)
        if write_baseline is not None:
            if known_data:
                detected.merge(SecretsCollection.load_from_baseline(known_data))
            output = ds_baseline.format_for_output(detected)
            write_baseline.write_text(json.dumps(output, indent=2) + "\n", encoding="utf-8")
            report.accepted = sum(1 for _ in detected)
            detected = SecretsCollection()
    if known_data:
        remaining = detected - _accepted_by(known_data)
        report.accepted = sum(1 for _ in detected) - sum(1 for _ in remaining)
        detected = remaining

    report.findings = sorted(
        [Finding(f, s.line_number, s.type) for f, s in detected] + env_file_findings(root, files)
    )
    return report
