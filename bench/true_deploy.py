"""The single-command reference of ``python -m bench.deploy``: what pyinfra itself costs to connect
to every host and run one command there (with the inventory's ``_sudo``, as the deploy does)."""

from pyinfra.operations import server

server.shell(name="Run true", commands=["true"])
