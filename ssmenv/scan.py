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

The scan never configures itself, nor runs code, from the tree it scans: its detectors and
filters are detect-secrets' defaults, always. A baseline is read for its ``results`` alone; the
settings detect-secrets keeps beside them (``plugins_used``, ``filters_used``, which can name a
Python file to import, and the older formats' ``custom_plugin_paths``, ``exclude``,
``word_list``) are ignored, with a note when they differ from the defaults. A baseline file in the
tree is scanned like any other file, its own hashes aside, so it hides nothing. Where the tree is
not trusted (CI on a pull request), ``tree_baseline=False`` takes accepted findings only from a
baseline outside the work tree, and ignores the tree's ``pragma: allowlist secret`` comments.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
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
)

from ssmenv import gitfiles
from ssmenv.errors import ScanError
from ssmenv.gitfiles import git, nul_list

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
#: What configures detect-secrets in a baseline, in the formats of every version: never read.
SETTINGS_KEYS = (
    "plugins_used", "filters_used", "custom_plugin_paths", "exclude", "exclude_regex", "word_list",
)  # fmt: skip
# The default filter that honours `pragma: allowlist secret` comments in the scanned files.
ALLOWLIST_FILTER = "detect_secrets.filters.allowlist.is_line_allowlisted"
# detect-secrets writes sha1 hex digests; anything else in their place is not a hash.
_SHA1 = re.compile(r"[0-9a-f]{40}")


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
    notes: list[str] = field(default_factory=list)  # one line each, never a value


@dataclass(frozen=True)
class Baseline:
    """A baseline as the scan reads it: its accepted findings, and which of detect-secrets'
    settings it carries that differ from the defaults (ignored, only named)."""

    path: Path
    results: Mapping[str, list[dict[str, Any]]]
    configures: tuple[str, ...] = ()

    @property
    def hashes(self) -> frozenset[str]:
        """Every ``hashed_secret`` it holds."""
        return frozenset(e["hashed_secret"] for entries in self.results.values() for e in entries)

    def note(self) -> str:
        """One line saying which settings it carries were ignored."""
        return (f"baseline {self.path}: tries to configure the scanner "
                f"({', '.join(self.configures)}): ignored; the scan runs only its own detectors "
                "and filters, and takes nothing but accepted findings from a baseline")  # fmt: skip


def is_env_file(path: str) -> bool:
    """True for a file holding environment values (``.env``, ``.env.prod``, ``prod.env``, ...).

    Templates (``.env.example``, ``.env.sample``, ``.env.template``, ``.env.dist``) are meant to be
    committed; detect-secrets still scans their content.
    """
    name = PurePosixPath(path).name
    return bool(_ENV_FILE.fullmatch(name)) and not _ENV_TEMPLATE.fullmatch(name)


def _check_work_tree(root: Path) -> None:
    if not root.is_dir():
        raise ScanError(f"{root}: no such directory")
    if not gitfiles.is_work_tree(root):
        # Without git there is no way to tell ignored files from shipped ones, nor any history.
        raise ScanError(
            f"{root}: not inside a git work tree (scan checks git's ignores and history)"
        )


def candidate_files(root: Path) -> list[str]:
    """Files under ``root`` that git would hand over (``gitfiles.handed_over``), but symlinks,
    which may point outside the tree."""
    return [f for f in gitfiles.handed_over(root) if not (root / f).is_symlink()]


def env_file_findings(root: Path, files: Iterable[str]) -> list[Finding]:
    """``.env`` files that git tracks, does not ignore, or has in its history (any ref)."""
    tracked = set(nul_list(git(root, "ls-files", "-z", "--cached").stdout))
    first_added: dict[str, str] = {}
    log = git(
        root,
        "log", "--all", "--reverse", "--no-renames", "--diff-filter=A", "--name-only", "-z",
        f"--format={_COMMIT_MARK}%h", "--relative",
    )  # fmt: skip
    commit = ""
    for item in nul_list(log.stdout):
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
    if git(root, "check-ignore", "-q", "--no-index", ".env", ok=(0, 1)).returncode == 1:
        found.append(Finding(".env", 0, "not ignored by git: add .env to .gitignore"))
    return found


