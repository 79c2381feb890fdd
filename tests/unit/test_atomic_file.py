"""The remote script of ``atomic_file``: what it does in what order, and what it never carries."""

from ssmenv.operations import _install_script


def script(**kwargs) -> str:
    args = {"path": "/etc/app.env", "size": 42, "user": "root", "group": "root", "mode": "0600",
            "keep_previous": True}
    return str(_install_script(**{**args, **kwargs}))


def test_temp_file_is_created_beside_the_target_under_umask_077():
    text = script()
    assert text.index("umask 077") < text.index("mktemp /etc/.ssmenv.XXXXXX")
    assert "/tmp" not in text


def test_owner_mode_and_sync_come_before_the_rename():
    text = script()
    rename = text.index('mv -f "$tmp" /etc/app.env')
    for step in ('chown root:root "$tmp"', 'chmod 0600 "$tmp"', 'sync "$tmp"'):
        assert text.index(step) < rename


def test_exactly_the_expected_bytes_are_read_and_checked():
    text = script(size=1234)
    assert 'head -c 1234 > "$tmp"' in text
    assert '-eq 1234 ]' in text


def test_previous_file_is_kept_by_hard_link_before_the_rename():
    text = script()
    assert text.index("ln -f /etc/app.env /etc/app.env.previous") < text.index("mv -f")
    assert "ln -f" not in script(keep_previous=False)


def test_paths_are_quoted():
    assert "'/etc/my app.env'" in script(path="/etc/my app.env")
