"""How long a rotation takes on 500 or 5,000 instances, computed from what ``bench.fleet``
measured on its hosts and AWS's published limits; which limit binds. Pure: docs/fleet.md's
"Scale" section is made from it (``python -m bench.scale``: from the kept figures).

The model of ``python -m ssmenv fleet rollout`` (``ssmenv.plan.fleet.waves``): a canary command,
then commands of at most 50 instance ids each (``SendCommand``'s limit), one after the other, each
sent once the one before is done. Within a command Run Command runs ``MaxConcurrency`` hosts at
a time (``rollout_batch``): a round. A round lasts one host's sync (``sync``: a rotation with its
restart and health check), plus the spread of its start (``pull_start_jitter``, all of it: the
round ends with its last host), or, when Parameter Store's throughput is smaller than the round's
calls over that spread, the time the calls take at that throughput. Each command adds the measured
overhead (``per_command``: sending, polling every ``--poll`` seconds until every host said, the
command line's own start). Parameter Store's floor: every host's ``calls`` at ``tps``, whatever
the concurrency.

The timer alone (``pull_period``, ``pull_jitter``): every host syncs within a period plus its
jitter and a sync; at rest the fleet calls Parameter Store ``instances * calls`` every period.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

#: AWS's published limits (docs/fleet.md names the pages): ``SendCommand``'s instance ids, and
#: Parameter Store's default throughput for Get calls (account and region).
MAX_INSTANCE_IDS = 50
DEFAULT_TPS = 40.0


@dataclass(frozen=True)
class Measured:
    """The per-host figures a rotation's estimate is made from.

    + sync: seconds one host's sync takes with a rotation (restart and health check in)
    + calls: Parameter Store calls per host per sync
    + per_command: seconds each Run Command command adds beyond its hosts' syncs
    """

    sync: float
    calls: float
    per_command: float


@dataclass(frozen=True)
class Estimate:
    """A fleet rollout's time and what bounds it."""

    instances: int
    commands: int
    rounds: int
    seconds: float
    throttled: float  # of which: rounds waiting for Parameter Store's throughput
    floor: float  # Parameter Store's: every host's calls at its throughput, whatever the pace
    binds: str  # "the sequence of commands" or "Parameter Store"
    peak_tps: float  # calls a second at the start of a round


def concurrency(batch: int | str, hosts: int) -> int:
    """``rollout_batch`` (hosts, or a percentage of a command's) as hosts at once."""
    if isinstance(batch, str) and batch.endswith("%"):
        return max(1, math.ceil(int(batch[:-1]) * hosts / 100))
    return max(1, int(batch))


def fleet_rollout(instances: int, measured: Measured, *, canary: int = 1,
                  batch: int | str = 50, jitter: float = 0.0,
                  tps: float = DEFAULT_TPS) -> Estimate:  # fmt: skip
    """A rotation of ``instances`` by ``fleet rollout``: a canary, then 50 ids a command, one
    command after the other. A round's calls, spread over ``jitter``, beyond Parameter Store's
    throughput make the round last as long as they take at ``tps``: Parameter Store binds when
    that waiting is more than a tenth of the rollout."""
    sizes = [min(canary, instances)] if canary else []
    rest = instances - sum(sizes)
    sizes += [min(MAX_INSTANCE_IDS, rest - start) for start in range(0, rest, MAX_INSTANCE_IDS)]
    seconds, throttled, rounds, peak = 0.0, 0.0, 0, 0.0
    for index, size in enumerate(sizes):
        at_once = size if (canary and index == 0) else min(size, concurrency(batch, size))
        for start in range(0, size, at_once):
            calls = min(at_once, size - start) * measured.calls
            seconds += measured.sync + max(jitter, calls / tps)
            throttled += max(0.0, calls / tps - jitter)
            peak = max(peak, min(tps, calls / max(jitter, 1.0)))
            rounds += 1
        seconds += measured.per_command
    floor = instances * measured.calls / tps
    binds = "Parameter Store" if throttled > 0.1 * seconds else "the sequence of commands"
    return Estimate(instances, len(sizes), rounds, round(seconds, 1), round(throttled, 1),
                    round(floor, 1), binds, round(peak, 1))  # fmt: skip


@dataclass(frozen=True)
class Timer:
    """The timer alone: the time until every host took a rotation, and the rate at rest."""

    instances: int
    seconds: float  # at most: a period, its jitter and a sync
    tps: float  # Parameter Store calls a second, all the time
    share: float  # of the throughput


def timer(instances: int, measured: Measured, period: float, jitter: float,
          tps: float = DEFAULT_TPS) -> Timer:  # fmt: skip
    """Every host's timer: a sync every ``period`` (+ up to ``jitter``) after the last ended."""
    rate = instances * measured.calls / (period + jitter / 2 + measured.sync)
    return Timer(instances, round(period + jitter + measured.sync, 1), round(rate, 1),
                 round(rate / tps, 3))  # fmt: skip


def lines(measured: Measured, sizes: tuple[int, ...] = (500, 5000), *, batch: int | str = 50,
          jitter: float = 3.0, period: float = 3600.0, period_jitter: float = 600.0,
          tps: float = DEFAULT_TPS) -> list[str]:  # fmt: skip
    """The estimates, one line each, as the bench prints them and docs/fleet.md shows them."""
    found = [f"from: a rotation's sync {measured.sync:.1f} s a host, Parameter Store calls a "
             f"host a sync {measured.calls:g}, {measured.per_command:.1f} s a command beyond "
             f"its syncs; {MAX_INSTANCE_IDS} ids a command, {tps:g} Get calls a second"]
    for n in sizes:
        e = fleet_rollout(n, measured, batch=batch, jitter=jitter, tps=tps)
        found.append(f"{n:,} instances, fleet rollout (canary 1, rollout_batch {batch}, "
                     f"pull_start_jitter {jitter:g}s): {e.commands} commands, {e.rounds} rounds, "
                     f"{_span(e.seconds)} ({_span(e.throttled)} of it waiting for Parameter "
                     f"Store); binds: {e.binds}; peak {e.peak_tps:g} calls a second; "
                     f"Parameter Store's floor, at any pace: {_span(e.floor)}")
    for n in sizes:
        t = timer(n, measured, period, period_jitter, tps)
        found.append(f"{n:,} instances, the timer alone (pull_period {_span(period)}, "
                     f"pull_jitter {_span(period_jitter)}): every host within {_span(t.seconds)}; "
                     f"{t.tps:g} calls a second at rest ({t.share:.1%} of {tps:g})")
    return found


def _span(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def kept(path: Path) -> Measured:
    """The per-host figures of a kept ``bench.fleet`` run (bench/results/fleet.json)."""
    return Measured(**json.loads(path.read_text())["scale"])


if __name__ == "__main__":
    where = Path(sys.argv[1]) if sys.argv[1:] else Path(__file__).parent / "results" / "fleet.json"
    print("\n".join(f"- {line}" for line in lines(kept(where))))