@cache
def _default_settings() -> dict[str, Any]:
    """detect-secrets' default plugins and filters, as a baseline of this version records them."""
    with default_settings():
        return get_settings().json()


def _canonical(value: Any) -> list[str] | str:
    """``value`` comparable whatever the order of its entries and keys."""
    if isinstance(value, list):
        return sorted(json.dumps(item, sort_keys=True) for item in value)
    return json.dumps(value, sort_keys=True)


def _valid_entry(entry: Any) -> bool:
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("type"), str)
        and isinstance(entry.get("hashed_secret"), str)
        and bool(_SHA1.fullmatch(entry["hashed_secret"]))
        and entry.get("is_secret") in (None, True, False)
    )


def load_baseline(path: Path) -> Baseline:
    """Read a detect-secrets baseline's accepted findings (``results``), of any version.

    Nothing else in it is used: no setting, no file it names (detect-secrets would import a
    ``file://`` filter or plugin, and its upgrade of a 0.x baseline imports the plugin files it
    lists). Which settings it carries that differ from the defaults is kept for a note.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ScanError(f"baseline {path}: cannot read it as JSON ({type(e).__name__})") from None
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise ScanError(f"baseline {path}: not a detect-secrets baseline (no results)")
    results = data["results"]
    if not all(isinstance(entries, list) and all(_valid_entry(e) for e in entries)
               for entries in results.values()):  # fmt: skip
        # Names what is expected, never what is there: a file name or hash may be anything.
        raise ScanError(f"baseline {path}: not detect-secrets' results (per file, entries of a "
                        "type and a hashed_secret of 40 hex digits, is_secret true or false)")
    defaults = _default_settings()
    configures = tuple(
        key for key in SETTINGS_KEYS
        if key in data and _canonical(data[key]) != _canonical(defaults.get(key))
    )  # fmt: skip
    return Baseline(path, results, configures)


def _own_hashes(path: Path) -> frozenset[str]:
    """The hashes a baseline file holds, or none where it is not a baseline."""
    try:
        return load_baseline(path).hashes
    except ScanError:
        return frozenset()


def _scan_file(path: str, own: frozenset[str] = frozenset()) -> list[PotentialSecret]:
    """What the detectors find in ``path``, but values in ``own`` (a baseline file's own hashes:
    a baseline holds nothing else a detector would take for a secret)."""
    secrets = [s for s in ds_scan.scan_file(path) if s.secret_value not in own]
    for secret in secrets:
        secret.secret_value = None  # nothing downstream needs the plaintext
    return secrets


def _detect(
    root: Path,
    files: list[str],
    processes: int | None = None,
    own: Mapping[str, frozenset[str]] | None = None,
) -> SecretsCollection:
    """Run the detectors of the current detect-secrets settings over ``files``; a baseline
    file among them (a key of ``own``) is scanned but for its own hashes.

    detect-secrets runs every plugin's regexes on every line (about 10 ms per KiB here), so a tree
    of more than ``PARALLEL_FROM`` files is spread over ``processes`` (default: one per CPU).
    """
    own = own or {}
    jobs = [(str(root / rel), own.get(rel, frozenset())) for rel in files]
    processes = processes or os.cpu_count() or 1
    if processes > 1 and len(files) >= PARALLEL_FROM:
        # Workers start with detect-secrets' defaults: hand them the settings in force here.
        init, settings = configure_settings_from_baseline, (get_settings().json(),)
        with multiprocessing.get_context("fork").Pool(processes, init, settings) as pool:
            results = pool.starmap(_scan_file, jobs, chunksize=4)
    else:
        results = [_scan_file(*job) for job in jobs]
    found = SecretsCollection()
    for rel, secrets in zip(files, results, strict=True):
        for secret in secrets:
            # Key by the path relative to the scanned directory, as a baseline stores it; the
            # secret's identity (filename, hash, type) must match the baseline's entries.
            secret.filename = rel
            found[rel].add(secret)
    return found


def _accepted_by(baseline: Baseline) -> SecretsCollection:
    """The baseline's entries that accept a finding: all but those audited as real secrets."""
    known = SecretsCollection.load_from_baseline({"results": baseline.results})
    for filename in list(known.files):
        known[filename] = {s for s in known[filename] if s.is_secret is not True}
    return known


