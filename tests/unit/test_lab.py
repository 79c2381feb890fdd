"""The lab's helpers shared by the tests and the benchmarks: ports and pyinfra's results table."""

from __future__ import annotations

import socket

from lab.ports import free_port, port_free
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


def test_results_give_the_hosts_each_operation_changed():
    assert parse_results("--> Loading config...\n" + RESULTS) == {
        "Unpack release 1a2b3c": 2,
        "Activate example-app (rolling, health-gated)": 0,
    }
