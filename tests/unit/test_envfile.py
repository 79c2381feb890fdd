"""Tests for ssmenv.envfile (encoding, validation, a parser faithful to systemd 252) and for the
env file the deploy renders with them: ``ssmenv.render.env_file``, from ``templates/app.env.j2``."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import jinja2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssmenv import envfile
from ssmenv.envfile import (
    DEFAULT_BUDGET,
    MAX_ARG_STRLEN,
    EnvFileError,
    Problem,
    encode_value,
    parse,
    problems,
)
from ssmenv.errors import SsmEnvError
from ssmenv.render import env_file

CANARY = "FAKE-CANARY-QZXJ"  # obviously fake secret; must never show up in a message
NONCHARACTERS = [chr(c) for c in range(0xFDD0, 0xFDF0)] + [
    chr(plane << 16 | low) for plane in range(17) for low in (0xFFFE, 0xFFFF)
]
SPECIALS = "'\"\\$`#;= \t\n\r\x0b\x7f\u2028é😀"

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]*", fullmatch=True)
values = st.one_of(st.text(), st.text(alphabet=SPECIALS)).filter(lambda v: not problems({"A": v}))
# What the header comment is made of (the app's name and where its values come from): any text,
# NULs, lone surrogates and backslashes before a line break included.
headers = st.one_of(st.text(), st.text(alphabet="\\ \t\r\n\x0b\u2028#x=\0\ud800"))
HEADER = "# app: managed by ssmenv from SSM /app. Do not edit: redeploy.\n"


def render(variables: dict[str, str], header: str = "SSM /app") -> str:
    """The env file the deploy writes for ``variables``, ``header`` as where they come from."""
    return env_file("app", header, variables)


def no_canary(text: str) -> bool:
    return "canary" not in text.lower() and "qzxj" not in text.lower()


# --- encoding, and rendering through the deploy's template ----------------------------------------


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ("", "''"),
        ("abc", "'abc'"),
        ("it's", "'it'\"'\"'s'"),
        ("'", "''\"'\"''"),
        ("a\nb", "'a\nb'"),
    ],
)
def test_encode_value_single_quotes_and_splices_each_quote(value: str, encoded: str) -> None:
    assert encode_value(value) == encoded


@given(values)
def test_encode_then_parse_is_identity_for_every_valid_value(value: str) -> None:
    assert parse(f"A={encode_value(value)}\n") == {"A": value}


@given(st.dictionaries(names, values, max_size=8), headers)
def test_render_then_parse_is_identity_for_every_valid_mapping(
    variables: dict[str, str], header: str
) -> None:
    assert list(parse(render(variables, header)).items()) == list(variables.items())


def test_render_writes_header_comments_then_one_line_per_variable_in_order() -> None:
    text = render({"B": "x y", "A": "it's", "E": ""}, header="SSM\n\n/app")
    assert text == HEADER + "B='x y'\nA='it'\"'\"'s'\nE=''\n"


def test_render_of_nothing_is_the_header_alone() -> None:
    assert render({}) == HEADER


@pytest.mark.parametrize("header", ["x\rA=evil", "x\nA=evil", "x\r\nA=evil", "a\u2028A=evil"])
def test_header_lines_cannot_inject_assignments(header: str) -> None:
    assert parse(render({"B": "1"}, header)) == {"B": "1"}
    assert parse(env_file(header, "SSM /app", {"B": "1"})) == {"B": "1"}


@pytest.mark.parametrize(
    "header", ["ends in backslash\\", "a\\\nb", "a\\ \nb", "a\\\t\rb", "nul\0", "lone \ud800"]
)
def test_headers_that_would_hide_a_line_or_break_the_file_are_made_harmless(header: str) -> None:
    # The comment filter keeps the header one writable line that hides nothing.
    for text in (render({"A": "1"}, header), env_file(header, "SSM /app", {"A": "1"})):
        assert parse(text.encode()) == {"A": "1"}  # encode(): a lone surrogate would raise
        assert text.count("\n") == 2 and "\0" not in text


def test_render_refuses_invalid_variables_listing_every_problem() -> None:
    # The deploy asks problems() for every problem at once (tasks/environment.py) before it
    # renders; the template refuses them too, on its own.
    assert {p.name for p in problems({"1A": "ok", "B": "x\0y"})} == {"1A", "B"}
    for bad in ({"1A": "ok"}, {"B": "x\0y"}):
        with pytest.raises((EnvFileError, jinja2.TemplateError)):
            render(bad)


@pytest.mark.skipif(not (shutil.which("sh") and shutil.which("env")), reason="needs sh and env")
@settings(deadline=None, max_examples=60)
@given(st.dictionaries(names.map("T_".__add__), values, max_size=5))
def test_rendered_file_sourced_by_sh_gives_the_same_values(variables: dict[str, str]) -> None:
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".env") as f:
        f.write(render(variables))
        f.flush()
        script = 'set -a; . "$1"; exec env -0'
        sh = shutil.which("sh") or "sh"
        out = subprocess.run([sh, "-c", script, "sh", f.name], env={}, capture_output=True)
    loaded = dict(e.decode().split("=", 1) for e in out.stdout.split(b"\0") if e)
    assert {k: v for k, v in loaded.items() if k in variables} == variables


# --- validation ----------------------------------------------------------------------------


def test_values_with_nul_are_refused() -> None:
    assert [p.name for p in problems({"A": "x\0y"})] == ["A"]


@pytest.mark.parametrize("name", ["", "1A", "A-B", "A B", "export A", "A=", "É", "A\n", " A"])
def test_invalid_names_are_refused(name: str) -> None:
    assert [p.name for p in problems({name: "v"})] == [name]


@given(names)
def test_valid_names_are_accepted(name: str) -> None:
    assert problems({name: "v"}) == []


def test_lone_surrogates_are_refused() -> None:
    assert [p.name for p in problems({"A": "x\ud800y"})] == ["A"]


@pytest.mark.parametrize("char", NONCHARACTERS, ids=lambda c: f"U+{ord(c):04X}")
def test_noncharacters_are_refused(char: str) -> None:
    assert [p.name for p in problems({"A": f"x{char}y"})] == ["A"]


def test_entry_limit_is_max_arg_strlen_including_the_nul() -> None:
    fits = "x" * (MAX_ARG_STRLEN - len("A=") - 1)
    assert problems({"A": fits}) == []
    assert [p.name for p in problems({"A": fits + "x"})] == ["A"]
    assert [p.name for p in problems({"A": fits[:-1] + "é"})] == ["A"]  # counted in bytes


def test_total_size_budget_counts_every_name_value_and_nul() -> None:
    assert problems({"A": "xx", "B": "yy"}, budget=10) == []  # 5 + 5 bytes
    assert [p.name for p in problems({"A": "xx", "B": "yyy"}, budget=10)] == ["(total)"]
    many = {f"V{i}": "x" * 60000 for i in range(20)}
    assert [p.name for p in problems(many)] == ["(total)"]
    assert DEFAULT_BUDGET == 1024 * 1024


def test_all_problems_are_reported_at_once() -> None:
    found = problems({"1A": "x\0", "B": "\ud800", "C": "\ufffe", "D": "ok", "E": "x" * 200000})
    assert [p.name for p in found] == ["1A", "1A", "B", "C", "E"]
    assert [p.name for p in problems({"1A": "x\0", "B": "y"}, budget=1)] == ["1A", "1A", "(total)"]


def test_the_error_lists_every_problem_one_per_line() -> None:
    error = EnvFileError(problems({"1A": "v", "B": "x\0"}))
    assert str(error).splitlines() == [str(p) for p in error.problems]
    assert all(re.fullmatch(r"(1A|B): .+", line) for line in str(error).splitlines())
    assert isinstance(error, ValueError) and isinstance(error, SsmEnvError)
    assert len(str(EnvFileError(problems({"A\nB": "v", "C\r": "v"}))).splitlines()) == 2
    assert problems({"A": "fine"}) == []  # no problems, nothing to raise


@pytest.mark.parametrize(
    ("version", "value", "refused"),
    [
        (219, "a\\b", True),  # before 241 '\' escapes inside single quotes
        (240, "a\\b", True),
        (241, "a\\b", False),
        (219, 'it\'s "q" $x `y`', False),  # the "'" splice works on old versions too
        (219, "a\tb", False),  # before 238 only TAB is allowed (env_value_is_valid)
        (237, "a\nb", True),
        (238, "a\nb", False),  # 238..247 allow TAB and LF
        (247, "a\rb", True),
        (247, "a\x7fb", True),
        (248, "a\rb\x01", False),  # 248+ allow every control character but NUL
        (None, "a\rb\x01", False),
        (252, "a\0b", True),
    ],
)
def test_old_systemd_versions_refuse_what_they_cannot_carry(
    version: int | None, value: str, refused: bool
) -> None:
    assert bool(problems({"A": value}, version)) is refused


def test_problem_is_frozen_and_prints_as_name_colon_reason() -> None:
    problem = Problem("A", "why")
    assert str(problem) == "A: why"
    with pytest.raises(AttributeError):
        problem.name = "B"  # type: ignore[misc]


def test_problem_messages_never_contain_the_value() -> None:
    bad = {
        "NUL": f"{CANARY}\0",
        "SURROGATE": f"{CANARY}\ud800",
        "NONCHAR": f"{CANARY}\ufffe",
        "HUGE": CANARY * 10000,
        "BACKSLASH": f"{CANARY}\\",
        "CONTROL": f"{CANARY}\r",
        "bad name": CANARY,
    }
    error = EnvFileError(problems(bad, systemd_version=219))
    assert {p.name for p in error.problems} >= set(bad)
    for text in [str(error), repr(error), *map(repr, error.problems)]:
        assert no_canary(text)


@given(
    st.text(),
    st.text(),
    st.sampled_from([None, 219, 237, 238, 240, 241, 247, 248, 252]),
)
def test_no_problem_ever_quotes_any_part_of_the_value(
    before: str, after: str, version: int | None
) -> None:
    for problem in problems({"A": before + CANARY + after}, version, budget=10):
        assert no_canary(str(problem)) and no_canary(repr(problem))


@pytest.mark.parametrize(
    "data", [f"A={CANARY}\xff".encode("latin-1"), f"\xffA={CANARY}".encode("latin-1")]
)
def test_parse_errors_never_contain_the_value(data: bytes) -> None:
    with pytest.raises(EnvFileError) as caught:
        parse(data)
    assert no_canary(str(caught.value))


# --- parsing hand-written files like systemd 252 -------------------------------------------

PARSE_CASES = [
    ('A="x" # c\n', {"A": "x# c"}),  # no inline comments
    ("A=foo # bar\n", {"A": "foo # bar"}),
    ("export A=1\n", {}),  # key would be "export A"
    ("K = v\n", {"K": "v"}),
    ("  A  =  v\n", {"A": "v"}),
    ("A=\"a\"'b'c\n", {"A": "abc"}),  # quoted segments concatenate
    ('A="a"   "b"\n', {"A": "ab"}),
    ("A='a' b  \n", {"A": "ab"}),  # whitespace after a closing quote is dropped
    ('A=a"b"c\n', {"A": 'a"b"c'}),  # quotes only matter at the start or after a quote
    ("A=a 'b'\n", {"A": "a 'b'"}),
    ("A=it's\n", {"A": "it's"}),
    ('A="\\"\\\\\\`\\$"\n', {"A": '"\\`$'}),  # 247+: \" \\ \` \$ are unescaped
    ('A="\\n\\x\\\'"\n', {"A": "\\n\\x\\'"}),  # other backslashes stay
    ('A="a\\\nb"\n', {"A": "ab"}),  # backslash-LF inside "..." is eaten
    ('A="a\\\rb"\n', {"A": "a\\\rb"}),  # but backslash-CR is kept
    ("A='a\\b\\'\n", {"A": "a\\b\\"}),  # single quotes are literal
    ('A="l1\nl2"\n', {"A": "l1\nl2"}),  # raw newlines inside quotes
    ("A='x\ry'\n", {"A": "x\ry"}),
    ("A=\\a\\ b\\#\n", {"A": "a b#"}),  # unquoted \x gives x
    ("A=\\'x'\n", {"A": "'x'"}),
    ("A=one\\\ntwo\n", {"A": "onetwo"}),  # backslash-newline continues the line
    ("A=x  \t \n", {"A": "x"}),  # trailing whitespace trimmed
    ("A=x\\ \n", {"A": "x "}),  # unless escaped
    ("A=x\\  \n", {"A": "x "}),
    ("A=1\rB=2\n", {"A": "1", "B": "2"}),  # bare CR ends a line
    ("A=1\r\nB=2\r\n", {"A": "1", "B": "2"}),
    ("A='abc\nB=2\n", {"A": "abc\nB=2\n"}),  # unterminated quote swallows the rest
    ('A="abc\nB=2', {"A": "abc\nB=2"}),
    ("# A=1\n; B=2\n  # C=3\nD=4", {"D": "4"}),
    ("# hides the next line \\\nA=1\nB=2\n", {"B": "2"}),  # systemd <= 253
    ("# even with CRLF \\\r\nA=1\n", {"A": "1"}),  # the CR is what gets escaped
    ("# escaped backslash \\\\\nA=1\n", {"A": "1"}),
    ("A=b=c\n", {"A": "b=c"}),
    ("A=\nB=\nC", {"A": "", "B": ""}),  # a line without '=' is dropped
    ("A=''\nB=\"\"", {"A": "", "B": ""}),
    ("A=1", {"A": "1"}),  # no final newline
    ("A=1  ", {"A": "1"}),
    ("A=\\", {"A": ""}),
    ("A B=1\n1A=2\n=3\n==4\nÄ=5\n", {}),  # invalid names dropped
    ("\ufeffA=1\nB=2", {"B": "2"}),  # a BOM becomes part of the first key
    ("A=1\nB=2\nA=3\n", {"A": "3", "B": "2"}),  # later duplicates win
    ("", {}),
]


@pytest.mark.parametrize(("text", "expected"), PARSE_CASES, ids=[repr(t) for t, _ in PARSE_CASES])
def test_parse_agrees_with_systemd_252(text: str, expected: dict[str, str]) -> None:
    assert parse(text) == expected
    assert parse(text.encode()) == expected


def test_later_duplicates_replace_earlier_ones_in_place() -> None:
    assert list(parse("A=1\nB=2\nA=3\n")) == ["A", "B"]


@pytest.mark.parametrize(
    "data",
    [
        b"A=\xff\n",  # invalid UTF-8 value
        b"A='x\xc3'\n",  # truncated sequence
        b"A=\xc0\xafx\n",  # overlong encoding
        b"A=\xed\xa0\x80\n",  # encoded surrogate
        b"\xff=1\n",  # invalid UTF-8 key, even though the name is invalid anyway
        "A=x\ufffe\n".encode(),  # noncharacter
        "A=\U0010ffff".encode(),
        b"A=1\nB=2\x00\n",  # NUL anywhere
        b"# comment \x00\n",
    ],
)
def test_parse_refuses_files_systemd_refuses_whole(data: bytes) -> None:
    with pytest.raises(EnvFileError):
        parse(data)


def test_parse_refuses_lone_surrogates_in_str_input() -> None:
    with pytest.raises(EnvFileError):
        parse("A=\ud800\n")


@pytest.mark.parametrize("data", [b"# \xff\nA=1\n", b"\xff\nA=1\n", b"junk \xfe line\nA=1"])
def test_parse_checks_utf8_only_in_keys_and_values(data: bytes) -> None:
    assert parse(data) == {"A": "1"}


# --- differential test against the real systemd 252 parser, where installed ----------------

GENERATOR = "/usr/lib/systemd/user-environment-generators/30-systemd-environment-d-generator"
NAME = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")
C_ESCAPES = dict(zip(b"abfnrtv", b"\a\b\f\n\r\t\v", strict=True))
FRAGMENTS = [*"AB_= \t\n\r'\"\\#;xé`\x01\x0b\x7f\x85\u2028😀", "A=", "B=", "\\\n", "\\\r"]


def _unquote_generator_value(value: bytes) -> bytes:
    """Undo the generator's shell_maybe_quote(): "..." with \\-escapes and C escapes."""
    if not value.startswith(b'"'):
        return value
    body, out, i = value[1:-1], bytearray(), 0
    while i < len(body):
        if body[i] != ord("\\"):
            out.append(body[i])
            i += 1
        elif body[i + 1] in b"01234567":
            out.append(int(body[i + 1 : i + 4], 8))
            i += 4
        else:
            out.append(C_ESCAPES.get(body[i + 1], body[i + 1]))
            i += 2
    return bytes(out)


