"""Journald's retention on an app host: bounded, so a chatty app cannot fill the disk."""

from __future__ import annotations

from ssmenv.settings import Matching, Setting, Settings

DROPIN = "/etc/systemd/journald.conf.d/50-ssmenv.conf"

SETTINGS = Settings("Journald", (
    Setting("journald_max_use", Matching(r"[0-9]+(\.[0-9]+)?[KMGTPE]?", "a size such as 500M"),
            "500M", "Journald's `SystemMaxUse=` on the host: disk the journal may take."),
    Setting("journald_max_retention",
            Matching(r"[0-9]+ ?[a-z]*( [0-9]+ ?[a-z]*)*", "a time span such as 1month or 2w"),
            "1month", "Journald's `MaxRetentionSec=`: how long entries are kept."),
))  # fmt: skip


def dropin(max_use: str, max_retention: str) -> str:
    """The drop-in file's content."""
    return (
        "# Managed by ssmenv. Do not edit: redeploy.\n"
        "[Journal]\n"
        f"SystemMaxUse={max_use}\n"
        f"MaxRetentionSec={max_retention}\n"
    )
