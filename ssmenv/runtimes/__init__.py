"""Runtimes: what a kind of app needs on a host, one module each (``node``, ``python``).

A runtime (``base.Runtime``) says which Debian packages the app needs, the command systemd runs by
default, and how a release's dependencies are installed in its directory before it goes live;
``container`` runs an image instead (its settings and engines are in that module). Adding one
(say Ruby) is one module of this package with its ``RUNTIME`` and its line in ``RUNTIMES``;
nothing else compares runtime names.
"""

from ssmenv.runtimes import container, node, python
from ssmenv.runtimes.base import Runtime

#: Every runtime, by name.
RUNTIMES: dict[str, Runtime] = {
    r.name: r for r in (node.RUNTIME, python.RUNTIME, container.RUNTIME)
}

__all__ = ["RUNTIMES", "Runtime"]
