"""Every shell example of README.md and docs/ says where it runs as written (its block's title), and
every command of the toolkit, the lab, the bench, pyinfra, make and pytest in them parses with the
real command line and names files that exist: an option renamed, a subcommand removed or a file
moved fails here. The ones that run in the demo are run against it by ``python -m
tests.demo_docs`` (the demo takes fixed ports, so not in the parallel suite)."""

from __future__ import annotations

import functools
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench import deploy as bench_deploy
from bench import fleet as bench_fleet
from lab import aws as lab_aws
from lab import hosts as lab_hosts
from lab import imds as lab_imds
from ssmenv import cli as ssmenv_cli
from tests import demo_docs, docs

PARSERS = {
    "ssmenv": ssmenv_cli.build_parser,
    "lab.hosts": lab_hosts.parser,
    "lab.aws": lab_aws.parser,
    "lab.imds": lab_imds.parser,
    "bench.deploy": bench_deploy.parser,
    "bench.fleet": bench_fleet.parser,
    "tests.demo_docs": demo_docs.parser,
}
# A path of the checkout, as an example names it: under one of its directories, a deploy file or
# a requirements file.
_REPO_PATH = re.compile(r"(?:inventories|examples|group_data|tests|bench|lab|templates|ssmenv|"
                        r"tasks)/[\w./-]*|[\w-]+\.py|requirements[\w-]*\.txt")  # fmt: skip
_MAKEFILE_TARGET = re.compile(r"^([\w.-]+):", re.M)
_MAKEFILE_SETTABLE = re.compile(r"^(\w+) *\?=", re.M)
# pyinfra's CLI parses (click), in a process of its own: importing pyinfra_cli monkey-patches the
# interpreter for gevent, which breaks the parallel workers' own connections.
_PYINFRA_PARSE = """
import json, sys
import click
from pyinfra_cli.main import cli
errors = []
for args in json.load(sys.stdin):
    try:
        cli.make_context("pyinfra", args)
        errors.append(None)
    except click.exceptions.Exit as e:
        errors.append(None if e.exit_code == 0 else f"exit {e.exit_code}")
    except click.ClickException as e:
        errors.append(e.format_message())
print(json.dumps(errors))
"""


@functools.cache
def _pyinfra_errors(commands: tuple[tuple[str, ...], ...]) -> dict[tuple[str, ...], str | None]:
    done = subprocess.run([sys.executable, "-c", _PYINFRA_PARSE], input=json.dumps(commands),
                          capture_output=True, text=True, check=True, cwd=docs.ROOT)  # fmt: skip
    return dict(zip(commands, json.loads(done.stdout), strict=True))


def _pyinfra_commands() -> tuple[tuple[str, ...], ...]:
    found = {tuple(args) for _, _, words in EXAMPLES for program, args in [_program(words)]
             if program == "pyinfra"}  # fmt: skip
    return tuple(sorted(found | {("inventories/prod.py", "deploy.py", "--no-such-option")}))


def _examples() -> list[tuple[str, docs.Block, list[str]]]:
    found = []
    for block in docs.shell_blocks():
        for words in docs.commands(block.text):
            found.append((f"{block.where} {' '.join(words)[:60]}", block, words))
            # What runs inside $(...): eval "$(python -m lab.aws env)", ssh -i "$(... key)".
            for word in words:
                if word.startswith("$(") and word.endswith(")"):
                    for inner in docs.commands(word[2:-1]):
                        found.append((f"{block.where} {word[:60]}", block, inner))
    return found


EXAMPLES = _examples()


def test_the_pages_have_shell_examples_and_they_are_all_seen():
    assert len(docs.shell_blocks()) >= 25
    assert any(words[:3] == [".venv/bin/python", "-m", "ssmenv"] for _, _, words in EXAMPLES)


@pytest.mark.parametrize("block", docs.shell_blocks(), ids=lambda b: b.where)
def test_every_shell_example_says_where_it_runs(block):
    assert block.title.startswith(docs.TITLES), (
        f'{block.where}: a sh block needs title="..." starting with one of {docs.TITLES}'
    )


def _program(words: list[str]) -> tuple[str, list[str]]:
    """What a command runs, and its arguments: ``python -m X`` as ``X``."""
    if words[0] == "sudo":
        words = words[1:]
    name = Path(words[0]).name
    if re.fullmatch(r"python3?", name) and words[1:2] == ["-m"]:
        return words[2], words[3:]
    return name, words[1:]


