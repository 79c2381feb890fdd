"""Validate, encode and parse systemd ``EnvironmentFile=`` files.

The parser mirrors systemd 252's ``load_env_file`` (``parse_env_file_internal`` in
``src/basic/env-file.c`` plus the push and ``strv_env_clean`` steps PID 1 runs after it), so a
rendered file (``ssmenv.render.env_file``, the one renderer) can be parsed back and compared with
the intended values before it is installed. Values are written in single quotes, which systemd
>= 241 and ``sh`` both take literally.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from ssmenv.errors import EnvFileError, Problem
from ssmenv.names import is_variable

#: Kernel limit for one ``NAME=VALUE`` string including its NUL; beyond it exec fails (203/EXEC).
MAX_ARG_STRLEN = 131072
#: Default budget for all ``NAME=VALUE\0`` together: half of the usual 2 MiB ARG_MAX, leaving
#: room for argv and the variables systemd adds itself.
DEFAULT_BUDGET = 1024 * 1024

# sysconf(_SC_ARG_MAX) on a default 8 MiB stack; systemd drops longer assignments as invalid.
_ARG_MAX = 2 * 1024 * 1024

# systemd's unichar_is_valid() rejects these, and with them the whole file.
_PLANE_ENDS = "".join(chr(plane << 16 | 0xFFFE) + chr(plane << 16 | 0xFFFF) for plane in range(17))
_NONCHARACTER = re.compile(f"[\ufdd0-\ufdef{_PLANE_ENDS}]")
# Control characters as systemd's char_is_cc() sees them; NUL is reported on its own.
_CC_BUT_TAB = re.compile("[\x01-\x08\x0a-\x1f\x7f]")  # systemd < 238 allows TAB only
_CC_BUT_TAB_LF = re.compile("[\x01-\x08\x0b-\x1f\x7f]")  # systemd 238..247 allow TAB and LF


def _value_reasons(value: str, systemd_version: int | None) -> Iterator[str]:
    """Yield why ``value`` cannot be carried exactly; reasons never quote the value."""
    if "\0" in value:
        yield "value contains a NUL character, which no environment can carry"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        yield "value is not valid UTF-8 text (it contains a lone surrogate)"
    if _NONCHARACTER.search(value):
        yield "value contains a Unicode noncharacter, which makes systemd refuse the file"
    if systemd_version is None:
        return
    old = f"systemd {systemd_version}"
    if systemd_version < 241 and "\\" in value:
        # Before 241 a backslash inside '...' escapes the next character (and eats a newline).
        # Other shell-special characters are fine: our only double-quoted segment is "'".
        yield f"value contains a backslash, which {old} unescapes inside single quotes"
    cc, allowed = (_CC_BUT_TAB, "TAB") if systemd_version < 238 else (_CC_BUT_TAB_LF, "TAB, LF")
    if systemd_version < 248 and cc.search(value):
        yield f"value has control characters other than {allowed}, which {old} refuses"


def problems(
    variables: Mapping[str, str],
    systemd_version: int | None = None,
    *,
    budget: int = DEFAULT_BUDGET,
) -> list[Problem]:
    """Return every reason ``variables`` cannot be written exactly, all at once.

    ``systemd_version=None`` means a current systemd (>= 248, e.g. 252), where only NUL,
    invalid UTF-8 and noncharacters are refused. Sizes are counted in UTF-8 bytes.
    """
    found: list[Problem] = []
    total = 0
    for name, value in variables.items():
        if not is_variable(name):
            found.append(Problem(name, "name must match [A-Za-z_][A-Za-z0-9_]*"))
        found.extend(Problem(name, reason) for reason in _value_reasons(value, systemd_version))
        # surrogatepass: count lone surrogates instead of failing; they are reported above.
        size = len(f"{name}={value}".encode("utf-8", "surrogatepass")) + 1
        total += size
        if size > MAX_ARG_STRLEN:
            found.append(Problem(name, f"NAME=VALUE\\0 is {size} bytes, over {MAX_ARG_STRLEN}"))
    if total > budget:
        reason = f"all NAME=VALUE take {total} bytes, over the budget of {budget}"
        found.append(Problem("(total)", reason))
    return found


def encode_value(value: str) -> str:
    """Quote ``value`` for an env file: ``'...'`` with each ``'`` written as ``'"'"'``.

    Adjacent quoted segments concatenate both in systemd and in ``sh``, and inside single quotes
    systemd >= 241 takes every other character literally, newlines included.
    """
    return "'" + value.replace("'", "'\"'\"'") + "'"


# Parser states, named as in env-file.c; all but the first four end in an assignment at EOF.
(_PRE_KEY, _KEY, _COMMENT, _COMMENT_ESCAPE, _PRE_VALUE, _VALUE, _VALUE_ESCAPE, _SQ_VALUE,
 _DQ_VALUE, _DQ_VALUE_ESCAPE) = range(10)  # fmt: skip
_WHITESPACE, _NEWLINE, _COMMENTS = b" \t\n\r", b"\n\r", b"#;"
_SHELL_NEED_ESCAPE = b'"\\`$'  # unescaped inside "..." since systemd 247
_BS, _SQ, _DQ, _EQ = b"\\'\"="


def _trailing_ws(start: int | None, buf: bytearray, c: int) -> int | None:
    """Return where the whitespace at the end of ``buf`` + ``c`` starts (None: no such run)."""
    return None if c not in _WHITESPACE else len(buf) if start is None else start


def _scan(data: bytes) -> Iterator[tuple[bytes, bytes | None]]:
    """Yield the raw (key, value) pairs systemd 252's state machine pushes, in file order.

    The value is None where C pushes NULL (nothing was appended, as in ``A=`` or ``A=''``);
    load_env_file() treats that as empty, other callers such as merge_env_file() skip it.
    """
    state = _PRE_KEY
    key, value = bytearray(), bytearray()
    key_ws: int | None = None  # where trailing whitespace of the key starts
    value_ws: int | None = None  # same for an unquoted value

    def pushed() -> tuple[bytes, bytes | None]:
        k = bytes(key[:key_ws] if key_ws is not None else key)
        trim = state == _VALUE and value_ws is not None  # only unquoted tails are trimmed
        return k, (bytes(value[:value_ws] if trim else value) if value else None)

    i, n = 0, len(data)
    while i < n:
        c = data[i]
        i += 1
        if state == _PRE_KEY:
            if c in _COMMENTS:
                state = _COMMENT
            elif c not in _WHITESPACE:  # anything else starts a key, even '=' or a quote
                state, key_ws = _KEY, None
                key[:] = bytes((c,))
        elif state == _KEY:
            if c in _NEWLINE:  # a line without '=' is dropped silently
                state = _PRE_KEY
            elif c == _EQ:
                state, value_ws = _PRE_VALUE, None
            else:
                key_ws = _trailing_ws(key_ws, key, c)
                key.append(c)
        elif state in (_PRE_VALUE, _VALUE) and c in _NEWLINE:  # a bare CR ends the line too
            yield pushed()
            state = _PRE_KEY
            value.clear()
        elif state == _PRE_VALUE:  # start of value, or right after a closing quote
            if c == _SQ:
                state = _SQ_VALUE
            elif c == _DQ:
                state = _DQ_VALUE
            elif c == _BS:
                state = _VALUE_ESCAPE
            elif c not in _WHITESPACE:  # whitespace between segments is skipped
                state = _VALUE
                value.append(c)
        elif state == _VALUE:  # unquoted: quotes are plain characters from here on
            if c == _BS:
                state, value_ws = _VALUE_ESCAPE, None
            else:
                value_ws = _trailing_ws(value_ws, value, c)
                value.append(c)
        elif state == _VALUE_ESCAPE:
            state = _VALUE
            if c not in _NEWLINE:  # backslash-newline (or -CR) continues the line
                value.append(c)
        elif state == _SQ_VALUE:  # all literal up to the next quote; fast path for our output
            end = data.find(b"'", i - 1)
            if end < 0:  # unterminated: the rest of the file is the value
                value += data[i - 1 :]
                i = n
            else:
                value += data[i - 1 : end]
                i, state = end + 1, _PRE_VALUE
        elif state == _DQ_VALUE:
            if c == _DQ:
                state = _PRE_VALUE
            elif c == _BS:
                state = _DQ_VALUE_ESCAPE
            else:
                value.append(c)
        elif state == _DQ_VALUE_ESCAPE:
            state = _DQ_VALUE
            if c in _SHELL_NEED_ESCAPE:
                value.append(c)
            elif c != ord("\n"):  # other backslashes stay, as in sh; only LF (not CR) is eaten
                value += bytes((_BS, c))
        elif state == _COMMENT:
            if c == _BS:
                state = _COMMENT_ESCAPE
            elif c in _NEWLINE:
                state = _PRE_KEY
        else:  # _COMMENT_ESCAPE: up to systemd 253 this swallows even a newline
            state = _COMMENT
    if state >= _PRE_VALUE:  # end of file completes the last assignment
        yield pushed()


def _decode(raw: bytes, what: str, key: bytes) -> str:
    """Decode as systemd's utf8_is_valid() accepts it (no noncharacters), or fail the file."""
    # Invalid bytes decode to U+FFFD, so re-encoding differs exactly when raw is not UTF-8.
    text = raw.decode("utf-8", "replace")
    if text.encode() != raw or _NONCHARACTER.search(text):
        # Name the key only (escaped); the value must never reach a message.
        reason = f"invalid UTF-8 or a noncharacter in the {what}; systemd refuses the file"
        raise EnvFileError([Problem(key.decode("utf-8", "backslashreplace"), reason)])
    return text


