"""Ports on 127.0.0.1 for what the lab runs: the AWS stand-in, proxies, test hosts' sshd, apps."""

from __future__ import annotations

import secrets
import socket
from pathlib import Path

EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
#: The kernel's ephemeral range where /proc does not say (Linux's default).
DEFAULT_EPHEMERAL = (32768, 60999)


def _bind(port: int) -> int | None:
    """Bind ``port`` on 127.0.0.1 (0: any the kernel picks) and let it go; the port bound, or
    ``None`` when something holds it."""
    with socket.socket() as s:
        # A port whose last connection is in TIME_WAIT is free for a new listener.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return None
        return s.getsockname()[1]


def ephemeral_range() -> tuple[int, int]:
    """The kernel's range for the local ports of outgoing connections, first and last."""
    try:
        first, last = EPHEMERAL_RANGE.read_text().split()
    except (OSError, ValueError):
        return DEFAULT_EPHEMERAL
    return int(first), int(last)


def free_port() -> int:
    """A port nothing listens on now, below the kernel's ephemeral range.

    Not one the kernel picks (binding port 0): that comes from the ephemeral range, where any
    process's next outgoing connection may take it before the server it is for binds it (a suite
    making hundreds of SSH and HTTP connections a minute did, once). Below that range only a
    listener takes a port, and this one was free: a random one of the range's lower half."""
    first = ephemeral_range()[0]
    low = max(first // 2, 1024)
    for _ in range(200):
        port = low + secrets.randbelow(first - low)
        if port_free(port):
            return port
    raise OSError(f"no free port on 127.0.0.1 from {low} to {first - 1}")


def port_free(port: int) -> bool:
    """Whether ``port`` can be listened on now: for ports a suite chooses (a host's sshd)."""
    return _bind(port) is not None
