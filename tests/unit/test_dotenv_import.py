"""Tests for ssmenv.dotenv_import's pure parts and the CLI's command table: no AWS here."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from dotenv import dotenv_values

from ssmenv import cli
from ssmenv.dotenv_import import (
    Destination,
    DotenvImportError,
    Plan,
    State,
    Step,
    describe,
    problems,
    provenance,
    read,
    warnings,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ROUNDTRIP = FIXTURES / "roundtrip.dotenv"
CANARY = "FAKE-CANARY-7QXZ"  # must never appear in anything the import prints or raises
TO_SSM = Destination("/app/prod")


def dotenv(tmp_path: Path, text: str | bytes, name: str = ".env") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_values_are_exactly_what_python_dotenv_gives(monkeypatch):
    monkeypatch.setenv("SSMENV_ROUNDTRIP_FROM_SHELL", "from-the-shell")
    expected = {k: v for k, v in dotenv_values(ROUNDTRIP).items() if v is not None}
    assert read(ROUNDTRIP).values == expected
    assert list(read(ROUNDTRIP).values) == list(expected)  # file order kept


def test_crlf_file_gives_the_same_values_as_python_dotenv(tmp_path):
    path = dotenv(tmp_path, b'A=one\r\nB="two\r\nlines"\r\n')
    assert read(path).values == dotenv_values(path) == {"A": "one", "B": "two\nlines"}


def test_the_roundtrip_fixture_passes_every_check(monkeypatch):
    monkeypatch.setenv("SSMENV_ROUNDTRIP_FROM_SHELL", "from-the-shell")
    assert problems(read(ROUNDTRIP), TO_SSM) == []


def test_references_taken_from_the_environment_or_nowhere_are_noted(tmp_path, monkeypatch):
    monkeypatch.setenv("SSMENV_TEST_HOST", "db.example.invalid")
    monkeypatch.delenv("SSMENV_TEST_NOWHERE", raising=False)
    path = dotenv(
        tmp_path,
        "BASE=https://x.invalid\n"
        "URL=${BASE}/v1\n"
        "DSN=postgres://${SSMENV_TEST_HOST}/app\n"
        "ODD=${SSMENV_TEST_NOWHERE:-dflt}\n",
    )
    source = read(path)
    assert source.values["DSN"] == "postgres://db.example.invalid/app"
    assert source.from_environment == {"DSN": ("SSMENV_TEST_HOST",)}
    assert source.undefined == {"ODD": ("SSMENV_TEST_NOWHERE",)}
    notes = warnings(source, TO_SSM)
    assert any(n.startswith("line 3: DSN: ${SSMENV_TEST_HOST} taken from") for n in notes)
    assert any(n.startswith("line 4: ODD: ${SSMENV_TEST_NOWHERE} defined nowhere") for n in notes)
    assert not any("db.example.invalid" in n for n in notes)


def test_a_later_assignment_replaces_the_notes_of_an_earlier_one(tmp_path, monkeypatch):
    monkeypatch.setenv("SSMENV_TEST_HOST", "h")
    source = read(dotenv(tmp_path, "A=${SSMENV_TEST_HOST}\nA=plain\n"))
    assert source.values == {"A": "plain"}
    assert source.from_environment == {}


def test_bare_names_are_skipped_as_load_dotenv_skips_them(tmp_path):
    source = read(dotenv(tmp_path, "A=1\nBARE\n"))
    assert source.values == {"A": "1"}
    assert source.bare_lines == (2,)


def test_every_refusal_is_listed_at_once_naming_variables_never_values(tmp_path):
    text = (
        f"GOOD={CANARY}\n"
        f"MY-VAR={CANARY}\n"  # dotenv accepts the name, the env-file contract does not
        f'WITH_NUL="{CANARY}\0"\n'
        f"NONCHARACTER={CANARY}\ufffe\n"
        f"PORT=8080\n"  # the deploy sets PORT itself
        f"EMPTY=\n"  # SSM stores no empty parameter
        f"HUGE={CANARY * 300}\n"  # 4800 bytes: over a Standard parameter
        f"'unterminated {CANARY}\n"
    )
    found = problems(read(dotenv(tmp_path, text)), TO_SSM)
    assert len(found) == 7, found
    joined = "\n".join(found)
    for expected in (
        "line 8: python-dotenv cannot parse it",
        "line 2: name must match",
        "line 3: WITH_NUL: value contains a NUL",
        "line 4: NONCHARACTER: value contains a Unicode noncharacter",
        "line 5: PORT: the deploy sets PORT from app_port",
        "line 6: empty, and SSM cannot store an empty parameter",  # NAME= alone: maybe a token
        "line 7: HUGE: 4800 bytes, over the 4096 an SSM Standard parameter holds",
    ):
        assert expected in joined
    assert CANARY not in joined


def test_advanced_tier_takes_values_up_to_8_kb(tmp_path):
    source = read(dotenv(tmp_path, f"BIG={'x' * 8000}\n"))
    assert problems(source, TO_SSM) != []
    assert problems(source, Destination("/app/prod", tier="Advanced")) == []


def test_older_systemd_refuses_control_characters(tmp_path):
    source = read(dotenv(tmp_path, 'BELL="ring\\a"\n'))
    assert problems(source, TO_SSM) == []
    assert problems(source, TO_SSM, systemd_version=240) == [
        "line 1: BELL: value has control characters other than TAB, LF, which systemd 240 refuses"
    ]


def test_excluded_names_are_neither_imported_nor_checked(tmp_path):
    source = read(dotenv(tmp_path, "PORT=3000\nEMPTY=\nA=1\n"))
    assert problems(source, Destination("/app/prod", exclude=("PORT", "EMPTY"))) == []
    assert "NOPE: excluded, but .env gives it no value" in problems(
        source, Destination("/app/prod", exclude=("NOPE",))
    )


def test_secret_names_go_to_the_secret_where_empty_values_are_fine(tmp_path):
    source = read(dotenv(tmp_path, "A=1\nEMPTY=\n"))
    to_secret = Destination("/app/prod", secret_id="app/prod", secret_names=("EMPTY",))
    assert problems(source, to_secret) == []
    assert to_secret.target("EMPTY") == "secret app/prod key EMPTY"
    assert to_secret.target("A") == "/app/prod/A"
    missing = Destination("/app/prod", secret_id="app/prod", secret_names=("NOPE",))
    assert problems(source, missing) == [
        "NOPE: declared for secret app/prod, but not set",
        "line 2: empty, and SSM cannot store an empty parameter "
        "(set it in group data env, or leave it out with --exclude)",
    ]


@pytest.mark.parametrize("path", ["app/prod", "/app prod", "/app//prod", "/app/prod$"])
def test_ssm_path_must_be_an_absolute_ssm_name(tmp_path, path):
    source = read(dotenv(tmp_path, "A=1\n"))
    assert problems(source, Destination(path))[0].startswith(f"--ssm-path {path!r}: must start")


@pytest.mark.parametrize("path", ["/app/prod", "/app/prod/", "/a.b/c_d-e"])
def test_parameter_names_are_the_path_then_the_variable_name(path):
    assert Destination(path).parameter_name("API_KEY") == path.rstrip("/") + "/API_KEY"


def test_a_file_that_is_not_utf8_is_refused_without_quoting_it(tmp_path):
    path = dotenv(tmp_path, b"A=" + CANARY.encode() + b"\xff\n")
    with pytest.raises(DotenvImportError) as raised:
        read(path)
    assert "not UTF-8" in str(raised.value)
    assert CANARY not in str(raised.value)


def test_a_missing_file_is_one_line_naming_it(tmp_path):
    with pytest.raises(DotenvImportError, match=r"\.env: No such file"):
        read(tmp_path / ".env")


def test_provenance_tags_name_the_file_and_the_import_time_in_utc():
    when = datetime(2024, 6, 1, 14, 30, 5, tzinfo=timezone(timedelta(hours=2)))
    assert provenance(Path("/home/dev/app/.env.production"), when) == [
        {"Key": "ssmenv:source-file", "Value": ".env.production"},
        {"Key": "ssmenv:imported-at", "Value": "2024-06-01T12:30:05Z"},
    ]
    # AWS allows letters, digits, spaces and _.:/=+-@ in tag values.
    odd = provenance(Path("my (old) .env#1"), datetime.now(UTC))
    assert odd[0]["Value"] == "my _old_ .env_1"


def test_plan_lines_name_variables_and_targets_never_values(tmp_path):
    source = read(dotenv(tmp_path, f"A={CANARY}\nBB={CANARY}\nC={CANARY}\n"))
    steps = [
        Step("A", "/app/prod/A", State.NEW),
        Step("BB", "/app/prod/BB", State.SAME),
        Step("C", "/app/prod/C", State.DIFFERS, "exists as String"),
    ]
    plan = Plan(source, TO_SSM, steps)
    assert CANARY not in repr(plan) and CANARY not in repr(source)
    assert describe(plan, overwrite=False, done=False) == [
        "  A   /app/prod/A: new, would be created",
        "  BB  /app/prod/BB: exists, same value",
        "  C   /app/prod/C: differs, kept (--overwrite replaces it) (exists as String)",
    ]
    assert describe(plan, overwrite=True, done=True)[2] == (
        "  C   /app/prod/C: replaced (exists as String)"
    )
    assert [s.name for s in plan.conflicts()] == ["C"]
    assert [s.name for s in plan.to_write(overwrite=False)] == ["A"]
    assert [s.name for s in plan.to_write(overwrite=True)] == ["A", "C"]


def test_import_refuses_before_touching_aws(tmp_path, capsys, monkeypatch):
    # No AWS is configured here: a refusal must come before any client is made.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    path = dotenv(tmp_path, f"PORT=1\nA={CANARY}\0\n")
    assert cli.main(["import", str(path), "--ssm-path", "/app/prod"]) == 1
    out = capsys.readouterr()
    assert "refused" in out.out and "PORT:" in out.out and "A: value contains a NUL" in out.out
    assert CANARY not in out.out + out.err


def test_secret_id_and_secret_names_go_together(tmp_path, capsys):
    path = dotenv(tmp_path, "A=1\n")
    assert cli.main(["import", str(path), "--ssm-path", "/p", "--secret-names", "A"]) == 2
    assert "--secret-id and --secret-names go together" in capsys.readouterr().err


def test_a_new_command_is_one_row_in_the_table(capsys):
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--left", required=True)

    def run(args: argparse.Namespace) -> int:
        print(f"parity {args.left}")
        return 3

    commands = (*cli.COMMANDS, cli.Command("compare", "compare", add_arguments, run))
    assert cli.main(["compare", "--left", "staging"], commands=commands) == 3
    assert capsys.readouterr().out == "parity staging\n"
    help_text = cli.build_parser(commands).format_help()
    assert all(name in help_text for name in ("import", "scan", "parity", "compare"))


def test_errors_are_one_line_and_tracebacks_need_debug(tmp_path, capsys):
    missing = str(tmp_path / "absent.env")
    assert cli.main(["import", missing, "--ssm-path", "/p"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ssmenv import: error: ") and err.count("\n") == 1
    with pytest.raises(DotenvImportError):
        cli.main(["--debug", "import", missing, "--ssm-path", "/p"])


# A private key pasted without quotes and a token alone on a line: python-dotenv reads each of
# their lines as a name of its own (a line without "=" is a name with no value). Every line holds
# the marker, so any part of them that reaches the terminal is caught.
LEAK = "CANARYQ7"
UNQUOTED_SECRETS = (
    "GOOD=fine\n"  # 1
    "DEPLOY_KEY=-----BEGIN OPENSSH PRIVATE KEY-----\n"  # 2
    f"b3BlbnNzaC1rZXktdjEAAAAAFAKE{LEAK}AAAAAAAAAAAAAA\n"  # 3: a name, no value
    f"FAKE+{LEAK}/AAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"  # 4: an invalid name, empty value
    f"FAKE{LEAK}AAAAAAAAAAAAAAAAAAAAAAAAAAA==\n"  # 5: a valid name, value "="
    "-----END OPENSSH PRIVATE KEY-----\n"  # 6: dotenv cannot parse it
    f"ghp_FAKE{LEAK}000000000000000000000000\n"  # 7: a token alone: a valid name, no value
    f"dG9rZW4tRkFLRS1{LEAK}==\n"  # 8: a base64 token alone: NAME and "="
    f"c2Vzc2lvbi1GQUtF{LEAK}=\n"  # 9: a base64 token alone: NAME and an empty value
    f"MY-{LEAK}=1\n"  # 10: an invalid name with a value
    f"URL=${{{LEAK} not a name}}/x\n"  # 11: a reference that is not a name, defined nowhere
)


def test_import_prints_no_line_of_an_unquoted_pem_block_or_a_lone_token(tmp_path, capsys):
    path = dotenv(tmp_path, UNQUOTED_SECRETS)
    assert cli.main(["import", str(path), "--ssm-path", "/app/prod", "--dry-run"]) == 1
    out = capsys.readouterr()
    printed = out.out + out.err
    assert LEAK not in printed, printed
    for line in (
        "line 2: DEPLOY_KEY: a PEM block without quotes",
        "line 7: no '='",
        "line 8: nothing but a name and '=' signs",
        "line 9: empty, and SSM cannot store an empty parameter",
        "line 10: name must match [A-Za-z_][A-Za-z0-9_]*",
        "line 11: URL: ${...} defined nowhere",
    ):
        assert line in printed, printed
    # The block's own lines are the block's problem, not lines of their own.
    assert not any(f"line {n}:" in printed for n in (3, 4, 5, 6)), printed


def test_every_message_about_a_line_names_it_by_number(tmp_path):
    source = read(dotenv(tmp_path, "A=1\nBARE\nMY-VAR=x\nPORT=1\n"))
    assert warnings(source, TO_SSM) == [
        "line 2: no '=' in .env; dotenv sets nothing for it, so neither does this "
        "(the line is not shown: it may be a secret)"
    ]
    assert problems(source, TO_SSM) == [
        "line 3: name must match [A-Za-z_][A-Za-z0-9_]*",
        "line 4: PORT: the deploy sets PORT from app_port; leave it out (--exclude PORT)",
    ]
    assert LEAK not in repr(read(dotenv(tmp_path, UNQUOTED_SECRETS)))