def parse(text: str | bytes) -> dict[str, str]:
    """Return the variables systemd 252 would load from an env file, in first-seen order.

    Assignments with invalid names (``export A=1``, ``A B=1``, a BOM-prefixed first key) are
    dropped, as systemd drops them (after logging the line, value included, to the journal);
    they are not returned. A later assignment replaces an earlier one in place. Raises
    :class:`EnvFileError` where systemd refuses the whole file: a NUL byte anywhere, or invalid
    UTF-8/a noncharacter in any pushed key or value (comments and lines without ``=`` are never
    checked). A ``str`` is encoded as UTF-8, lone surrogates included.
    """
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    if b"\0" in data:  # read_full_file() refuses embedded NULs
        raise EnvFileError([Problem("(file)", "file has a NUL byte; systemd refuses it")])
    loaded: dict[str, str | None] = {}
    for key, raw in _scan(data):
        value = raw or b""  # load_env_file() joins a NULL value as empty
        name, decoded = _decode(key, "key", key), _decode(value, "value", key)
        # env_assignment_is_valid() drops oversized assignments only after the replace, so an
        # oversized later value removes an earlier valid one too.
        loaded[name] = decoded if len(key) + 1 + len(value) <= _ARG_MAX - 1 else None
    return {k: v for k, v in loaded.items() if v is not None and is_variable(k)}
