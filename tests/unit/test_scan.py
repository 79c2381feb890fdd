"""Tests for ssmenv.scan on a fixture git repository with planted FAKE keys (tests/fixtures)."""

from __future__ import annotations

import json
import shutil

import pytest
from detect_secrets.settings import default_settings, get_settings

from ssmenv import cli, scan
from ssmenv.scan import Finding, ScanError, is_env_file
from tests.fixtures import scan_repo
from tests.fixtures.scan_repo import FixtureRepo, git, write

DETECTED = {
    Finding("src/aws.js", 4, "AWS Access Key"),
    Finding("src/github.js", 1, "GitHub Token"),
    Finding("settings.py", 3, "Secret Keyword"),
    Finding("config/deploy_key", 1, "Private Key"),
    Finding("test/vectors.py", 2, "Hex High Entropy String"),  # a false positive
}


@pytest.fixture(autouse=True)
def isolated_git(monkeypatch):
    """Scan as git would on a machine with no global or system configuration."""
    for key, value in scan_repo.GIT_ENV.items():
        monkeypatch.setenv(key, value)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> FixtureRepo:
    return scan_repo.build(tmp_path_factory.mktemp("app"))


@pytest.fixture
def repo(built, tmp_path) -> FixtureRepo:
    """A private copy of the fixture repository, for tests that change it."""
    copy = tmp_path / "app"
    shutil.copytree(built.path, copy, symlinks=True)
    return FixtureRepo(copy, built.old_env_commit)


def old_env(repo: FixtureRepo) -> Finding:
    kind = f"env file in git history (added in commit {repo.old_env_commit}, since removed)"
    return Finding(".env", 0, kind)


def test_planted_keys_and_the_old_env_are_all_that_is_found(built):
    report = scan.scan(built.path)
    assert set(report.findings) == DETECTED | {old_env(built)}
    assert report.files_scanned == len(scan_repo.FILES) + 1  # and .gitignore


def test_env_file_committed_in_an_old_commit_is_found_though_removed_and_ignored(built):
    assert (built.path / ".env").exists()  # the developer's ignored copy: not itself a finding
    env_findings = [f for f in scan.scan(built.path).findings if f.file == ".env"]
    assert env_findings == [old_env(built)]


def test_clean_files_give_no_finding(built):
    clean = {"src/server.js", "README.md", ".env.example", ".gitignore"}
    assert not [f for f in scan.scan(built.path).findings if f.file in clean]


def test_output_has_file_line_and_kind_and_never_a_secret(built, capsys):
    assert cli.main(["scan", str(built.path)]) == 1
    out = capsys.readouterr()
    assert "src/aws.js:4: AWS Access Key\n" in out.out
    assert f".env: env file in git history (added in commit {built.old_env_commit}" in out.out
    assert out.out.endswith("6 findings in 9 files\n")
    for value in scan_repo.PLANTED_VALUES:
        assert value not in out.out + out.err


def test_a_clean_tree_exits_zero(tmp_path, capsys):
    path = tmp_path / "clean"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    write(path, {".gitignore": ".env*\n!.env.example\n", "src/server.js": "process.env.A;\n"})
    write(path, {".env.example": "A=\n", ".env": "A=FAKE-local\n"})
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "clean")
    assert cli.main(["scan", str(path)]) == 0
    assert capsys.readouterr().out == "0 findings in 3 files\n"


def test_a_tracked_env_file_is_found(repo):
    write(repo.path, {"deploy/.env.production": "LOG_LEVEL=info\n"})
    git(repo.path, "add", "deploy/.env.production")
    git(repo.path, "commit", "-q", "-m", "oops")
    commit = git(repo.path, "rev-parse", "--short", "HEAD").strip()
    kind = f"env file tracked by git (added in commit {commit})"
    assert Finding("deploy/.env.production", 0, kind) in scan.scan(repo.path).findings


def test_an_env_file_git_does_not_ignore_is_found(repo):
    write(repo.path, {"worker/prod.env": "LOG_LEVEL=info\n"})
    findings = scan.scan(repo.path).findings
    assert Finding("worker/prod.env", 0, "env file not ignored by git") in findings


def test_a_tree_whose_ignore_rules_miss_env_is_found(repo):
    (repo.path / ".gitignore").write_text("node_modules/\n")
    (repo.path / ".env").unlink()
    findings = scan.scan(repo.path).findings
    assert Finding(".env", 0, "not ignored by git: add .env to .gitignore") in findings


