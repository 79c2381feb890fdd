"""The rollout's pace: how many hosts activate at once (a canary, then batches), and its settings.

Settings-layer: the app's settings (``ssmenv.config``) read the group; the push driver's rollout
(``ssmenv.rollout``) goes at this pace, host after host, stopping at the first failure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator

from ssmenv.settings import AtLeast, Setting, Settings, StrictInt, StrictStr


@dataclass(frozen=True)
class Pace:
    """How many hosts activate at once: ``canary`` hosts first, on their own, then ``batch``
    hosts at a time, or ``percent`` of all the rollout's hosts (rounded up)."""

    canary: int = 1
    batch: int | None = None
    percent: int | None = 50

    def wave(self, done: int, total: int) -> int:
        """The size of the next wave once ``done`` of ``total`` hosts have had their turn."""
        if done < self.canary:
            return self.canary - done
        if self.batch is not None:
            return self.batch
        return max(1, -(-(self.percent or 100) * total // 100))

    def waves(self, total: int) -> list[int]:
        """Every wave's size for ``total`` hosts that all become healthy."""
        sizes, done = [], 0
        while done < total:
            size = min(self.wave(done, total), total - done)
            sizes.append(size)
            done += size
        return sizes


def _batch(value: int | str) -> Pace:
    """``rollout_batch``: a number of hosts (also as its digits) or a percentage of them."""
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,6}", value):
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return Pace(batch=value)
    if isinstance(value, str) and re.fullmatch(r"(100|[1-9][0-9]?)%", value):
        return Pace(percent=int(value[:-1]))
    raise ValueError('must be a number of hosts (1 or more) or a percentage ("1%" to "100%")')


@dataclass(frozen=True)
class Fleet:
    """How a fleet rollout through Run Command (``python -m ssmenv fleet rollout``) goes beyond
    its pace: ``max_errors`` after the canary (Run Command's ``MaxErrors``: a number, or a
    percentage such as ``"10%"``) and ``timeout``, the seconds one host's sync may take."""

    max_errors: str = "0"
    timeout: int = 600


def _errors(value: int | str) -> str:
    """``fleet_max_errors``: a number of hosts (0 or more, also as its digits) or a percentage,
    in Run Command's own form (``"3"``, ``"10%"``)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if isinstance(value, str) and re.fullmatch(r"(0|[1-9][0-9]{0,5}|(100|[1-9]?[0-9])%)", value):
        return value
    raise ValueError('must be a number of hosts (0 or more) or a percentage ("0%" to "100%")')


SETTINGS = Settings("Rollout", (
    Setting("rollout_canary", AtLeast(0), 1, "Hosts activated first, on their own, before any "
            "other host: a bad value or release stops the rollout there. `0`: no canary."),
    Setting("rollout_batch", Annotated[StrictInt | StrictStr, AfterValidator(_batch)], "50%",
            "Hosts activated at a time after the canary, in inventory order: a number, or a "
            "percentage of the hosts (`\"25%\"`, rounded up). The rollout stops at the first "
            "host that does not become healthy.", shown_type='integer or percentage (`"25%"`)'),
    Setting("fleet_max_errors", Annotated[StrictInt | StrictStr, AfterValidator(_errors)], 0,
            "In a fleet rollout through Run Command (`python -m ssmenv fleet rollout`), the hosts "
            "after the canary that may fail before Run Command sends the sync to no more "
            "(its `MaxErrors`): a number or a percentage. A host whose agent rolled back stops "
            "the rollout whatever this says.", shown_type='integer or percentage (`"10%"`)'),
    Setting("fleet_timeout", AtLeast(30), 600, "Seconds one host's sync may take in a fleet "
            "rollout (the command document's `timeoutSeconds`); past it the host counts as "
            "timed out and the rollout stops."),
))  # fmt: skip


def pace(canary: int, batch: Pace) -> Pace:
    """The rollout's pace from its two settings (``rollout_batch`` parsed into ``batch``)."""
    return Pace(canary, batch.batch, batch.percent)
