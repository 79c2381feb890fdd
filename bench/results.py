"""What ``bench.deploy`` measured, kept: one JSON file per run (``bench/results/deploy.json``, the
latest), from which the table in docs/performance.md and the plot (``bench.plot``) are made.

A file holds when and where it was measured (date, commit, CPUs, the load at the start, the
command) and one row per number of hosts and scenario, as the table shows it: timed runs, median,
min and max wall seconds, the ratio to the plain pyinfra peer's same row, remote commands per host
and SSM API calls per run. ``render`` gives back the bench's markdown table, byte for byte, so the
docs' table is generated from the file (``python -m bench.results``; a test fails when they
differ) as the settings tables are from the code.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

#: The latest figures, committed with the date and commit they measured.
LATEST = Path(__file__).resolve().parent / "results" / "deploy.json"

HEADER = (
    "| hosts | runs | what | wall seconds: median (min–max) | ratio to the peer "
    "| remote commands per host | SSM API calls per run |\n"
    "| ---: | ---: | --- | ---: | ---: | ---: | --- |"
)


@dataclass(frozen=True)
class Row:
    """One number of hosts and one scenario (``bench.deploy``'s keys: ``first``, ``peer_noop``...).

    ``median``, ``low`` and ``high`` are None for a scenario that was not run (``not_run`` says
    why); ``ratio``, ``commands`` and ``calls`` are as the table shows them (an en dash for none).
    """

    hosts: int
    scenario: str
    what: str
    runs: int
    median: float | None
    low: float | None
    high: float | None
    ratio: str = "–"
    commands: str = "–"
    calls: str = "–"
    not_run: str = ""

    def seconds(self) -> str:
        if self.median is None:
            return f"not run: {self.not_run or 'no figure'}"
        if self.runs == 1:
            return f"{self.median:.2f}"
        return f"{self.median:.2f} ({self.low:.2f}–{self.high:.2f})"


@dataclass(frozen=True)
class Results:
    """One run of the benchmark: where and when, and its rows."""

    date: str  # UTC, YYYY-MM-DD
    commit: str  # git describe of the measured work tree
    cpus: int
    load: float  # the load average at the start
    command: str
    rows: tuple[Row, ...]

    def median(self, hosts: int, scenario: str) -> float | None:
        return next((r.median for r in self.rows if (r.hosts, r.scenario) == (hosts, scenario)),
                    None)  # fmt: skip

    def hosts(self) -> list[int]:
        return sorted({r.hosts for r in self.rows})


def render(rows: tuple[Row, ...] | list[Row]) -> str:
    """The bench's markdown table."""
    lines = [HEADER]
    for r in rows:
        lines.append(f"| {r.hosts} | {r.runs} | {r.what} | {r.seconds()} | {r.ratio} "
                     f"| {r.commands} | {r.calls} |")  # fmt: skip
    return "\n".join(lines)


def dump(results: Results, path: Path = LATEST) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(results), indent=1, ensure_ascii=False) + "\n")


def load(path: Path = LATEST) -> Results:
    data = json.loads(path.read_text())
    rows = tuple(Row(**row) for row in data.pop("rows"))
    return Results(**data, rows=rows)


if __name__ == "__main__":
    print(render(load(Path(sys.argv[1]) if sys.argv[1:] else LATEST).rows))
