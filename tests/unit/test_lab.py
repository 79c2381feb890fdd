"""The lab's helpers shared by the tests and the benchmarks (ports, pyinfra's results table), and
the lab as a user's tool: its commands' help (tests/integration/test_lab_aws.py runs stand-ins
side by side)."""

from __future__ import annotations

import re
import socket

import pytest

from lab import aws, demo, hosts
from lab.ports import ephemeral_range, free_port, port_free
from lab.results import parse_results

# As pyinfra 3.10 prints it: four spaces in front, columns padded to their widest cell plus four.
RESULTS = """--> Results:
    Operation                                       Hosts    Success    Error    No Change
    Unpack release 1a2b3c                           2        2          -        -
    Activate example-app (rolling, health-gated)    2        -          1        1
    Grand total                                     4        2          1        1
"""


def test_a_free_port_can_be_listened_on_and_a_listened_one_is_not_free():
    port = free_port()
    assert port_free(port)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", port))
        listener.listen()
        assert not port_free(port)


def test_a_free_port_is_below_the_ephemeral_range_where_a_connection_could_take_it():
    first, _ = ephemeral_range()
    assert all(first // 2 <= free_port() < first for _ in range(50))


def test_results_give_the_hosts_each_operation_changed():
    assert parse_results("--> Loading config...\n" + RESULTS) == {
        "Unpack release 1a2b3c": 2,
        "Activate example-app (rolling, health-gated)": 0,
    }


# --- The lab as a user's tool: its commands explain themselves.

LAB_COMMANDS = {"lab.hosts": hosts.main, "lab.aws": aws.main, "lab.demo": demo.main}


def shown(main, *args: str, capsys) -> str:
    """What ``python -m lab.X ARGS --help`` prints."""
    with pytest.raises(SystemExit) as done:
        main([*args, "--help"])
    assert done.value.code == 0
    return capsys.readouterr().out


def unexplained(help_text: str) -> list[str]:
    """The options, arguments and subcommands of an argparse ``--help`` listed without a word
    about them: a line naming one with nothing after it and no explanation on the next line (the
    ``{a,b}`` line of subcommands is explained by the subcommands' lines under it)."""
    lines = help_text.splitlines()
    bare = []
    for i, line in enumerate(lines):
        entry = re.match(r" {2}(?: {2})?(-\S.*?|[a-z]\S*)(\s{2,}\S.*)?$", line)
        if not entry or entry.group(2):
            continue
        following = lines[i + 1] if i + 1 < len(lines) else ""
        if not re.match(r" {6,}\S", following):
            bare.append(entry.group(1))
    return bare


def subcommands(help_text: str) -> list[str]:
    return re.search(r"\{([a-z,-]+)\}", help_text).group(1).split(",")


@pytest.mark.parametrize("module", sorted(LAB_COMMANDS))
def test_every_lab_command_and_option_says_what_it_does(module, capsys):
    main = LAB_COMMANDS[module]
    top = shown(main, capsys=capsys)
    description = top.split("\n\n")[1]
    assert description.rstrip().endswith("."), f"{module} --help stops mid-sentence: {description}"
    assert unexplained(top) == [], top
    for command in subcommands(top):
        text = shown(main, command, capsys=capsys)
        assert unexplained(text) == [], f"{module} {command} --help:\n{text}"


def test_the_hosts_help_says_how_to_log_in(capsys):
    text = " ".join(shown(hosts.main, "up", capsys=capsys).split())
    for words in ("deploy", "sudo", "python -m lab.hosts key", "127.0.0.1"):
        assert words in text, text


def test_the_demo_says_what_it_starts_and_stops(capsys):
    text = " ".join(shown(demo.main, capsys=capsys).split())
    for words in ("usage: python -m lab.demo", "demo-3", "Auto Scaling group", "down"):
        assert words in text, text


def test_seeding_and_putting_say_the_type_they_make(capsys):
    assert "SecureString" in shown(aws.main, "seed", capsys=capsys)
    assert "{String,StringList,SecureString}" in shown(aws.main, "put", capsys=capsys)
