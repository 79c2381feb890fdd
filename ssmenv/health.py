"""The health check: its settings, and a unit with the check that tells it is healthy.

Settings-layer: the app's settings (``ssmenv.config``) read the group, the manifest records each
unit's check (``ssmenv.manifest``), the plan hands the units to the activation
(``ssmenv.activation``), which checks them on the host.
"""

from __future__ import annotations

from dataclasses import dataclass

from ssmenv.settings import AtLeast, Matching, Setting, Settings

SETTINGS = Settings("Health check", (
    Setting("health_path", Matching(r"(/[!-~]*)?", "empty, or a path starting with / (printable, "
                                    "no spaces)"), "/healthz",
            "Path answered with 2xx once the app is up; empty to skip the check after a "
            "restart."),
    Setting("health_timeout", AtLeast(1), 30, "Seconds a restarted app has to become healthy."),
    Setting("health_settle", AtLeast(0), 2, "Seconds a healthy app must then stay up (same "
            "process, still active) before the host counts as done."),
))  # fmt: skip


@dataclass(frozen=True)
class Unit:
    """A unit an activation runs, and how to tell it is healthy: ``path`` answering 2xx on
    ``port`` within ``timeout`` seconds of its start, then ``settle`` seconds as the same process;
    ``port`` 0 or no ``path``: active is healthy. A target is started and has no health of its
    own."""

    name: str
    port: int = 0
    path: str = ""
    timeout: int = 30
    settle: int = 0

    def line(self, kind: str) -> str:
        return f"{kind} {self.name} {self.port} {self.timeout} {self.settle} {self.path}".rstrip()

    @classmethod
    def parse(cls, words: str) -> Unit | None:
        parts = words.split(" ")
        if len(parts) < 4 or not all(p.isdigit() for p in parts[1:4]):
            return None
        return cls(parts[0], int(parts[1]), " ".join(parts[4:]), int(parts[2]), int(parts[3]))