def test_baseline_accepts_false_positives_but_not_entries_audited_as_real(repo, capsys):
    baseline = repo.path / "accepted.json"
    assert cli.main(["scan", str(repo.path), "--write-baseline", str(baseline)]) == 1
    out = capsys.readouterr().out
    assert out.endswith(f"1 finding in 9 files, 5 written to {baseline} as accepted\n")
    # The team audits it: the digest is a test vector; the others are real secrets to remove.
    data = json.loads(baseline.read_text())
    for entries in data["results"].values():
        for entry in entries:
            entry["is_secret"] = entry["filename"] != "test/vectors.py"
    baseline.write_text(json.dumps(data))
    for value in scan_repo.PLANTED_VALUES:
        assert value not in baseline.read_text()

    report = scan.scan(repo.path, baseline=baseline)
    assert set(report.findings) == DETECTED - {
        Finding("test/vectors.py", 2, "Hex High Entropy String")
    } | {old_env(repo)}
    assert report.accepted == 1


def test_baseline_still_accepts_a_finding_whose_line_moved(repo):
    baseline = repo.path / "accepted.json"
    scan.scan(repo.path, write_baseline=baseline)
    vectors = repo.path / "test/vectors.py"
    vectors.write_text("# moved down\n\n" + vectors.read_text())
    report = scan.scan(repo.path, baseline=baseline)
    assert [f for f in report.findings if f.file != ".env"] == []
    assert report.accepted == 5


def test_a_new_secret_is_not_hidden_by_the_baseline(repo):
    baseline = repo.path / "accepted.json"
    scan.scan(repo.path, write_baseline=baseline)
    write(repo.path, {"src/more.js": f'const token = "{scan_repo.GITHUB_TOKEN[:-4]}EKAF";\n'})
    findings = scan.scan(repo.path, baseline=baseline).findings
    assert Finding("src/more.js", 1, "GitHub Token") in findings


def test_the_conventional_baseline_is_used_by_default_and_its_own_hashes_are_not_findings(repo):
    default = repo.path / scan.BASELINE_NAME
    scan.scan(repo.path, write_baseline=default)
    report = scan.scan(repo.path)
    assert report.baseline == default
    assert report.findings == [old_env(repo)]
    assert report.notes == []  # it holds the scan's own settings: nothing to say


def test_a_secret_kept_in_the_baseline_file_itself_is_found(repo):
    default = repo.path / scan.BASELINE_NAME
    scan.scan(repo.path, write_baseline=default)
    data = json.loads(default.read_text())
    data["note"] = f"aws {scan_repo.AWS_KEY}"
    default.write_text(json.dumps(data, indent=2))
    findings = scan.scan(repo.path).findings
    line = next(n for n, text in enumerate(default.read_text().splitlines(), 1) if '"note"' in text)
    # Found, and nothing else in it: its own hashes are not secrets.
    assert [f for f in findings if f.file == scan.BASELINE_NAME] == [
        Finding(scan.BASELINE_NAME, line, "AWS Access Key")
    ]


def test_a_baseline_hash_that_is_not_a_sha1_is_refused(repo):
    bad = repo.path / "bad.json"
    entry = {"type": "AWS Access Key", "hashed_secret": scan_repo.AWS_KEY, "line_number": 4}
    bad.write_text(json.dumps({"version": "1.5.0", "results": {"src/aws.js": [entry]}}))
    with pytest.raises(ScanError, match="not detect-secrets' results") as raised:
        scan.scan(repo.path, baseline=bad)
    assert scan_repo.AWS_KEY not in str(raised.value)


@pytest.mark.parametrize(
    "settings",
    [
        {"plugins_used": [{"name": "AWSKeyDetector"}]},
        {"filters_used": [{"path": "detect_secrets.filters.regex.should_exclude_file",
                           "pattern": [".*"]}]},
        {"plugins_used": [{"name": "HexHighEntropyString", "limit": 8}]},
    ],
    ids=["one plugin", "files excluded", "entropy limit"],
)
def test_a_baseline_that_configures_the_scanner_hides_nothing_and_is_named(repo, settings, capsys):
    every_plugin = _defaults()["plugins_used"]
    baseline = repo.path / scan.BASELINE_NAME
    data = {"version": "1.5.0", "plugins_used": every_plugin, **settings, "results": {}}
    baseline.write_text(json.dumps(data))
    report = scan.scan(repo.path)
    assert set(report.findings) == DETECTED | {old_env(repo)}
    assert report.accepted == 0
    assert len(report.notes) == 1 and "tries to configure the scanner" in report.notes[0]
    assert cli.main(["scan", str(repo.path)]) == 1
    err = capsys.readouterr().err
    assert err.count("tries to configure the scanner") == 1, err