def default_baseline(root: Path) -> Path | None:
    """``root/.secrets.baseline`` where it exists (detect-secrets' convention), else None."""
    path = root / BASELINE_NAME
    return path if path.is_file() and not path.is_symlink() else None


def _outside_work_tree(root: Path, baseline: Path) -> None:
    """Refuse a baseline inside the work tree that holds ``root`` (as named, or once resolved)."""
    top = gitfiles.top_level(root)
    for path in (baseline.absolute(), baseline.resolve()):
        if path.is_relative_to(top):
            raise ScanError(f"baseline {baseline}: inside the work tree {top}, which would "
                            "accept its own findings; --no-tree-baseline takes a baseline "
                            "from outside it")  # fmt: skip


def scan(
    root: Path,
    baseline: Path | None = None,
    write_baseline: Path | None = None,
    processes: int | None = None,
    tree_baseline: bool = True,
) -> Report:
    """Scan ``root`` (a directory inside a git work tree) and return every finding, sorted.

    With ``baseline``, detector findings it lists are accepted (its settings are ignored: see the
    module's docstring). With ``write_baseline``, every detector finding is written there as
    accepted, with the default settings (audit labels of ``baseline`` kept), and only ``.env``
    findings remain; that file is not scanned. ``baseline`` defaults to
    ``root/.secrets.baseline`` where it exists, unless ``tree_baseline`` is false: then the tree
    accepts none of its findings, neither by a baseline (one inside the work tree is refused) nor
    by ``pragma: allowlist secret`` comments.
    """
    root = root.resolve()
    _check_work_tree(root)
    notes = []
    if baseline is not None and not tree_baseline:
        _outside_work_tree(root, baseline)
    if baseline is None and tree_baseline:
        baseline = default_baseline(root)
        if (root / BASELINE_NAME).is_symlink():
            # It could lead anywhere: a device that never ends, a file outside the tree.
            notes.append(f"{root / BASELINE_NAME}: a symbolic link, not read as a baseline")
    known = load_baseline(baseline) if baseline else None
    skip = {write_baseline.resolve()} if write_baseline is not None else set()
    files = [f for f in candidate_files(root) if (root / f).resolve() not in skip]
    # A baseline in the tree is scanned like any other file but for its own hashes, used or not.
    own: dict[str, frozenset[str]] = {}
    if (root / BASELINE_NAME).resolve() not in skip and BASELINE_NAME in files:
        own[BASELINE_NAME] = _own_hashes(root / BASELINE_NAME)
    if known is not None and baseline.resolve().is_relative_to(root):
        own[baseline.resolve().relative_to(root).as_posix()] = known.hashes

    report = Report(files_scanned=len(files), baseline=baseline, notes=notes)
    if known is not None and known.configures:
        report.notes.append(known.note())
    with default_settings() as settings:
        if not tree_baseline:
            # An allowlist comment is the tree accepting its own finding, as its baseline would.
            settings.disable_filters(ALLOWLIST_FILTER)
        detected = _detect(root, files, processes, own)
        if write_baseline is not None:
            if known is not None:
                detected.merge(SecretsCollection.load_from_baseline({"results": known.results}))
            # The default settings, whatever this scan's: a baseline that differs gets a note.
            output = {**ds_baseline.format_for_output(detected), **_default_settings()}
            write_baseline.write_text(json.dumps(output, indent=2) + "\n", encoding="utf-8")
            report.accepted = sum(1 for _ in detected)
            detected = SecretsCollection()
    if known is not None:
        remaining = detected - _accepted_by(known)
        report.accepted = sum(1 for _ in detected) - sum(1 for _ in remaining)
        detected = remaining

    report.findings = sorted(
        [Finding(f, s.line_number, s.type) for f, s in detected] + env_file_findings(root, files)
    )
    return report
