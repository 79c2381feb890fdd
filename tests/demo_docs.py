"""Run the docs' examples that say they run in the demo, as written, against it.

    make demo && .venv/bin/python -m tests.demo_docs; make demo-down

The blocks titled ``Runs in the demo``, ``Runs beside the demo`` or ``Runs anywhere`` (README.md
first, then docs/ in name order) run in one bash session from the checkout, each block in its
page's order, with ``HOME`` a scratch directory (the README's path writes ``~/shop``). Each line
must end with status 0, or with the one its comment announces (``# exit 2: ...``). Prints every
line, its status and the last lines it wrote; exits 1 when a line ended otherwise. Not part of
the parallel suite: the demo's hosts and stand-in take fixed ports (one demo on a machine at a
time: on a shared one, under a lock, ``flock LOCKFILE sh -c '...'``).
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
import tempfile

from tests import docs

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_EXPECTED = re.compile(r"#\s*exit (\d+)")
_HEREDOC = re.compile(r"<<-?\s*'?(\w+)'?")


def units(text: str) -> list[str]:
    """The block's lines as the shell runs them: continuations and here-documents kept whole."""
    lines = text.split("\n")
    found, at = [], 0
    while at < len(lines):
        unit = lines[at]
        while unit.endswith("\\") and at + 1 < len(lines):
            at += 1
            unit += "\n" + lines[at]
        heredoc = _HEREDOC.search(unit)
        if heredoc:
            while at + 1 < len(lines) and lines[at].strip() != heredoc[1]:
                at += 1
                unit += "\n" + lines[at]
        if unit.strip() and not unit.lstrip().startswith("#"):
            found.append(unit)
        at += 1
    return found


def script() -> str:
    steps = ["cd " + shlex.quote(str(docs.ROOT)), "failed=0"]
    for block in docs.shell_blocks():
        if not block.title.startswith(docs.RUNS_IN_DEMO):
            continue
        for unit in units(block.text):
            expected = _EXPECTED.search(unit.split("\n")[0])
            want = expected[1] if expected else "0"
            shown = f"{block.where}: $ {unit.splitlines()[0]}"
            steps += [
                f"printf '\\n%s\\n' {shlex.quote(shown)}",
                f"{{ {unit}\n}} > \"$HOME/.out\" 2>&1; status=$?",
                "tail -n 4 \"$HOME/.out\" | sed 's/^/    /'",
                f'if [ "$status" = {want} ]; then echo "    status $status: as written"; '
                f'else echo "    status $status, expected {want}: FAILED"; failed=1; fi',
            ]
    steps.append('exit "$failed"')
    return "\n".join(steps) + "\n"


def parser() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(
        prog="python -m tests.demo_docs", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser().parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ssmenv-demo-docs-") as home:
        done = subprocess.run(["bash", "-c", script()], env={"HOME": home, "PATH": PATH})
    print("\nevery example ran as written" if done.returncode == 0 else "\nsome example FAILED")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
