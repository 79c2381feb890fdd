"""What a sync says in its exit status, for whoever runs it (a person, systemd, a fleet rollout
through Run Command): one status each, and its word in the last line the agent prints."""

from __future__ import annotations

#: Nothing to do: the host runs what the description and AWS say.
UNCHANGED = 0
#: The sync could not be done (AWS not reached, the description or the host's state not read);
#: nothing changed.
ERROR = 1
#: Switched (release, configuration, units, or the manifest alone), and healthy.
CHANGED = 2
#: Refused before anything changed: the description or the values are not valid (the contract,
#: a release that is not its digest), or the host stands in the way (a link, a missing package).
REFUSED = 3
#: The new version failed its health check: the previous one is back and healthy.
ROLLED_BACK = 4
#: The new version failed and the previous one is not healthy either (or there was none).
BROKEN = 5
#: Another sync or deploy of the app holds its lock on the host: try again later.
LOCKED = 75

WORDS = {UNCHANGED: "unchanged", ERROR: "error", CHANGED: "changed", REFUSED: "refused",
         ROLLED_BACK: "rolled back", BROKEN: "broken", LOCKED: "locked"}  # fmt: skip
