"""Masking secret values in text a host says back (its journal), in the forms apps print them."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from urllib.parse import quote, quote_plus

#: Shorter pieces are left alone: masking every "ab" would mangle everything else.
MIN_LENGTH = 3


def forms(value: str) -> Iterator[str]:
    """``value`` as an app may print it: as is, JSON-escaped (a logger's structured output) and
    URL-encoded (inside a connection string or a query), each line of a multi-line one too."""
    for form in (value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1],
                 quote(value, safe=""), quote(value), quote_plus(value)):  # fmt: skip
        yield form
        yield from form.splitlines()


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret value, in each of its ``forms``, replaced by ``***``."""
    pieces = {p for s in secrets for p in forms(s) if len(p.strip()) >= MIN_LENGTH}
    for piece in sorted(pieces, key=len, reverse=True):
        text = text.replace(piece, "***")
    return text