def test_a_conventional_baseline_that_is_a_symlink_is_not_read(repo, tmp_path, capsys):
    elsewhere = tmp_path / "accepts-everything.json"
    scan.scan(repo.path, write_baseline=elsewhere)
    (repo.path / scan.BASELINE_NAME).symlink_to(elsewhere)
    assert cli.main(["scan", str(repo.path)]) == 1
    out, err = capsys.readouterr()
    assert "src/aws.js:4: AWS Access Key\n" in out
    assert f"{scan.BASELINE_NAME}: a symbolic link, not read as a baseline\n" in err


def test_a_baseline_of_results_only_is_a_baseline(repo, tmp_path):
    written = tmp_path / "accepted.json"
    scan.scan(repo.path, write_baseline=written)
    results_only = tmp_path / "results-only.json"
    results_only.write_text(json.dumps({"results": json.loads(written.read_text())["results"]}))
    report = scan.scan(repo.path, baseline=results_only)
    assert report.findings == [old_env(repo)]
    assert report.notes == []


def test_a_baseline_without_results_is_refused(repo):
    bad = repo.path / "bad.json"
    bad.write_text(json.dumps({"version": "1.5.0", "plugins_used": [{"name": "AWSKeyDetector"}]}))
    with pytest.raises(ScanError, match="not a detect-secrets baseline"):
        scan.scan(repo.path, baseline=bad)


def test_without_tree_baselines_the_trees_own_baseline_accepts_nothing(repo):
    scan.scan(repo.path, write_baseline=repo.path / scan.BASELINE_NAME)
    report = scan.scan(repo.path, tree_baseline=False)
    assert report.baseline is None
    assert set(report.findings) == DETECTED | {old_env(repo)}  # and none about the baseline file


def test_without_tree_baselines_one_from_outside_the_work_tree_is_used(repo, tmp_path):
    ci = tmp_path / "ci" / "accepted.json"
    ci.parent.mkdir()
    scan.scan(repo.path, write_baseline=ci)
    report = scan.scan(repo.path, baseline=ci, tree_baseline=False)
    assert report.findings == [old_env(repo)]
    assert report.accepted == 5


def test_without_tree_baselines_an_allowlist_comment_in_the_tree_hides_nothing(repo, tmp_path):
    hidden = f'const token = "{scan_repo.GITHUB_TOKEN[:-4]}EKAF";  // pragma: allowlist secret\n'
    write(repo.path, {"src/hidden.js": hidden})
    assert Finding("src/hidden.js", 1, "GitHub Token") not in scan.scan(repo.path).findings
    ci = tmp_path / "ci.json"
    scan.scan(repo.path, write_baseline=ci)  # the baseline CI keeps: as the scan writes it
    assert json.loads(ci.read_text())["filters_used"] == _defaults()["filters_used"]
    report = scan.scan(repo.path, baseline=ci, tree_baseline=False)
    assert Finding("src/hidden.js", 1, "GitHub Token") in report.findings
    assert report.notes == []


def _defaults() -> dict:
    with default_settings():
        return get_settings().json()


@pytest.mark.parametrize("scanned", [".", "src"], ids=["the tree", "a subdirectory"])
def test_without_tree_baselines_one_inside_the_work_tree_is_refused(repo, scanned, capsys):
    inside = repo.path / "accepted.json"
    scan.scan(repo.path, write_baseline=inside)
    argv = ["scan", str(repo.path / scanned), "--baseline", str(inside), "--no-tree-baseline"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "inside the work tree" in err, err


def test_scanning_a_subdirectory_reports_paths_relative_to_it(built):
    findings = scan.scan(built.path / "src").findings
    assert Finding("aws.js", 4, "AWS Access Key") in findings
    assert not [f for f in findings if "vectors" in f.file]


def test_a_directory_outside_git_is_an_error(tmp_path, capsys):
    (tmp_path / "plain").mkdir()
    assert cli.main(["scan", str(tmp_path / "plain")]) == 2
    assert "not inside a git work tree" in capsys.readouterr().err


def test_parallel_detection_finds_the_same_as_serial(built, monkeypatch):
    serial = scan.scan(built.path, processes=1).findings
    monkeypatch.setattr(scan, "PARALLEL_FROM", 1)
    assert scan.scan(built.path, processes=2).findings == serial


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (".env", True),
        ("deploy/.env.production", True),
        (".env.local", True),
        ("prod.env", True),
        (".envrc", True),
        (".env.example", False),
        (".env.local.sample", False),
        ("app.env.j2", False),
        (".environment", False),
        ("env.py", False),
    ],
)
def test_env_file_names(name, expected):
    assert is_env_file(name) is expected
