"""What a deploy, a rotation and a drift report decide for fixed host states and fixed fetched
variables is, byte for byte, what the golden files in ``tests/golden/`` hold: the state reads,
the provisioning and activation plans with their payloads and secrets, the unit files, env files
and manifests, the lines printed and the reports (the example app, its Python twin, two apps on
two hosts, Procfile processes placed and scaled, credentials moving, a container image, an
activation left unfinished, a host refused).

A change meant to change what a deploy does writes them again (``python -m
tests.golden.harness``) and shows the difference in its commit."""

from __future__ import annotations

import difflib

import pytest

from tests.golden.harness import GOLDEN, text
from tests.golden.scenarios import SCENARIOS


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_what_a_run_decides_is_byte_for_byte_the_golden_file(name):
    made = text(SCENARIOS[name]())
    golden = (GOLDEN / f"{name}.txt").read_text()
    if made != golden:
        diff = difflib.unified_diff(golden.splitlines(), made.splitlines(), "golden", "made",
                                    lineterm="", n=2)  # fmt: skip
        pytest.fail(f"{name}: differs from tests/golden/{name}.txt:\n" + "\n".join(
            list(diff)[:80]))  # fmt: skip
