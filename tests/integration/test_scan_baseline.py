"""A scanned repository's own ``.secrets.baseline`` runs no code and configures nothing: the real
``python -m ssmenv scan .`` in a fixture repository, from its top directory, as CI runs it.

Each baseline here is an attack: it names a Python file of the repository (``poc.py``) that would
write a marker file outside the repository when imported, and would hide every finding if it ran.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from detect_secrets.settings import default_settings, get_settings

from ssmenv.scan import BASELINE_NAME
from tests.fixtures import scan_repo
from tests.fixtures.scan_repo import write

REPO = Path(__file__).resolve().parents[2]
# What the scan reports of the fixture repository with or without a baseline that accepts none.
FINDINGS = 6


def poc(marker: Path) -> str:
    """A module that leaves ``marker`` when imported, and as a filter, hides every finding."""
    return (
        "import pathlib\n"
        f"pathlib.Path({str(marker)!r}).write_text('poc.py ran')\n"
        "def f(*args, **kwargs):\n"
        "    return True\n"
    )


# A detect-secrets 1.x baseline whose filter is a function of the scanned tree's poc.py.
FILTER = {
    "version": "1.5.0",
    "plugins_used": [{"name": "AWSKeyDetector"}],
    "filters_used": [{"path": "file://poc.py::f"}],
    "results": {},
}
# A detect-secrets 0.x baseline naming poc.py as a plugin file: upgrading it imports the file.
OLD_PLUGIN = {
    "version": "0.14.3",
    "custom_plugin_paths": ["poc.py"],
    "plugins_used": [{"name": "AWSKeyDetector"}],
    "results": {},
}


def scan_in(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ssmenv", "scan", ".", *args],
        cwd=repo, env={**os.environ, **scan_repo.GIT_ENV, "PYTHONPATH": str(REPO)},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.mark.parametrize("baseline", [FILTER, OLD_PLUGIN], ids=["filters_used", "custom_plugin"])
def test_a_baseline_naming_a_file_of_the_scanned_tree_never_runs_it(baseline, tmp_path):
    repo = scan_repo.build(tmp_path / "app").path
    marker = tmp_path / "marker"
    write(repo, {"poc.py": poc(marker), BASELINE_NAME: json.dumps(baseline)})
    result = scan_in(repo)
    assert not marker.exists(), "the scan ran poc.py from the scanned repository"
    # Nothing hidden: the planted keys are all found, and the attempt is named on one line.
    assert result.returncode == 1, result.stdout + result.stderr
    assert "src/aws.js:4: AWS Access Key\n" in result.stdout
    # Its files, poc.py and the baseline (scanned too, but for its own hashes).
    assert f"\n{FINDINGS} findings in 11 files, 0 accepted by " in result.stdout
    lines = [line for line in result.stderr.splitlines() if "configure the scanner" in line]
    assert len(lines) == 1, result.stderr
    assert "poc.py" not in result.stderr  # the baseline's own text is not echoed


def test_write_baseline_over_an_attacking_baseline_runs_nothing_and_writes_the_defaults(tmp_path):
    repo = scan_repo.build(tmp_path / "app").path
    marker = tmp_path / "marker"
    write(repo, {"poc.py": poc(marker), BASELINE_NAME: json.dumps(FILTER)})
    result = scan_in(repo, "--write-baseline", BASELINE_NAME)
    assert not marker.exists(), "the scan ran poc.py from the scanned repository"
    assert result.returncode == 1, result.stdout + result.stderr  # the old .env is still found
    written = json.loads((repo / BASELINE_NAME).read_text())
    with default_settings():
        defaults = get_settings().json()
    assert written["plugins_used"] == defaults["plugins_used"]  # every detector
    assert written["filters_used"] == defaults["filters_used"]
    assert sum(len(entries) for entries in written["results"].values()) == FINDINGS - 1