def _parses(program: str, args: list[str]) -> None:
    if program in PARSERS:
        try:
            PARSERS[program]().parse_args(args)
        except SystemExit as e:  # --help prints and exits 0; anything else is a usage error
            assert e.code == 0, f"{program} {args}: usage error"
        except ssmenv_cli.UsageError as e:  # python -m ssmenv's parser raises rather than exit
            raise AssertionError(f"{program} {args}: {e}") from e
    elif program == "pyinfra":
        error = _pyinfra_errors(_pyinfra_commands())[tuple(args)]
        assert error is None, f"pyinfra {args}: {error}"
    elif program == "make":
        makefile = (docs.ROOT / "Makefile").read_text()
        targets = set(_MAKEFILE_TARGET.findall(makefile))
        settable = set(_MAKEFILE_SETTABLE.findall(makefile))  # NAME ?= default
        variables = {a.partition("=")[0] for a in args if "=" in a}
        assert variables <= settable, f"make {args}: not a variable the Makefile lets one set"
        assert {a for a in args if "=" not in a} <= targets, (
            f"make {args}: not a target of the Makefile"
        )
    elif program == "pytest":
        for arg in args:
            path, _, test = arg.partition("::")
            if path.startswith("tests/"):
                assert (docs.ROOT / path).exists(), arg
                if test:
                    assert f"def {test}(" in (docs.ROOT / path).read_text(), arg
    elif program == "venv" or program.startswith(("lab.", "bench.", "ssmenv.", "tests.")):
        assert program == "venv", f"python -m {program}: add its parser to PARSERS"


@pytest.mark.parametrize(("where", "block", "words"), EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_every_toolkit_command_of_the_docs_parses_with_the_real_command_line(where, block, words):
    _parses(*_program(words))


@pytest.mark.parametrize(("where", "block", "words"), EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_every_file_an_example_names_exists_or_the_docs_show_it(where, block, words):
    program, args = _program(words)
    if program not in (*PARSERS, "pyinfra", "pytest", "pip"):
        return
    shown = docs.created()
    for arg in args:
        path = arg.partition("::")[0]
        if _REPO_PATH.fullmatch(path):
            assert (docs.ROOT / path).exists() or path in shown, f"{where}: no {path}"


def test_a_wrong_option_or_a_missing_file_is_caught():
    with pytest.raises(AssertionError):
        _parses("ssmenv", ["drift", "--no-such-option"])
    with pytest.raises(AssertionError, match="No such option"):
        _parses("pyinfra", ["inventories/prod.py", "deploy.py", "--no-such-option"])
    with pytest.raises(AssertionError):
        _parses("make", ["no-such-target"])
    with pytest.raises(AssertionError, match="variable"):
        _parses("make", ["test", "NO_SUCH_VARIABLE=3"])
    with pytest.raises(AssertionError):
        _parses("lab.nothing", [])
    block = docs.shell_blocks()[0]
    with pytest.raises(AssertionError):
        test_every_file_an_example_names_exists_or_the_docs_show_it(
            "x", block, [".venv/bin/pyinfra", "inventories/nowhere.py", "deploy.py"]
        )


def test_a_block_split_into_commands():
    text = ('eval "$(python -m lab.aws env)"   # a comment\n'
            "printf %s FAKE | A=1 .venv/bin/python -m lab.aws put /x --type String\n"
            "cat > f.py <<'PY'\nimport os; os.exit(1)\nPY\n"
            "pyinfra inv.py deploy.py \\\n  --limit app-1 && echo done; make docs\n")  # fmt: skip
    assert docs.commands(text) == [
        ["eval", "$(python -m lab.aws env)"],
        ["printf", "%s", "FAKE"],
        [".venv/bin/python", "-m", "lab.aws", "put", "/x", "--type", "String"],
        ["cat", "f.py"],
        ["pyinfra", "inv.py", "deploy.py", "--limit", "app-1"],
        ["echo", "done"],
        ["make", "docs"],
    ]


#: Pages the README links to that other branches write: the integrator empties this once they
#: are merged.
PENDING: set[str] = set()


def test_the_readme_is_a_front_page_whose_links_lead_to_the_reference():
    text = (docs.ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 250
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
    local = [link for link in links if "://" not in link]
    assert "docs/index.md" in local and "ARCHITECTURE.md" in local
    assert {link for link in local if not (docs.ROOT / link).exists()} == PENDING
