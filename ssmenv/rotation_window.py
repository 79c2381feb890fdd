"""Whether a secret that Secrets Manager rotates by itself rotates faster than its hosts take up
a new version: a pure decision, from the secret's ``RotationRules`` (``DescribeSecret``), the
hosts' sync period and a rollout's expected time.

With alternating users, a rotation sets a new password on the role not in use and makes it
``AWSCURRENT``; the role the hosts still use keeps its password until the *next* rotation, which
changes it. So a host has one rotation interval to take up each new version: if its sync period
plus a rollout is longer, the next rotation changes the password it still runs with, and its new
connections fail until it syncs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_RATE = re.compile(r"rate\(\s*([0-9]{1,6})\s+(minute|minutes|hour|hours|day|days)\s*\)")
_RATE_UNITS = {"minute": 60, "hour": 3600, "day": 86400}


def interval(rules: Mapping[str, Any] | None) -> int | None:
    """The rotation interval in seconds: ``ScheduleExpression``'s ``rate(N unit)``, else
    ``AutomaticallyAfterDays``; ``None`` when neither says (a ``cron(...)`` alone, no rules)."""
    rules = rules or {}
    expression = rules.get("ScheduleExpression")
    if isinstance(expression, str) and (rate := _RATE.fullmatch(expression.strip())):
        return int(rate.group(1)) * _RATE_UNITS[rate.group(2).rstrip("s")]
    days = rules.get("AutomaticallyAfterDays")
    if isinstance(days, int) and not isinstance(days, bool) and days > 0:
        return days * 86400
    return None


def span(seconds: int) -> str:
    """``90061`` -> ``1d 1h 1min 1s``, as systemd writes a time span; ``0`` -> ``0s``."""
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return " ".join(parts) or "0s"


def warning(secret: str, every: int | None, sync: int, rollout: int) -> str | None:
    """One line when hosts that sync every ``sync`` seconds, then take ``rollout`` seconds to
    roll a version out, are slower than a rotation every ``every`` seconds; ``None`` otherwise
    (or when the interval is not known)."""
    if every is None or sync + rollout <= every:
        return None
    return (f"warning: secret {secret} rotates every {span(every)}, but its hosts take up to "
            f"{span(sync)} (sync period) + {span(rollout)} (a rollout) to take up a new version: "
            "the next rotation would change the previous role's password before every host "
            "has the new one")
