from ssmenv.facts import AppEnvState, FileState


def test_app_env_state_reads_every_section():
    output = [
        "systemd 252 (252.39-1~deb12u2)",
        "--manifest--", "{", '  "format": 1', "}", "",
        "--key--", "ab12", "",
        "--env--", "root root 600", "e3b0c44298fc1c149afbf4c8996fb924  -",
    ]
    state = AppEnvState().process(output)
    assert state == {
        "systemd": 252,
        "manifest": '{\n  "format": 1\n}',
        "key": "ab12",
        "env_file": {"user": "root", "group": "root", "mode": "600",
                     "sha256": "e3b0c44298fc1c149afbf4c8996fb924"},
    }


def test_app_env_state_of_a_new_host_has_nothing_but_the_systemd_version():
    state = AppEnvState().process(
        ["systemd 247 (247.3-7)", "--manifest--", "", "--key--", "", "--env--"]
    )
    assert state == {"systemd": 247, "manifest": None, "key": None, "env_file": None}


def test_file_state_of_an_absent_file_is_none():
    assert FileState().process([]) is None
