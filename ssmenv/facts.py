"""The project's pyinfra facts."""

from __future__ import annotations

from pyinfra.api import FactBase, QuoteString, StringCommand


class FileState(FactBase):
    """
    Owner, group, mode and sha256 of a file's content, read as one command; ``None`` when absent.

    .. code:: python

        {"user": "root", "group": "root", "mode": "600", "sha256": "9f86d0..."}

    A digest, not the content, so a secret file's value never travels back to the control machine.
    """

    def command(self, path: str) -> StringCommand:
        return StringCommand(
            "if [ -f",
            QuoteString(path),
            "]; then stat -c '%U %G %a'",
            QuoteString(path),
            "&& sha256sum <",
            QuoteString(path),
            "; fi",
        )

    def process(self, output: list[str]) -> dict[str, str] | None:
        if len(output) < 2:
            return None
        user, group, mode = output[0].split()
        return {"user": user, "group": group, "mode": mode, "sha256": output[1].split()[0]}