def _systemd_environment_d(data: bytes) -> dict[str, str]:
    """Load ``data`` with systemd's environment.d generator (same parse_env_file_internal)."""
    with tempfile.TemporaryDirectory() as home:
        (Path(home) / "environment.d").mkdir()
        (Path(home) / "environment.d" / "t.conf").write_bytes(data)
        env = {"XDG_CONFIG_HOME": home, "HOME": home}
        out = subprocess.run([GENERATOR], env=env, capture_output=True, check=True).stdout
    pairs = (line.partition(b"=") for line in out.splitlines())
    return {k.decode(): _unquote_generator_value(v).decode() for k, _, v in pairs}


def _merge_env_file_model(data: bytes) -> dict[str, str]:
    """What merge_env_file() keeps from our scan: it skips NULL values and invalid names."""
    return {
        key.decode(): value.decode()
        for key, value in envfile._scan(data)
        if value is not None and NAME.fullmatch(key)
    }


# Each example runs a process: no per-example deadline (a loaded machine is not a bug), fewer runs.
SUBPROCESS = settings(deadline=None, max_examples=60)
needs_systemd = pytest.mark.skipif(not os.access(GENERATOR, os.X_OK), reason="no systemd here")


@needs_systemd
@SUBPROCESS
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join))
def test_scanner_agrees_with_the_installed_systemd_on_random_files(text: str) -> None:
    # '$' is left out: merge_env_file() expands variables, load_env_file() does not.
    loaded = _systemd_environment_d(text.encode())
    baseline = _systemd_environment_d(b"")  # from /etc/environment.d and friends
    ours = _merge_env_file_model(text.encode())
    assert {k: v for k, v in loaded.items() if k not in baseline} == ours


@needs_systemd
@SUBPROCESS
@given(
    st.dictionaries(names.map("T_".__add__), values.filter(lambda v: v and "$" not in v)),
    headers,
)
def test_rendered_files_load_in_the_installed_systemd_as_intended(
    variables: dict[str, str], header: str
) -> None:
    loaded = _systemd_environment_d(render(variables, header).encode())
    assert {k: v for k, v in loaded.items() if k.startswith("T_")} == variables
