"""Variable names, and how a name or text that came from outside is shown in a message.

A name reaches an env file line, a unit line (``LoadCredentialEncrypted=NAME:...``,
``Environment=NAME_FILE=...``), a container's command line and the output; whatever source it
comes from (an SSM parameter's last component, a Secrets Manager key, host data), it is checked
here before any host is touched. A name that is not one is never printed as it is: a newline in
it would forge an output line (``shown``), and no message line may split (``one_line``).
"""

from __future__ import annotations

import re
from typing import Any

from ssmenv.settings import Matching

#: What systemd (``env_name_is_valid``), the shells and every runtime take for a variable name.
PATTERN = r"[A-Za-z_][A-Za-z0-9_]*"
#: ``PATTERN`` in words, for messages and the docs.
RULE = "letters, digits and _, not starting with a digit"
_VARIABLE = re.compile(PATTERN)
#: A setting's value (or a key of one) that is a variable name.
VariableName: Any = Matching(PATTERN, f"a variable name ({RULE})")


def is_variable(name: object) -> bool:
    """Whether ``name`` is a variable name (``[A-Za-z_][A-Za-z0-9_]*``)."""
    return isinstance(name, str) and _VARIABLE.fullmatch(name) is not None


def shown(text: str) -> str:
    """``text`` (a name, a key) for a message: as it is when it is one word of printable text,
    else quoted and escaped (``'A\\nB'``, ``'a b'``, ``''``), so it stays on the message's line
    and cannot pass for part of the message."""
    plain = bool(text) and text.isprintable() and " " not in text
    return text if plain else repr(text)


def one_line(text: str) -> str:
    """``text`` (a message) with each character that is not printable escaped (a newline as
    ``\\n``, an escape sequence as ``\\x1b``): one line, and nothing that a terminal acts on."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
