"""What a pyinfra run changed, read from the results table the CLI prints at the end."""

from __future__ import annotations

import re

# One row of the table: operation, hosts, success (changed), error, no change ("-" for none).
_RESULT_ROW = re.compile(r"^\s{4}(.+?)\s+(\d+)\s+(\d+|-)\s+(\d+|-)\s+(\d+|-)\s*$")


def parse_results(output: str) -> dict[str, int]:
    """Operation name -> number of hosts it changed, from pyinfra's results table."""
    changed = {}
    table = output.split("--> Results:", 1)[-1]
    for line in table.splitlines():
        match = _RESULT_ROW.match(line)
        if match and match.group(1) != "Grand total":
            success = match.group(3)
            changed[match.group(1)] = 0 if success == "-" else int(success)
    return changed
