"""The AWS stand-in as a user's tool, through its command line: several side by side, one per
port, each with its own state file; a command that needs one takes the one running, and asks
which when several run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from lab import aws
from lab.ports import free_port, port_free

REPO = Path(__file__).resolve().parents[2]


def lab(*args: str, state: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m lab.aws ARGS`` in a process of its own, its state in ``state``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SSMENV_LAB_"))}
    return subprocess.run(
        [sys.executable, "-m", "lab.aws", *args], cwd=REPO, input=stdin,
        env={**env, "SSMENV_LAB_STATE": str(state)}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def parameters(port: int) -> dict[str, tuple[str, str]]:
    """Every parameter of the stand-in on ``port``: name to (type, value)."""
    found = aws.client("ssm", port).get_parameters_by_path(Path="/", Recursive=True,
                                                           WithDecryption=True)  # fmt: skip
    return {p["Name"]: (p["Type"], p["Value"]) for p in found["Parameters"]}


def test_two_stand_ins_run_side_by_side_each_with_its_own_state(tmp_path):
    first, second = free_port(), free_port()
    try:
        for port in (first, second):
            started = lab("up", "--port", str(port), state=tmp_path)
            assert started.returncode == 0, started.stderr
        assert sorted(p.name for p in tmp_path.glob("moto-*.json")) == sorted(
            f"moto-{p}.json" for p in (first, second)
        )
        status = lab("status", state=tmp_path).stdout
        assert f"127.0.0.1:{first}" in status and f"127.0.0.1:{second}" in status

        # Two are running: a command that needs one says which are, and changes nothing.
        ambiguous = lab("env", state=tmp_path)
        assert ambiguous.returncode != 0 and "--port" in ambiguous.stderr
        assert str(first) in ambiguous.stderr and str(second) in ambiguous.stderr

        put = lab("put", "/lab/A", "--type", "String", "--port", str(first),
                  state=tmp_path, stdin="FAKE-first\n")  # fmt: skip
        assert put.returncode == 0, put.stderr
        seed = tmp_path / "seed.json"
        seed.write_text('{"/lab/B": "FAKE-second"}')
        seeded = lab("--port", str(second), "seed", str(seed), state=tmp_path)
        assert seeded.returncode == 0, seeded.stderr
        assert "SecureString" in seeded.stdout
        assert parameters(first) == {"/lab/A": ("String", "FAKE-first")}
        assert parameters(second) == {"/lab/B": ("SecureString", "FAKE-second")}

        stopped = lab("down", "--port", str(first), state=tmp_path)
        assert stopped.returncode == 0, stopped.stderr
        assert port_free(first) and not (tmp_path / f"moto-{first}.json").exists()
        assert parameters(second)  # the other one still answers

        # One is left: no need to say which.
        env = lab("env", state=tmp_path)
        assert env.returncode == 0, env.stderr
        assert f"export AWS_ENDPOINT_URL=http://127.0.0.1:{second}\n" in env.stdout
        put = lab("put", "/lab/C", "--type", "SecureString", state=tmp_path,
                  stdin="FAKE-third")  # fmt: skip
        assert put.returncode == 0, put.stderr
        assert parameters(second)["/lab/C"] == ("SecureString", "FAKE-third")
        assert lab("down", state=tmp_path).returncode == 0
        assert port_free(second) and list(tmp_path.glob("moto-*.json")) == []

        none = lab("env", state=tmp_path)
        assert none.returncode != 0 and "python -m lab.aws up" in none.stderr
    finally:
        for port in (first, second):
            lab("down", "--port", str(port), state=tmp_path)


def test_a_port_taken_by_a_running_stand_in_is_refused(tmp_path):
    port = free_port()
    try:
        assert lab("up", "--port", str(port), state=tmp_path).returncode == 0
        again = lab("up", "--port", str(port), state=tmp_path)
        assert again.returncode != 0 and f"127.0.0.1:{port}" in again.stderr
    finally:
        lab("down", "--port", str(port), state=tmp_path)
