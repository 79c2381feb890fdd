"""What the bootstrap refuses to provision over, from the host's state read alone, before any
operation: a directory the toolkit manages that is a link, an account that is not the app's."""

from __future__ import annotations

import subprocess
from dataclasses import replace

from ssmenv.accounts import Account
from ssmenv.config import AppConfig
from ssmenv.facts import AppHostState
from ssmenv.plan.host import refusals

CONFIG = AppConfig.from_data({"ssm_path": "/shop/prod", "app_name": "shop"})
MADE = Account("shop", 998, 998, "ssmenv app shop", "/nonexistent", "/usr/sbin/nologin", ("shop",))
DIRECTORY = "root root 755 directory"


def state(**changes):
    return replace(AppHostState().process(["--packages--"]), **changes)


def test_a_host_with_the_apps_own_directories_and_account_is_provisioned():
    dirs = {"/opt/shop": DIRECTORY, "/opt/shop/releases": DIRECTORY,
            "/etc/credstore.encrypted": "root root 700 directory"}  # fmt: skip
    assert refusals(CONFIG, state(dirs=dirs, account=MADE, group="shop:998")) == []
    assert refusals(CONFIG, state()) == []  # a new host: everything is for ssmenv to make


def test_a_managed_directory_that_is_a_link_is_refused_in_one_line_naming_it():
    dirs = {"/opt/shop": DIRECTORY, "/opt/shop/releases": "root root 777 symbolic link",
            "/etc/credstore.encrypted/shop": "root root 777 symbolic link"}  # fmt: skip
    assert refusals(CONFIG, state(dirs=dirs)) == [
        "/opt/shop/releases is a symbolic link: ssmenv never follows a link in the directories "
        "it manages; remove it",
        "/etc/credstore.encrypted/shop is a symbolic link: ssmenv never follows a link in the "
        "directories it manages; remove it",
    ]


def test_a_managed_directory_that_is_a_file_is_refused():
    dirs = {"/opt/shop": "root root 644 regular file"}
    assert refusals(CONFIG, state(dirs=dirs)) == [
        "/opt/shop is a regular file, not a directory; remove it"
    ]


def test_an_account_that_is_not_the_apps_is_refused_with_the_links():
    backup = Account("backup", 34, 34, "backup", "/var/backups", "/usr/sbin/nologin", ("backup",))
    config = AppConfig.from_data({"ssm_path": "/shop/prod", "app_name": "shop",
                                  "app_user": "backup"})  # fmt: skip
    assert refusals(config, state(account=backup, group="backup:34")) == [
        "app_user: the host's account backup exists and was not made by ssmenv (a system "
        "account); choose another name"
    ]


def test_the_state_read_shows_a_link_where_a_directory_should_be_and_never_follows_it(tmp_path):
    victim = tmp_path / "victim"
    (victim / "v1").mkdir(parents=True)
    home = tmp_path / "opt" / "shop"
    home.mkdir(parents=True)
    (home / "releases").symlink_to(victim)
    store = tmp_path / "credstore.encrypted"
    store.mkdir()
    (store / "shop").symlink_to(tmp_path / "nowhere")  # dangling: still there, still a link
    command = AppHostState().command(
        app="shop", user="nobody", home=str(home), release=str(home / "releases" / "v1"),
        env_file="/nonexistent", journald="/nonexistent", pending="/nonexistent",
        lock="/nonexistent/l", lock_wait=0, packages=[], units=[],
        credential_dirs=(str(store / "shop"), "/nonexistent/shop"),
    ).get_raw_value()  # fmt: skip
    result = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True)
    found = AppHostState().process(result.stdout.splitlines())
    assert found.dirs[str(home)].endswith(" directory")
    assert found.dirs[str(home / "releases")].endswith(" symbolic link")
    assert found.dirs[str(store / "shop")].endswith(" symbolic link")
    assert found.dirs[str(store)].endswith(" directory")
    assert "/nonexistent/shop" not in found.dirs
    assert found.account.name == "nobody" and found.account.uid == 65534
    links = [p.split(" is ")[0] for p in refusals(CONFIG, found) if "symbolic link" in p]
    assert links == [str(home / "releases"), str(store / "shop")]
