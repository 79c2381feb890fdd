"""What a release ships: what git hands over of the app's source (tracked, or untracked and not
ignored), never .env files nor node_modules; outside git, everything but those. Real git
repositories built in tmp dirs, FAKE values only."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from ssmenv.errors import GitError
from tasks import release
from tasks.release import build_archive, release_files
from tests.fixtures import scan_repo
from tests.fixtures.scan_repo import git, write

# Left on the developer's machine, ignored by git: none of it may reach a host.
IGNORED = {
    "config/production.env": "DATABASE_PASSWORD=FAKE-ignored-db-password\n",
    ".npmrc": "//registry.npmjs.org/:_authToken=FAKE-ignored-npm-token\n",
    "debug.log": "FAKE-ignored-log-line\n",
    "coverage/lcov.info": "FAKE-ignored-coverage\n",
    "src/__pycache__/x.pyc": "FAKE",
    "scripts/__pycache__/y.pyc": "FAKE",  # a directory holding nothing else
    "node_modules/left-pad/index.js": "module.exports = 1;\n",
    ".env": "API_KEY=FAKE-local-api-key\n",
    ".env.local": "API_KEY=FAKE-local-api-key\n",
}
GITIGNORE = ".env*\nnode_modules/\n__pycache__/\nconfig/production.env\n.npmrc\n*.log\ncoverage/\n"
TRACKED = {
    ".gitignore": GITIGNORE,
    "package.json": '{"name": "app"}\n',
    "server.js": "require('./src/routes');\n",
    "src/routes.js": "module.exports = {};\n",
    "config/default.json": "{}\n",
}


@pytest.fixture(autouse=True)
def isolated(monkeypatch):
    """git as on a machine with no global configuration; each test builds its archives anew."""
    for key, value in scan_repo.GIT_ENV.items():
        monkeypatch.setenv(key, value)
    release.build_archive.cache_clear()
    release.release_files.cache_clear()
    yield
    release.build_archive.cache_clear()
    release.release_files.cache_clear()


def app_repo(path: Path) -> Path:
    """An app's git repository, with what a developer's machine has beside it."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    write(path, TRACKED)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "the app")
    write(path, {**IGNORED, "src/new.js": "// not committed yet, not ignored\n"})
    return path


def names(archive: Path) -> list[str]:
    with tarfile.open(archive) as tar:
        return tar.getnames()


def test_a_release_ships_what_git_hands_over_and_nothing_it_ignores(tmp_path):
    source = app_repo(tmp_path / "app")
    _, archive = build_archive(source)
    assert names(archive) == [
        ".gitignore", "config", "config/default.json", "package.json", "server.js",
        "src", "src/new.js", "src/routes.js",
    ]  # fmt: skip
    data = archive.read_bytes()
    for content in IGNORED.values():
        assert content.encode() not in data


def test_what_git_ignores_is_named_once_without_env_files_node_modules_or_contents(tmp_path):
    source = app_repo(tmp_path / "app")
    selection = release_files(source)
    assert selection.left_out == (".npmrc", "config/production.env", "coverage/", "debug.log")
    assert selection.note("example-app") == (
        "example-app: 4 ignored by git, left out of the release: "
        ".npmrc, config/production.env, coverage/, debug.log"
    )


def test_a_tree_git_ignores_nothing_of_gets_no_note(tmp_path):
    source = tmp_path / "app"
    source.mkdir()
    git(source, "init", "-q", "-b", "main")
    write(source, {".gitignore": ".env\nnode_modules/\n", "server.js": "1;\n", ".env": "A=FAKE\n"})
    write(source, {"node_modules/x/i.js": ""})
    assert release_files(source).note("example-app") is None


def test_the_release_name_is_the_same_for_the_same_files_whatever_git_ignores(tmp_path):
    source = app_repo(tmp_path / "app")
    first, _ = build_archive(source)
    write(source, {"debug.log": "FAKE-another-log-line\n", "tmp.log": "FAKE\n"})
    release.build_archive.cache_clear()
    release.release_files.cache_clear()
    assert build_archive(source)[0] == first
    (source / "src" / "new.js").write_text("// changed\n")
    release.build_archive.cache_clear()
    release.release_files.cache_clear()
    assert build_archive(source)[0] != first


def test_a_tracked_env_file_or_node_modules_still_never_ships(tmp_path):
    source = app_repo(tmp_path / "app")
    git(source, "add", "-f", ".env", "node_modules/left-pad/index.js")
    git(source, "commit", "-q", "-m", "oops")
    _, archive = build_archive(source)
    assert not [n for n in names(archive) if n.startswith((".env", "node_modules"))]


def test_a_tracked_symlink_ships_as_a_link_and_is_never_followed(tmp_path):
    source = app_repo(tmp_path / "app")
    (source / "secrets.json").symlink_to(tmp_path / "outside.json")
    (tmp_path / "outside.json").write_text('{"token": "FAKE-outside-token"}\n')
    git(source, "add", "secrets.json")
    _, archive = build_archive(source)
    with tarfile.open(archive) as tar:
        link = tar.getmember("secrets.json")
        assert link.issym() and link.linkname == str(tmp_path / "outside.json")
    assert b"FAKE-outside-token" not in archive.read_bytes()


def test_outside_git_everything_ships_but_env_files_and_node_modules_and_a_note_says_so(tmp_path):
    source = tmp_path / "plain"
    (source / "node_modules" / "x").mkdir(parents=True)
    (source / "server.js").write_text("console.log(1)\n")
    (source / ".npmrc").write_text("registry=https://registry.example.invalid/\n")
    (source / ".env").write_text("SECRET=FAKE\n")
    (source / ".env.local").write_text("SECRET=FAKE\n")
    (source / "node_modules" / "x" / "i.js").write_text("")

    first, archive = build_archive(source)
    build_archive.cache_clear()
    second, _ = build_archive(source)
    assert first == second

    with tarfile.open(archive) as tar:
        assert tar.getnames() == [".npmrc", "server.js"]
        assert all(m.uid == 0 and m.mtime == 0 for m in tar.getmembers())
    assert release_files(source).note("example-app") == (
        f"example-app: {source} is not in a git work tree: the release is every file in it but "
        ".env*, node_modules, .git, .venv and __pycache__ (git's ignore rules cannot apply)"
    )


def test_a_directory_git_ignores_whole_ships_like_a_plain_one(tmp_path):
    repo = app_repo(tmp_path / "app")
    built = repo / "coverage"  # ignored whole, say a build's output
    assert release_files(built).files == ("lcov.info",)
    assert release_files(built).note("example-app") == (
        f"example-app: git ignores {built}: the release is every file in it but .env*, "
        "node_modules, .git, .venv and __pycache__ (git's ignore rules cannot apply)"
    )


def test_a_name_that_is_not_printable_is_escaped_in_the_note(tmp_path):
    source = app_repo(tmp_path / "app")
    write(source, {"forged\nexample-app: 0 ignored.log": "FAKE\n"})
    note = release_files(source).note("example-app")
    assert "\n" not in note and repr("forged\nexample-app: 0 ignored.log") in note


def test_a_work_tree_git_refuses_is_an_error_not_a_plain_directory(tmp_path, monkeypatch):
    source = app_repo(tmp_path / "app")
    monkeypatch.setenv("PATH", str(tmp_path / "no-git-here"))
    with pytest.raises(GitError, match="git is not installed"):
        release_files(source)
