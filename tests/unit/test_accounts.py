"""Which account a host already has may become the app's user (``app_user``): decided on the
lines ``getent passwd``, ``id -Gn`` and ``getent group`` print, as the state read brings them."""

from __future__ import annotations

import pytest

from ssmenv.accounts import Account, made_for, refusal

# Debian 12's own accounts, as getent prints them on a fresh host.
DEBIAN = {
    "backup": ("backup:x:34:34:backup:/var/backups:/usr/sbin/nologin", "backup"),
    "mail": ("mail:x:8:8:mail:/var/mail:/usr/sbin/nologin", "mail"),
    "messagebus": ("messagebus:x:100:101::/nonexistent:/usr/sbin/nologin", "messagebus"),
    "nobody": ("nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin", "nogroup"),
    "_apt": ("_apt:x:42:65534::/nonexistent:/usr/sbin/nologin", "nogroup"),
}


def account(passwd: str, groups: str) -> Account:
    found = Account.parse(passwd, groups)
    assert found is not None
    return found


def test_an_account_is_read_from_its_passwd_and_groups_lines():
    assert account("shop:x:998:997:ssmenv app shop:/nonexistent:/usr/sbin/nologin", "shop") == (
        Account("shop", 998, 997, "ssmenv app shop", "/nonexistent", "/usr/sbin/nologin",
                ("shop",)))  # fmt: skip
    assert Account.parse("", "") is None
    assert Account.parse("shop:x:nine:1::/:/bin/sh", "shop") is None


def test_no_account_and_no_group_is_for_ssmenv_to_make():
    assert refusal("shop", "shop", None, None, deployed=False) is None


def test_an_account_ssmenv_made_for_the_app_is_its_own():
    made = account("shop:x:998:998:ssmenv app shop:/nonexistent:/usr/sbin/nologin", "shop")
    assert made_for(made) == "shop"
    assert refusal("shop", "shop", made, "shop:998", deployed=True) is None


@pytest.mark.parametrize("name", sorted(DEBIAN))
def test_a_system_account_ssmenv_did_not_make_is_refused_naming_it_and_the_setting(name):
    passwd, groups = DEBIAN[name]
    why = refusal(name, "shop", account(passwd, groups), f"{groups}:1", deployed=False)
    assert why is not None and why.startswith(f"app_user: the host's account {name} ")
    assert "\n" not in why and why.endswith("choose another name")


def test_backup_is_refused_as_a_system_account_not_made_by_ssmenv():
    passwd, groups = DEBIAN["backup"]
    assert refusal("backup", "shop", account(passwd, groups), "backup:34", deployed=False) == (
        "app_user: the host's account backup exists and was not made by ssmenv (a system "
        "account); choose another name")  # fmt: skip


@pytest.mark.parametrize("group", ["sudo", "docker", "adm", "shadow", "disk", "systemd-journal"])
def test_an_account_in_a_privileged_group_is_refused_even_if_ssmenv_made_it(group):
    made = account("shop:x:998:998:ssmenv app shop:/nonexistent:/usr/sbin/nologin",
                   f"shop {group}")  # fmt: skip
    assert refusal("shop", "shop", made, "shop:998", deployed=True) == (
        f"app_user: the host's account shop is in the privileged group {group}; an app's user "
        "must not be: choose another name")  # fmt: skip


def test_root_under_another_name_is_refused():
    toor = account("toor:x:0:0::/root:/bin/bash", "root")
    assert "is root" in refusal("toor", "shop", toor, "toor:5", deployed=False)


def test_an_account_ssmenv_made_for_another_app_is_not_taken():
    other = account("svc:x:998:998:ssmenv app blog:/nonexistent:/usr/sbin/nologin", "svc")
    assert refusal("svc", "shop", other, "svc:998", deployed=True) == (
        "app_user: the host's account svc was made by ssmenv for the app blog; choose another name")


def test_an_account_an_earlier_version_made_for_the_app_is_still_its_own():
    legacy = account("shop:x:998:998::/nonexistent:/usr/sbin/nologin", "shop")
    assert refusal("shop", "shop", legacy, "shop:998", deployed=True) is None


@pytest.mark.parametrize(("passwd", "groups", "deployed"), [
    # messagebus has that shape too: on a host without what an earlier deploy of the app left
    # (its directory, its env file) it is not taken for the app's
    ("shop:x:998:998::/nonexistent:/usr/sbin/nologin", "shop", False),
    ("shop:x:998:998:Shop:/nonexistent:/usr/sbin/nologin", "shop", True),
    ("shop:x:998:998::/var/shop:/usr/sbin/nologin", "shop", True),
    ("shop:x:998:998::/nonexistent:/bin/bash", "shop", True),
    ("shop:x:998:998::/nonexistent:/usr/sbin/nologin", "shop mail", True),
])  # fmt: skip
def test_a_system_account_of_another_shape_is_not_taken_for_an_earlier_versions(
    passwd, groups, deployed
):
    why = refusal("shop", "shop", account(passwd, groups), "shop:998", deployed=deployed)
    assert why is not None and "was not made by ssmenv" in why


def test_a_regular_account_made_for_the_app_is_taken():
    made = account("shop:x:1001:1001:Shop service:/home/shop:/usr/sbin/nologin", "shop")
    assert refusal("shop", "shop", made, "shop:1001", deployed=False) is None


def test_an_account_without_a_group_of_its_own_is_refused():
    shared = account("shop:x:1001:100::/home/shop:/bin/sh", "users")
    assert "group of its own name" in refusal("shop", "shop", shared, None, deployed=False)


def test_a_group_without_its_user_is_refused():
    assert refusal("staff", "shop", None, "staff:50", deployed=False) == (
        "app_user: the host's group staff exists without a user staff (a group ssmenv did not "
        "make); choose another name")  # fmt: skip
