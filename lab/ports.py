"""Ports on 127.0.0.1 for what the lab runs: the AWS stand-in, proxies, test hosts' sshd, apps."""

from __future__ import annotations

import socket


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


def free_port() -> int:
    """A port nothing listens on now, picked by the kernel."""
    port = _bind(0)
    if port is None:
        raise OSError("no free port on 127.0.0.1")
    return port


def port_free(port: int) -> bool:
    """Whether ``port`` can be listened on now: for ports a suite chooses (a host's sshd)."""
    return _bind(port) is not None
