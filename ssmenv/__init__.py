"""ssmenv: configuration from AWS SSM into systemd env files, for pyinfra deploys.

Pure logic (sources, validation, env-file encoding, rendering) lives in plain modules; the pyinfra
operations and facts of the project are in ``ssmenv.operations`` and ``ssmenv.facts``.
"""
